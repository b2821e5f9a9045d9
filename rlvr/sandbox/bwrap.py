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


@functools.cache
def _bwrap_path() -> str | None:
    return shutil.which("bwrap", path=HOST_TOOLS_ENV["PATH"]) or shutil.which("bwrap")


def bwrap_argv(argv: list[str], files: dict[str, str], limits: Limits, status_fd: int, uid: int) -> list[str]:
    """The full command line: rlimits, privilege drop, then bwrap with its mounts and `argv`.

    `files` maps a work-dir path to the number of an open fd holding its content.
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
    args += ["--chdir", WORK_DIR, "--json-status-fd", str(status_fd), "--remount-ro", "/", "--", *argv]
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
