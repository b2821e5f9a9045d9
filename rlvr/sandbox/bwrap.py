"""bubblewrap backend (the default): a fresh set of namespaces per run, ~10 ms on top of the program.

Each run gets: no network (its own empty network namespace: the host's loopback is unreachable),
its own pid/ipc/uts/cgroup/user namespaces, a read-only view of /usr only (no /home, /root, /etc
secrets, no project files), a private tmpfs work dir `/box` capped at `Limits.disk_mb` (files are
copied in through memfds), a scrubbed environment, only fds 0-2, an unprivileged uid (root drops
to a per-slot uid with `setpriv` *before* exec'ing bwrap), and rlimits set by `prlimit` (CPU,
address space, processes, file size, no core dumps). The whole process tree dies with the run:
bwrap is the leader of its own session, `--die-with-parent` takes its pid-1 reaper along, and the
pid namespace takes every descendant, setsid'd or not.

Not handled: a per-run cgroup. Memory is bounded per process (RLIMIT_AS) times `Limits.pids`.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence

from rlvr.sandbox.base import (
    HOST_TOOLS_ENV,
    MINIMAL_PATH,
    ExecResult,
    Limits,
    Sandbox,
    SandboxUnavailable,
    classify,
    drop_privileges_prefix,
    memfd,
    missing_host_tools,
    rlimit_prefix,
    run_local,
    sandbox_uid,
)

WORK_DIR = "/box"
_INSTALL_HINT = "install it with `apt-get install bubblewrap` (Debian/Ubuntu) or `dnf install bubblewrap` (Fedora)"
_USERNS_HINT = (
    "bwrap needs unprivileged user namespaces: check `sysctl user.max_user_namespaces` (> 0), "
    "`kernel.unprivileged_userns_clone=1` (Debian kernels) and, on Ubuntu 24.04+, "
    "`kernel.apparmor_restrict_unprivileged_userns=0`"
)


def _system_binds() -> list[str]:
    """Read-only binds of the system: /usr, the merged-/usr symlinks, and the few /etc files loaders need."""
    args = ["--ro-bind", "/usr", "/usr"]
    for top in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = f"/{top}"
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for path in ("/etc/ld.so.cache", "/etc/alternatives", "/etc/localtime"):
        if os.path.exists(path):
            args += ["--ro-bind", path, path]
    return args


def _fd_binds(ro_bind_fds: Mapping[str, int]) -> list[str]:
    """`--ro-bind-fd` arguments, parents before children so that a nested bind is not hidden."""
    args: list[str] = []
    for dest, fd in sorted(ro_bind_fds.items()):
        if not os.path.isabs(dest) or os.path.normpath(dest) != dest or dest == "/":
            raise ValueError(f"read-only bind destination must be a normalised absolute path, got {dest!r}")
        args += ["--ro-bind-fd", str(fd), dest]
    return args


@functools.cache
def _bwrap_path() -> str | None:
    return shutil.which("bwrap", path=HOST_TOOLS_ENV["PATH"]) or shutil.which("bwrap")


def bwrap_argv(
    argv: list[str],
    files: dict[str, str],
    limits: Limits,
    status_fd: int | None,
    uid: int,
    ro_bind_fds: Mapping[str, int] | None = None,
) -> list[str]:
    """The full command line: rlimits, privilege drop, then bwrap with its mounts and `argv`.

    `files` maps a work-dir path to the number of an open fd holding its content. `status_fd`, when
    given, receives bwrap's JSON status lines. `ro_bind_fds` maps an absolute path inside the sandbox
    to an open fd of a host directory or file that is bound there read-only (`--ro-bind-fd`): the fd
    was opened before the privilege drop, so the unprivileged uid needs no permission on the path's
    parents (a venv's interpreter under root's mode-700 home).
    """
    bwrap = _bwrap_path()
    if bwrap is None:
        raise SandboxUnavailable(f"bubblewrap (bwrap) is not installed: {_INSTALL_HINT}")
    args = [
        bwrap,
        "--unshare-all",
        "--unshare-user",
        "--disable-userns",
        "--die-with-parent",
        "--new-session",
        "--hostname",
        "sandbox",
        "--uid",
        "65534",
        "--gid",
        "65534",
        "--clearenv",
        "--setenv",
        "PATH",
        MINIMAL_PATH,
        "--setenv",
        "HOME",
        WORK_DIR,
        "--setenv",
        "TMPDIR",
        WORK_DIR,
        "--setenv",
        "LANG",
        "C.UTF-8",
        *_system_binds(),
        *_fd_binds(ro_bind_fds or {}),
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--remount-ro",
        "/dev",
        "--size",
        str(limits.disk_mb << 20),
        "--tmpfs",
        WORK_DIR,
        "--symlink",
        WORK_DIR,
        "/tmp",
    ]
    made: set[str] = set()
    for name, fd in sorted(files.items()):
        parts = name.split("/")
        for i in range(1, len(parts)):
            d = "/".join(parts[:i])
            if d not in made:
                made.add(d)
                args += ["--dir", f"{WORK_DIR}/{d}"]
        args += ["--perms", "0755", "--file", str(fd), f"{WORK_DIR}/{name}"]
    args += ["--chdir", WORK_DIR]
    if status_fd is not None:
        args += ["--json-status-fd", str(status_fd)]
    args += ["--remount-ro", "/", "--", *argv]
    return rlimit_prefix(limits, helpers=2) + drop_privileges_prefix(uid) + args


def _read_status(fd: int) -> dict:
    """bwrap's JSON status lines, merged: `child-pid` once the sandbox is up, `exit-code` when it ends."""
    data = b""
    while chunk := os.read(fd, 65536):
        data += chunk
    status: dict = {}
    for line in data.splitlines():
        try:
            status.update(json.loads(line))
        except ValueError:
            pass
    return status


class BwrapSandbox(Sandbox):
    """Runs each program in a fresh bubblewrap sandbox; see the module docstring for what is isolated."""

    name = "bwrap"

    def _run(self, argv: list[str], files: dict[str, bytes], stdin: bytes, limits: Limits, slot: int) -> ExecResult:
        fds = {name: memfd(name.replace("/", "_"), data) for name, data in files.items()}
        status_r, status_w = os.pipe()
        try:
            cmd = bwrap_argv(argv, {n: str(fd) for n, fd in fds.items()}, limits, status_w, sandbox_uid(slot))
            exit_code, out, timed_out, wall = run_local(
                cmd, stdin, limits, pass_fds=[status_w, *fds.values()], env=HOST_TOOLS_ENV
            )
            os.close(status_w)
            status_w = -1
            status = _read_status(status_r)
        finally:
            for fd in (*fds.values(), status_r, status_w):
                if fd >= 0:
                    os.close(fd)
        if not timed_out and not out.over and "exit-code" not in status:
            # bwrap itself (or the exec of argv[0]) failed: the program never ran. Its own words are on stderr.
            why = out.text("stderr").strip().splitlines()
            return ExecResult("error", None, "", out.text("stderr"), wall, why[-1] if why else "bwrap failed")
        if "exit-code" in status:
            exit_code = status["exit-code"]
        result, detail = classify(exit_code, out.raw("stderr"), timed_out=timed_out, over_output=out.over)
        return ExecResult(result, exit_code, out.text("stdout"), out.text("stderr"), wall, detail)


# Long-lived workers get uids in a range of their own, above every one-shot run's uid, so that a worker's
# processes never count against a one-shot run's RLIMIT_NPROC (uids are per process and slot, see sandbox_uid).
_WORKER_UID_OFFSET = 1 << 24


def worker_uid(slot: int) -> int:
    """The unprivileged uid of long-lived worker `slot` (0..255) of this process."""
    if not 0 <= slot < 256:
        raise ValueError(f"worker slot must be in 0..255, got {slot}")
    return sandbox_uid(slot) + _WORKER_UID_OFFSET


def start_worker(argv: list[str], ro_bind_paths: Sequence[str], limits: Limits, slot: int) -> subprocess.Popen:
    """Start `argv` as a long-lived process in a bubblewrap sandbox, talking over stdin/stdout pipes.

    The sandbox is the one-shot run's (same argv builder: no network, read-only system, scrubbed
    environment, rlimits incl. address space, unprivileged uid `worker_uid(slot)`), plus each of
    `ro_bind_paths` bound read-only at its own path through an fd opened here, before the privilege
    drop. The process leads its own session: `base.kill_group(proc)` kills the whole sandbox.

    Not handled here: any wall-clock limit (the caller owns deadlines and must kill the group) and
    reading stderr (the caller must drain all three pipes or the worker blocks on a full one).
    `limits.wall_s` and `limits.output_bytes` are ignored.
    """
    fds: dict[str, int] = {}
    try:
        for path in ro_bind_paths:
            if path not in fds:
                fds[path] = os.open(path, os.O_PATH | os.O_CLOEXEC)
        cmd = bwrap_argv(argv, {}, limits, None, worker_uid(slot), ro_bind_fds=fds)
        return subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=tuple(fds.values()),
            env=HOST_TOOLS_ENV,
            start_new_session=True,
        )
    finally:
        for fd in fds.values():
            os.close(fd)


@functools.cache
def unavailable_reason() -> str | None:
    """Why bwrap cannot run here (missing binary, no user namespaces), or None when it works."""
    if _bwrap_path() is None:
        return f"bubblewrap (bwrap) is not installed: {_INSTALL_HINT}"
    missing = missing_host_tools()
    if missing:
        return missing
    probe = BwrapSandbox(max_concurrency=1).run(["/usr/bin/true"], limits=Limits(wall_s=20, cpu_s=5))
    if probe.status != "ok":
        return f"a probe run failed ({probe.status}: {probe.detail}); {_USERNS_HINT}"
    return None
