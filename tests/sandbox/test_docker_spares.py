"""The Docker backend's spares: a started container per slot, used once, and what "nothing left behind" means.

When `run` returns, its container has exited (no process of the run is alive); it is removed in the
background, and `close()` removes everything. A dead caller's containers, spares included, are
removed by the reaper, and an idle spare whose caller is gone exits by itself.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import pytest

from rlvr.sandbox import Limits

pytestmark = pytest.mark.docker

LIMITS = Limits(wall_s=20, cpu_s=10, memory_mb=256, pids=32, disk_mb=16)


@pytest.fixture
def client():
    import docker

    return docker.from_env()


@pytest.fixture
def sb():
    from rlvr.sandbox.docker import DockerSandbox

    sandbox = DockerSandbox(max_concurrency=1)
    yield sandbox
    sandbox.close()


def _owned(client, owner: str, **filters):
    label = {"label": f"rlvr.sandbox.owner={owner}", **filters}
    return client.containers.list(all=True, filters=label, ignore_removed=True)


def _wait_for(predicate, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while not (value := predicate()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return value


def _running_spare(client, sb):
    """The id of the one started, idle container of `sb` (its slot's spare), once there is exactly one."""
    running = _wait_for(lambda: [c.id for c in _owned(client, sb.owner, status="running")] or None)
    assert running is not None and len(running) == 1, running
    return running[0]


def test_the_spare_serves_one_run_and_has_exited_when_run_returns(sb, client, processes_with):
    import docker.errors

    assert sb.run(["python3", "-c", "print(1)"], limits=LIMITS).ok
    spare = _running_spare(client, sb)
    marker = "rlvr-spare-grandchild-" + uuid.uuid4().hex
    code = textwrap.dedent(
        f"""
        import subprocess, sys
        subprocess.Popen(["python3", "-c", "import os, time; os.setsid(); time.sleep(300)", "{marker}"],
                         start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
        print(open("data.txt").read() + sys.stdin.read())
        sys.exit(7)
        """
    )
    res = sb.run(["python3", "main.py"], files={"main.py": code, "data.txt": "file:"}, stdin="stdin", limits=LIMITS)
    assert (res.status, res.exit_code, res.stdout) == ("nonzero_exit", 7, "file:stdin\n"), res
    assert sb.phase_log[-1]["spare"] == 1.0
    try:
        state = client.containers.get(spare).attrs["State"]
        assert not state["Running"] and state["ExitCode"] == 7, state
    except docker.errors.NotFound:
        pass  # already removed in the background
    assert processes_with(marker) == []
    # The next run's spare is a different container; the used one goes away without close().
    assert _running_spare(client, sb) != spare
    assert _wait_for(lambda: spare not in [c.id for c in _owned(client, sb.owner)])


def test_close_removes_spares_used_containers_and_input_dirs(client):
    import tempfile

    from rlvr.sandbox.docker import DockerSandbox

    tmp = tempfile.gettempdir()
    before = {n for n in os.listdir(tmp) if n.startswith("rlvr-docker-")}
    sb = DockerSandbox(max_concurrency=2)
    assert os.path.dirname(sb.tmpdir) == tmp
    for _ in range(3):
        assert sb.run(["python3", "-c", "print(1)"], limits=LIMITS).ok
    sb.close()
    assert _owned(client, sb.owner) == []
    assert {n for n in os.listdir(tmp) if n.startswith("rlvr-docker-")} - before == set()
    assert sb.run(["python3", "-c", "print(1)"]).status == "error"


def test_a_spare_with_other_limits_is_not_used(sb):
    read_limit = "import os; print(open('/sys/fs/cgroup/memory/memory.limit_in_bytes').read().strip())"
    if not os.path.exists("/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        read_limit = "print(open('/sys/fs/cgroup/memory.max').read().strip())"
    for memory_mb in (256, 128, 128, 256):
        res = sb.run(["python3", "-c", read_limit], limits=Limits(memory_mb=memory_mb))
        assert res.ok and int(res.stdout) == memory_mb << 20, res


def test_a_dead_spare_is_replaced_before_the_program_runs(sb, client):
    assert sb.run(["python3", "-c", "print(1)"], limits=LIMITS).ok
    client.containers.get(_running_spare(client, sb)).kill()
    res = sb.run(["python3", "-c", "print(2)"], limits=LIMITS)
    assert (res.status, res.stdout) == ("ok", "2\n"), res
    assert sb.run(["python3", "-c", "print(3)"], limits=LIMITS).stdout == "3\n"


def test_a_program_cannot_forge_the_acknowledgement(sb):
    res = sb.run(["python3", "-c", "import os; os.write(1, b'\\0\\0x')"], limits=LIMITS)
    assert res.ok and res.stdout == "\0\0x", res


def _caller_with_a_spare() -> tuple[subprocess.Popen, str, int, str]:
    script = (
        "import time\n"
        "from rlvr.sandbox.docker import DockerSandbox\n"
        "sb = DockerSandbox(max_concurrency=1)\n"
        "assert sb.run(['python3', '-c', 'print(1)']).ok\n"
        "print(sb.owner, sb._reaper.pid, sb.tmpdir, flush=True)\n"
        "time.sleep(300)\n"
    )
    caller = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    owner, reaper, tmpdir = caller.stdout.readline().split()
    return caller, owner, int(reaper), tmpdir


def test_a_killed_callers_spares_are_reaped(client):
    caller, owner, _, tmpdir = _caller_with_a_spare()
    assert os.listdir(tmpdir), "the spare's input dir is under the sandbox's temp dir"
    assert _wait_for(lambda: _owned(client, owner, status="running")), "the caller never started its spare"
    os.kill(caller.pid, signal.SIGKILL)
    caller.wait()
    assert _wait_for(lambda: _owned(client, owner) == []), _owned(client, owner)
    assert _wait_for(lambda: not os.path.exists(tmpdir))


def test_an_idle_spare_exits_when_its_caller_and_reaper_are_gone(client):
    caller, owner, reaper, tmpdir = _caller_with_a_spare()
    try:
        assert _wait_for(lambda: _owned(client, owner, status="running")), "the caller never started its spare"
        os.kill(reaper, signal.SIGKILL)
        os.kill(caller.pid, signal.SIGKILL)
        caller.wait()
        assert _wait_for(lambda: _owned(client, owner, status="running") == [])
    finally:
        for container in _owned(client, owner):
            container.remove(force=True)
        shutil.rmtree(tmpdir, ignore_errors=True)


def test_a_caller_that_exits_without_close_leaves_nothing_behind(client):
    script = (
        "from rlvr.sandbox import get_sandbox\n"
        "sb = get_sandbox('docker')\n"
        "assert sb.run(['python3', '-c', 'print(1)']).ok\n"
        "print(sb.owner, sb.tmpdir, flush=True)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    owner, tmpdir = out.stdout.split()
    assert _wait_for(lambda: _owned(client, owner) == []), _owned(client, owner)
    assert _wait_for(lambda: not os.path.exists(tmpdir))
