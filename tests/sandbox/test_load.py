"""Correct under load: many runs at once, runs back to back, large references, and the caller as pid 1.

Each of these failed before the sandbox reaped what it started: bwrap's pid-1 process was left as a zombie for
the host's init, and counted against the next run's RLIMIT_NPROC on the same uid ("Can't fork for pid 1"), and
one fd per test input hit the sandbox's 256-fd limit.
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import pytest

from rlvr.sandbox import Limits, get_sandbox

LOCAL = [pytest.param("bwrap", marks=pytest.mark.bwrap), "process"]


def _print_tokens(sb, threads: int, runs_each: int) -> collections.Counter:
    def one(i: int) -> str:
        res = sb.run(["python3", "-c", f"print({i})"], limits=Limits(wall_s=60))
        return res.status if res.status != "ok" or res.stdout == f"{i}\n" else "wrong output"

    with ThreadPoolExecutor(threads) as ex:
        return collections.Counter(ex.map(one, range(threads * runs_each)))


@pytest.mark.parametrize("backend", LOCAL)
def test_32_threads_x_20_runs_are_all_ok(backend):
    assert _print_tokens(get_sandbox(backend), 32, 20) == {"ok": 640}


@pytest.mark.bwrap
def test_sequential_runs_on_one_slot_are_all_ok():
    from rlvr.sandbox.bwrap import BwrapSandbox

    sb = BwrapSandbox(max_concurrency=1)
    try:
        assert _print_tokens(sb, 1, 60) == {"ok": 60}
    finally:
        sb.close()


def _stdio_reference(n: int) -> dict:
    return {"tests": [{"stdin": f"{i} {i + 1}\n", "stdout": f"{2 * i + 1}\n"} for i in range(n)]}


PROGRAM = "```python\na, b = map(int, input().split())\nprint(a + b)\n```"


@pytest.mark.parametrize(
    "backend", [*LOCAL, pytest.param("docker", marks=pytest.mark.docker)], ids=["bwrap", "process", "docker"]
)
def test_a_reference_with_1000_stdio_tests(backend):
    from rlvr.verifiers.code import CodeVerifier

    verdict = CodeVerifier(backend=backend, total_timeout_s=120).verify(PROGRAM, _stdio_reference(1000))
    assert (verdict.status, verdict.reward) == ("correct", 1.0), verdict.detail


_AS_PID_1 = textwrap.dedent(
    """
    import collections, json, os, sys
    from concurrent.futures import ThreadPoolExecutor
    from rlvr.sandbox import Limits, get_sandbox
    from rlvr.verifiers.code import CodeVerifier
    assert os.getpid() == 1
    sb = get_sandbox("bwrap")
    def one(i):
        res = sb.run(["python3", "-c", f"print({i})"], limits=Limits(wall_s=60))
        return res.status if res.status != "ok" or res.stdout == f"{i}\\n" else "wrong output"
    with ThreadPoolExecutor(32) as ex:
        runs = collections.Counter(ex.map(one, range(32 * 5)))
    program, reference = json.loads(sys.argv[1])
    verdicts = collections.Counter(
        CodeVerifier(backend="bwrap", total_timeout_s=120).verify(program, reference).status for _ in range(3)
    )
    zombies = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                zombies += [pid] if f.read().rsplit(")", 1)[1].split()[0] == "Z" else []
        except OSError:
            pass
    print(json.dumps({"runs": runs, "verdicts": verdicts, "zombies": zombies}))
    """
)


@pytest.mark.bwrap
def test_as_pid_1_of_its_own_pid_namespace():
    """A container without an init: orphans come to the caller, who never reaps them. Nothing may pile up."""
    if os.geteuid() != 0:
        pytest.skip("`unshare --pid` needs root here")
    args = json.dumps([PROGRAM, _stdio_reference(1000)])
    cmd = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child", sys.executable, "-c", _AS_PID_1, args]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report == {"runs": {"ok": 160}, "verdicts": {"correct": 3}, "zombies": []}, report
