"""Every sandbox protection has an attack here that tries to break it.

Isolation attacks run against the isolating backends (bwrap, docker); resource-limit attacks run
against every backend, the unsafe process backend included (limits are what it does promise).
After each attack, no sandbox process may survive; after the suite, no temp dir or container.
"""

from __future__ import annotations

import os
import socket
import tempfile
import textwrap
import threading
import time
import uuid

import pytest

from rlvr.sandbox import Limits, get_sandbox
from rlvr.sandbox.base import sandbox_uid

ISOLATING = [
    pytest.param("bwrap", marks=pytest.mark.bwrap),
    pytest.param("bwrap-warm", marks=pytest.mark.bwrap),
    pytest.param("bwrap-flat", marks=pytest.mark.bwrap),  # a bwrap per program: where nests cannot be built
    pytest.param("docker", marks=pytest.mark.docker),
    pytest.param("docker-warm", marks=pytest.mark.docker),
]
ALL = [*ISOLATING, "process"]
QUICK = Limits(wall_s=10, cpu_s=5, memory_mb=256, pids=32, output_bytes=1 << 20, disk_mb=16)


def _sandbox_pids() -> list[int]:
    """Host pids running as one of this test process's sandbox uids (bwrap and process backends), except the
    bwrap sandboxes' idle spares (started sandboxes waiting for the next run, which never held a program) and
    their fork servers' own two processes (bwrap and the server; not what runs below them).

    Only our own uid range counts, so sandboxes of other processes on the machine are not "strays".
    """
    lo = sandbox_uid(0)
    bwraps = [_bwrap(name) for name in ("bwrap", "bwrap-flat") if name in _used]
    spares = {pid for sb in bwraps for pid in sb.spare_pids()}
    servers = {pid for sb in bwraps for pid in sb.server_pids()}
    uids, parents = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
            uids[int(entry)], parents[int(entry)] = int(fields["Uid"].split()[0]), int(fields["PPid"])
        except (OSError, KeyError, ValueError):
            continue

    def in_spare(pid: int) -> bool:
        while pid > 1:
            if pid in spares:
                return True
            pid = parents.get(pid, 0)
        return False

    return [pid for pid, uid in uids.items() if lo <= uid < lo + 256 and not in_spare(pid) and pid not in servers]


def _wait_for_no_strays(timeout: float = 5.0) -> list[str]:
    """The strays left after `timeout`, each as "pid state ppid command" (empty when there are none)."""
    deadline = time.monotonic() + timeout
    while (left := _sandbox_pids()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return [_describe(pid) for pid in left]


def _describe(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ")[:80].decode(errors="replace")
        return f"{pid} {' '.join(stat.rsplit(')', 1)[1].split()[:2])} {cmd}"
    except OSError:
        return f"{pid} (gone)"


@pytest.fixture(scope="module", autouse=True)
def nothing_left_behind():
    tmp = tempfile.gettempdir()
    ours = ("rlvr-docker-", "rlvr-process-")  # the sandboxes' own temp dirs (not other tools' rlvr-* dirs)
    before = {n for n in os.listdir(tmp) if n.startswith(ours)}
    yield
    assert _wait_for_no_strays() == [], "sandbox processes survived the suite"
    for name in [n for n in ("bwrap", "bwrap-flat") if n in _used]:
        _bwrap(name).close()  # stops the spares and fork servers: then no process of our uids may be left at all
        _used.discard(name)
    assert _wait_for_no_strays(timeout=1.0) == [], "the bwrap sandbox's spares or fork servers survived close()"
    _FLAT.clear()
    if "docker" in _used:
        import docker

        # Docker removes used containers in the background and keeps a started spare per slot;
        # close() waits for those removals and removes the spares (tests/sandbox/test_docker_spares.py).
        sb = get_sandbox("docker")
        sb.close()
        left = docker.from_env().containers.list(all=True, filters={"label": f"rlvr.sandbox.owner={sb.owner}"})
        assert left == [], f"containers left behind: {[c.name for c in left]}"
    get_sandbox.cache_clear()
    assert {n for n in os.listdir(tmp) if n.startswith(ours)} - before == set(), "temp dirs left behind"


_used: set[str] = set()


class _Warm:
    """A sandbox whose every run is on a spare (a started sandbox or container) that has the run's limits."""

    def __init__(self, sb) -> None:
        self.sb, self.name = sb, sb.name

    def run(self, argv, files=None, stdin=b"", limits=None):
        self.sb.warm(limits)
        res = self.sb.run(argv, files=files, stdin=stdin, limits=limits)
        assert self.sb.phase_log[-1]["spare"] == 1.0, "the run did not get a spare"
        return res


_FLAT: dict[str, object] = {}  # the one BwrapSandbox(nest=False) of this module, made when first used


def _bwrap(name: str):
    if name == "bwrap-flat":
        from rlvr.sandbox.bwrap import BwrapSandbox

        return _FLAT.setdefault(name, BwrapSandbox(nest=False))
    return get_sandbox(name)


def _sandbox_for(param: str):
    name = param.removesuffix("-warm")
    _used.add(name)
    return _Warm(_bwrap(name)) if param.endswith("-warm") else _bwrap(name)


@pytest.fixture(params=ALL)
def sandbox(request):
    yield _sandbox_for(request.param)
    assert _wait_for_no_strays() == [], f"{request.param}: a sandbox process outlived its run"


@pytest.fixture(params=ISOLATING)
def isolated(request):
    yield _sandbox_for(request.param)
    assert _wait_for_no_strays() == [], f"{request.param}: a sandbox process outlived its run"


def run_py(sb, code: str, limits: Limits = QUICK, stdin: str = ""):
    return sb.run(["python3", "main.py"], files={"main.py": textwrap.dedent(code)}, stdin=stdin, limits=limits)


# --- isolation -------------------------------------------------------------------------------------


def test_cannot_connect_to_host_loopback(isolated):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(4)
    port = server.getsockname()[1]
    accepted = []
    thread = threading.Thread(target=lambda: accepted.append(_accept_or_none(server)))
    thread.start()
    res = run_py(
        isolated,
        f"""
        import socket
        for host in ("127.0.0.1", "localhost", "::1"):
            try:
                socket.create_connection((host, {port}), timeout=1); print("CONNECTED", host)
            except OSError as e:
                print("blocked", host, type(e).__name__)
        """,
    )
    thread.join()
    server.close()
    assert res.status == "ok", res
    assert "CONNECTED" not in res.stdout and res.stdout.count("blocked") == 3
    assert accepted == [None]


def _accept_or_none(server: socket.socket):
    try:
        return server.accept()
    except OSError:
        return None


def test_cannot_be_reached_from_host(isolated):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = f"""
        import socket, time
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", {port})); s.listen(); s.settimeout(3)
        print("listening", flush=True)
        try:
            s.accept(); print("REACHED")
        except OSError:
            print("nobody came")
        """
    results = []
    runner = threading.Thread(target=lambda: results.append(run_py(isolated, code)))
    runner.start()
    connected = False
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline and not connected:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            connected = True
        except OSError:
            time.sleep(0.05)
    runner.join()
    assert not connected
    assert results[0].stdout.split() == ["listening", "nobody", "came"], results[0]


def test_cannot_read_files_outside_work_dir(isolated, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-" + uuid.uuid4().hex)
    secret.chmod(0o644)
    tmp_path.chmod(0o755)
    targets = [str(secret), "/etc/shadow", "/etc/hostname", "/root/.bashrc", os.path.abspath("pyproject.toml")]
    host_contents = []
    for path in targets:
        try:
            host_contents.append(open(path).read()[:60].strip())
        except OSError:
            pass
    res = run_py(
        isolated,
        f"""
        for path in {targets!r}:
            try:
                print("READ", path, open(path).read()[:60].strip())
            except OSError as e:
                print("denied", path, type(e).__name__)
        """,
    )
    assert res.status == "ok", res
    # A container may have its own /etc/hostname; what must never show is the host's content.
    leaked = [c for c in host_contents if c and c in res.stdout]
    assert leaked == [], res.stdout
    assert f"denied {secret}" in res.stdout


def test_no_secrets_in_environment_or_proc(isolated, monkeypatch):
    token = "SECRET-" + uuid.uuid4().hex
    monkeypatch.setenv("RLVR_TEST_SECRET", token)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", token)
    res = run_py(
        isolated,
        """
        import os
        print(sorted(os.environ))
        for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
            for name in ("environ", "cmdline"):
                try:
                    print(pid, name, open(f"/proc/{pid}/{name}", "rb").read())
                except OSError as e:
                    print(pid, name, "denied", type(e).__name__)
        """,
    )
    assert res.status == "ok", res
    assert token not in res.stdout
    visible = eval(res.stdout.splitlines()[0])  # a list literal printed by the program  # noqa: S307
    assert set(visible) <= {"PATH", "HOME", "TMPDIR", "LANG", "PWD", "HOSTNAME"}, visible


def test_cannot_write_outside_work_dir(isolated):
    marker = "rlvr-escape-" + uuid.uuid4().hex
    targets = [f"/{marker}", f"/usr/{marker}", f"/etc/{marker}", f"/dev/shm/{marker}", f"/proc/{marker}"]
    res = run_py(
        isolated,
        f"""
        for path in {targets!r}:
            try:
                open(path, "w").write("x"); print("WROTE", path)
            except OSError as e:
                print("denied", path, type(e).__name__)
        open("/box/inside.txt", "w").write("fine"); print("inside ok")
        open("/tmp/tmp.txt", "w").write("fine"); print("tmp ok")
        """,
    )
    assert res.status == "ok", res
    assert "WROTE" not in res.stdout and "inside ok" in res.stdout and "tmp ok" in res.stdout
    assert not any(os.path.exists(p) for p in targets + [f"/tmp/{marker}"])


def test_cannot_open_proc_sys_for_writing(isolated):
    targets = [
        "/proc/sys/kernel/core_pattern",
        "/proc/sys/vm/drop_caches",
        "/proc/sysrq-trigger",
        "/proc/sys/kernel/hostname",
    ]
    res = run_py(
        isolated,
        f"""
        for path in {targets!r}:
            try:
                f = open(path, "w"); print("OPENED", path); f.close()
            except OSError as e:
                print("denied", path, type(e).__name__)
        """,
    )
    assert res.status == "ok", res
    assert "OPENED" not in res.stdout, res.stdout


def test_no_inherited_file_descriptors(isolated, tmp_path):
    secret = tmp_path / "fd-secret"
    secret.write_text("FD-SECRET")
    fd = os.open(secret, os.O_RDONLY)
    os.set_inheritable(fd, True)
    try:
        res = run_py(
            isolated,
            """
            import os
            print(sorted(int(x) for x in os.listdir("/proc/self/fd")))
            for fd in range(3, 64):
                try:
                    print("LEAK", fd, os.read(fd, 100))
                except OSError:
                    pass
            """,
        )
    finally:
        os.close(fd)
    assert res.status == "ok", res
    assert "LEAK" not in res.stdout
    assert eval(res.stdout.splitlines()[0]) == [0, 1, 2, 3]  # 3 is listdir's own handle  # noqa: S307


def test_setsid_grandchild_does_not_outlive_the_run(isolated, processes_with):
    marker = "rlvr-grandchild-" + uuid.uuid4().hex
    res = run_py(
        isolated,
        f"""
        import os, subprocess
        subprocess.Popen(["python3", "-c", "import os, time; os.setsid(); time.sleep(300)", "{marker}"],
                         start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
        print("spawned")
        """,
    )
    assert res.status == "ok" and "spawned" in res.stdout, res
    assert _wait_for_no_strays() == []
    assert not processes_with(marker)


# --- resource limits (every backend) ----------------------------------------------------------------


def test_fork_bomb_is_contained(sandbox):
    res = run_py(
        sandbox,
        """
        import os, time
        n = 0
        try:
            while True:
                if os.fork() == 0:
                    time.sleep(30); os._exit(0)
                n += 1
        except OSError as e:
            print("stopped after", n, type(e).__name__)
        """,
        Limits(wall_s=5, cpu_s=5, memory_mb=256, pids=16),
    )
    assert res.status in ("ok", "timeout"), res
    if res.status == "ok":
        assert int(res.stdout.split()[2]) < 16, res.stdout
    if getattr(getattr(sandbox, "sb", sandbox), "nest", False):  # a nest: exactly `pids`, itself and 15 children
        assert (res.status, res.stdout.split()[2]) == ("ok", "15"), res


def test_thread_bomb_is_contained(sandbox):
    res = run_py(
        sandbox,
        """
        import threading, time
        n = 0
        try:
            while True:
                threading.Thread(target=time.sleep, args=(30,), daemon=True).start(); n += 1
        except (RuntimeError, MemoryError) as e:
            print("stopped after", n, type(e).__name__, flush=True)
        import os; os._exit(0)
        """,
        Limits(wall_s=5, cpu_s=5, memory_mb=512, pids=16),
    )
    assert res.status in ("ok", "memory"), res
    assert "stopped after" in res.stdout and int(res.stdout.split()[2]) < 16, res.stdout


def test_memory_bomb_is_stopped(sandbox):
    res = run_py(sandbox, "x = bytearray(2 << 30); print('ALLOCATED')", Limits(memory_mb=256))
    assert res.status == "memory", res
    assert "ALLOCATED" not in res.stdout


def test_cpu_loop_hits_cpu_limit(sandbox):
    res = run_py(sandbox, "while True: pass", Limits(wall_s=20, cpu_s=1))
    assert res.status == "timeout", res
    assert res.wall_s < 10


def test_sleep_past_wall_time(sandbox):
    res = run_py(sandbox, "import time; print('start', flush=True); time.sleep(100)", Limits(wall_s=1.5))
    assert res.status == "timeout", res
    assert res.wall_s < 6 and res.exit_code is None


def test_ignoring_sigterm_does_not_help(sandbox):
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(100)"
    res = run_py(sandbox, code, Limits(wall_s=1.5))
    assert res.status == "timeout", res
    assert res.wall_s < 6


def test_output_flood_is_truncated(sandbox):
    code = "import sys\nchunk = 'x' * 65536\nfor _ in range(1600): sys.stdout.write(chunk)"  # 100 MB
    res = run_py(sandbox, code, Limits(wall_s=20, output_bytes=100_000))
    assert res.status == "output_limit", res
    assert len(res.stdout) + len(res.stderr) <= 100_000
    assert res.stdout.startswith("x" * 1000)


def test_stderr_counts_toward_output_limit(sandbox):
    res = run_py(sandbox, "import sys\nfor _ in range(100): sys.stderr.write('e' * 10000)", Limits(output_bytes=50_000))
    assert res.status == "output_limit" and len(res.stderr) <= 50_000


def test_disk_filling_is_capped(sandbox):
    res = run_py(
        sandbox,
        """
        import os
        written = 0
        try:
            for i in range(1000):
                with open(f"fill{i}", "wb") as f:
                    for _ in range(16):
                        f.write(b"x" * 65536); f.flush(); written += 65536
        except OSError as e:
            print("stopped", written, e.errno)
        """,
        Limits(disk_mb=8, wall_s=20),
    )
    assert res.status in ("ok", "nonzero_exit"), res
    # The process backend has no shared work-dir cap, only a per-file one (RLIMIT_FSIZE): see its docstring.
    if sandbox.name != "process":
        assert "stopped" in res.stdout, res
        assert int(res.stdout.split()[1]) <= 8 << 20


def test_nothing_of_a_fork_bomb_runs_when_run_returns(isolated):
    """After a wall-clock timeout, not one process of the run may be left, not even for a moment (nor a zombie)."""
    code = """
        import os, time
        while True:
            try:
                if os.fork() == 0:
                    while True: pass
            except OSError:
                time.sleep(0.01)
        """
    res = run_py(isolated, code, Limits(wall_s=1.5, cpu_s=30, memory_mb=256, pids=32))
    assert res.status == "timeout", res
    if isolated.name == "bwrap":  # Docker: a container's processes are gone when it has exited, which run waits for
        assert [_describe(pid) for pid in _sandbox_pids()] == []
