from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rlvr_server(env_id: str, *args: str):
    """`rlvr serve ENV_ID ARGS` in a subprocess on a free loopback port; yields its base URL, stops it after."""
    return server_process(lambda port: ["-m", "rlvr.cli", "serve", env_id, "--port", str(port), *args])


@contextlib.contextmanager
def server_process(argv, extra_env: dict | None = None, start_s: float = 180.0):
    """`python ARGV(port)` on a free loopback port, until it answers /health; yields its base URL."""
    port = _free_port()
    cmd = [sys.executable, *argv(port)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p)}
    env.update(extra_env or {})
    log = tempfile.TemporaryFile("w+")  # not a pipe: a full pipe would block the server
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_s
        while True:
            if proc.poll() is not None:
                log.seek(0)
                pytest.fail(f"{cmd} exited with {proc.returncode}:\n{log.read()[-4000:]}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"{cmd} did not answer /health within {start_s} s")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def server():
    """server(env_id, *args) -> a context manager yielding the base URL of a real `rlvr serve` process."""
    return rlvr_server


@pytest.fixture(scope="module")
def process_server():
    """process_server(argv(port), extra_env) -> a context manager yielding the base URL of `python ARGV`."""
    return server_process
