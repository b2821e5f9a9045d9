"""Nests: a fresh sandbox per program forked from a bwrap fork server (rlvr/sandbox/bwrap_nest.py).

The attack suite (test_attacks.py) runs against nests ("bwrap", "bwrap-warm") and against a bwrap per program
("bwrap-flat"). Here: what is particular to nests. A program in one has no capability and cannot make namespaces
(the server can: it must not leak to the program), sees neither the server nor an earlier program, cannot harm the
next program by killing what it can reach, and a machine where nests cannot be built falls back to a bwrap per
program with the reason.
"""

from __future__ import annotations

import os
import signal
import textwrap
import time

import pytest

from rlvr.sandbox import Limits

pytestmark = pytest.mark.bwrap
QUICK = Limits(wall_s=20, cpu_s=5, memory_mb=256, pids=16, disk_mb=4)


@pytest.fixture
def sb():
    from rlvr.sandbox.bwrap import BwrapSandbox

    sandbox = BwrapSandbox(max_concurrency=1)
    yield sandbox
    sandbox.close()


def run_py(sb, code: str, limits: Limits = QUICK):
    res = sb.run(["python3", "main.py"], files={"main.py": textwrap.dedent(code)}, limits=limits)
    assert sb.nest, sb.nest_unavailable
    return res


def test_a_program_has_no_capability_and_cannot_make_namespaces(sb):
    res = run_py(
        sb,
        """
        import ctypes, os
        status = dict(line.split(":", 1) for line in open("/proc/self/status"))
        print({k: int(status[k], 16) for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")})
        print(status["NoNewPrivs"].strip(), os.getuid(), os.getgid())
        libc = ctypes.CDLL(None, use_errno=True)
        for name, flag in (("user", 0x10000000), ("mount", 0x20000), ("net", 0x40000000), ("pid", 0x20000000)):
            print(name, libc.unshare(flag), ctypes.get_errno())
        print("mount", libc.mount(b"none", b"/box", b"tmpfs", 0, None))
        """,
    )
    assert res.status == "ok", res
    lines = res.stdout.splitlines()
    assert eval(lines[0]) == dict.fromkeys(("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"), 0)  # noqa: S307
    assert lines[1] == "1 65534 65534"
    # unshare: a user namespace ENOSPC (none may be made in this one), the others EPERM (no capability)
    assert lines[2:6] == ["user -1 28", "mount -1 1", "net -1 1", "pid -1 1"], lines
    assert lines[6] == "mount -1"


def test_a_program_sees_only_its_own_processes_and_files(sb):
    first = run_py(sb, "open('/box/left-behind', 'w').write('x')\nimport os\nprint(os.getpid())")
    assert first.status == "ok", first
    res = run_py(
        sb,
        """
        import os, socket
        print(sorted(int(p) for p in os.listdir("/proc") if p.isdigit()), os.getpid())
        print(sorted(os.listdir("/box")), socket.gethostname())
        s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(); print("loopback up")
        """,
    )
    assert res.status == "ok", res
    pids, me = res.stdout.splitlines()[0].rsplit(" ", 1)
    assert eval(pids) == [1, int(me)], res.stdout  # noqa: S307 - the nest's init and the program, nothing else
    assert res.stdout.splitlines()[1].startswith("['main.py'] sandbox")
    assert res.stdout.splitlines()[2] == "loopback up"


def test_killing_everything_in_reach_harms_no_later_run(sb):
    res = run_py(
        sb,
        """
        import os, signal
        for pid in range(1, 4096):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        os.kill(-1, signal.SIGKILL)
        """,
    )
    assert res.status in ("ok", "timeout", "killed", "error") and res.exit_code != 0
    for i in range(3):
        again = run_py(sb, f"print({i})")
        assert (again.status, again.stdout) == ("ok", f"{i}\n"), again


def test_a_dead_fork_server_is_replaced(sb):
    assert run_py(sb, "print(1)").stdout == "1\n"
    pids = sb.server_pids()
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    while any(_alive(pid) for pid in pids):  # gone between two runs (killed during one, that run fails)
        time.sleep(0.01)
    for i in range(3):
        res = run_py(sb, f"print({i})")
        assert (res.status, res.stdout) == ("ok", f"{i}\n"), res


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_where_nests_cannot_be_built_each_program_gets_a_bwrap_of_its_own(monkeypatch):
    """Simulated with the server's sandbox banning user namespaces (as bwrap --disable-userns does)."""
    from rlvr.sandbox import bwrap
    from rlvr.sandbox.bwrap import BwrapSandbox

    real = bwrap._bwrap_args
    monkeypatch.setattr(bwrap, "_bwrap_args", lambda *a, nest=False, **k: real(*a, **k))
    sandbox = BwrapSandbox(max_concurrency=1)
    try:
        res = sandbox.run(["python3", "-c", "print(7)"], limits=QUICK)
        assert (res.status, res.stdout) == ("ok", "7\n"), res
        assert not sandbox.nest and "unshare" in sandbox.nest_unavailable, sandbox.nest_unavailable
        assert sandbox.run(["python3", "-c", "print(8)"], limits=QUICK).stdout == "8\n"
    finally:
        sandbox.close()


def test_a_nest_whose_init_cannot_set_up_falls_back_too(monkeypatch):
    """The nest's init fails after the keeper built the namespaces (simulated: its /proc of an unknown type)."""
    from rlvr.sandbox import bwrap
    from rlvr.sandbox.bwrap import BwrapSandbox

    source = bwrap.boot_source().replace('b"proc", b"/proc", b"proc"', 'b"proc", b"/proc", b"no-such-fs"')
    assert source != bwrap.boot_source()
    monkeypatch.setattr(bwrap, "boot_source", lambda: source)
    sandbox = BwrapSandbox(max_concurrency=1)
    try:
        res = sandbox.run(["python3", "-c", "print(7)"], limits=QUICK)
        assert (res.status, res.stdout) == ("ok", "7\n"), res
        assert not sandbox.nest and "cannot set up the nested sandbox" in sandbox.nest_unavailable
    finally:
        sandbox.close()


def test_rlimits_hold_in_a_nest(sb):
    """The run's rlimits, set by the nest's init (the process count: test_attacks.py's fork bomb, exact on bwrap)."""
    code = "import resource as r; print(*(r.getrlimit(getattr(r, f'RLIMIT_{k}')) for k in ('AS', 'CPU', 'NOFILE')))"
    res = run_py(sb, code)
    assert (res.status, res.stdout) == ("ok", f"{(256 << 20,) * 2} (5, 6) (256, 256)\n"), res
