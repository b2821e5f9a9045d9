"""The README section "Use rlvr from TRL, verl or any OpenEnv client" runs as written: its bash and python blocks in
order, in a scratch directory, with port 8000 replaced by a free loopback port (the only change)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TITLE = "## Use rlvr from TRL, verl or any OpenEnv client"


def section_blocks() -> list[tuple[str, str]]:
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    start = text.index(TITLE)
    end = text.index("\n## ", start + len(TITLE))
    return re.findall(r"```(\w+)\n(.*?)```", text[start:end], re.S)


@pytest.mark.openenv
@pytest.mark.trl
@pytest.mark.pyarrow
@pytest.mark.slow
def test_readme_snippets_run_as_written(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p),
        "PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")]),
    }
    blocks = [(lang, code.replace("8000", port)) for lang, code in section_blocks()]
    assert [lang for lang, _ in blocks] == ["bash", "python", "python", "bash", "python", "text"]
    background, outputs = [], []
    try:
        for lang, code in blocks:
            if lang == "text":
                continue
            argv = ["bash", "-euo", "pipefail", "-c", code] if lang == "bash" else [sys.executable, "-c", code]
            if re.search(r"&\s*(#.*)?$", code, re.M):  # a server started with `&`: left running for the blocks after it
                log = open(tmp_path / "server.log", "w")
                background.append(subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=log, stderr=log,
                                                   start_new_session=True))  # fmt: skip
                continue
            run = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
            assert run.returncode == 0, f"{lang} block failed:\n{code}\n{run.stdout}\n{run.stderr}"
            outputs.append(run.stdout)
    finally:
        for proc in background:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
    assert outputs[0].strip().splitlines()[-1] == "1.0 True correct"
    assert outputs[1].strip() == "[0.0, 0.0]"
    assert "'score': 0.0" in outputs[-1] and "'error': 0.0" in outputs[-1]
