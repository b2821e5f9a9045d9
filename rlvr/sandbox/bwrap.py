"""bubblewrap backend (the default): a fresh set of namespaces per run, ~10 ms on top of the program.

Each run gets: no network (its own empty network namespace: the host's loopback is unreachable),
its own pid/ipc/uts/cgroup/user namespaces, a read-only view of /usr only (no /home, /root, /etc
secrets, no project files), a private tmpfs work dir `/box` capped at `Limits.disk_mb` (files are
copied in through memfds), a scrubbed environment, only fds 0-2, an unprivileged uid (root drops
to a per-slot uid with `setpriv` *before* exec'ing bwrap), and rlimits set by `prlimit` (CPU,
address space, processes, file size, no core dumps). The whole process tree dies with the run:
bwrap is the leader of its own session, `--die-with-parent` takes its pid-1 reaper along, and the
pid namespace takes every descendant, setsid'd or not.

Long-lived workers (`start_worker`, used by the verifier pool) get the same sandbox with pipes instead
of a deadline, plus read-only binds of the host paths they need (the Python environment).

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


@functools.cache
def _bwrap_path() -> str | None:
    return shutil.which("bwrap", path=HOST_TOOLS_ENV["PATH"]) or shutil.which("bwrap")


def bwrap_argv(argv: list[str], files: dict[str, str], limits: Limits, status_fd: int | None, uid: int) -> list[str]:
    """The full command line: rlimits, privilege drop, then bwrap with its mounts and `argv`.

    `files` maps a work-dir path to the number of an open fd holding its content; `status_fd`, when
    given, receives bwrap's JSON status lines.
    """
    return rlimit_prefix(limits, helpers=2) + drop_privileges_prefix(uid) + _bwrap_args(argv, files, limits, status_fd)


def _bwrap_args(
    argv: list[str],
    files: dict[str, str],
    limits: Limits,
    status_fd: int | None,
    ro_binds: Mapping[str, str] | None = None,
) -> list[str]:
    """bwrap and its options (no rlimits, no privilege drop); `ro_binds` maps a sandbox path to a host source."""
    binds = sorted((ro_binds or {}).items())
    # /tmp points into the work dir, unless a bind (say a venv or checkout under /tmp) already made it a directory;
    # then /tmp stays read-only and TMPDIR still points at the work dir.
    under_tmp = any(dest == "/tmp" or dest.startswith("/tmp/") for dest, _ in binds)
    tmp_link = [] if under_tmp else ["--symlink", WORK_DIR, "/tmp"]
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
        *[a for dest, src in binds for a in ("--ro-bind", src, dest)],
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
        *tmp_link,
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
    return args + ["--remount-ro", "/", "--", *argv]


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

# Run as root between `unshare --mount` and the privilege drop: mounts a small tmpfs on the staging dir ($1),
# bind-mounts each of the $2 source paths (directories or files) that follow onto $1/0, $1/1, ..., then execs the
# rest of argv.
# The mounts exist only in that process's private mount namespace and die with it.
_STAGE_SCRIPT = """set -e
stage=$1; n=$2; shift 2
mount -t tmpfs -o mode=0755,size=64k rlvr-stage "$stage"
i=0
while [ "$i" -lt "$n" ]; do
  if [ -d "$1" ]; then mkdir "$stage/$i"; else : > "$stage/$i"; fi
  mount --bind "$1" "$stage/$i"
  shift
  i=$((i + 1))
done
exec "$@"
"""
# An existing, normally unused host directory to stage on (never /tmp: bwrap builds its new root there).
_STAGE_DIRS = ("/srv", "/mnt", "/media", "/opt")


def worker_uid(slot: int) -> int:
    """The unprivileged uid of long-lived worker `slot` (0..255) of this process."""
    if not 0 <= slot < 256:
        raise ValueError(f"worker slot must be in 0..255, got {slot}")
    return sandbox_uid(slot) + _WORKER_UID_OFFSET


def _staged_binds(paths: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """When we are root: an argv prefix that stages `paths` where the unprivileged uid can reach them.

    Why: a path under a directory the sandbox uid cannot traverse (a venv's interpreter under root's
    mode-700 home) cannot be bound by bwrap once privileges are dropped, and bwrap's `--ro-bind-fd`
    does not help: bwrap 0.8 canonicalises `/proc/self/fd/N` back into the path (realpath) and walks
    it as the dropped uid ("Can't find source path /proc/self/fd/N: Permission denied"). So root
    bind-mounts each path onto `STAGE/i` in a private mount namespace first, and bwrap binds `STAGE/i`
    back at the original path. Returns (argv prefix, {sandbox path: bwrap source}). When we are not
    root there is no prefix and each path is its own source (we can reach it, and so can bwrap).
    """
    if os.geteuid() != 0 or not paths:
        return [], {p: p for p in paths}
    stage = next((d for d in _STAGE_DIRS if os.path.isdir(d) and not os.path.islink(d)), None)
    if stage is None:
        raise SandboxUnavailable(f"no staging directory for worker binds: none of {', '.join(_STAGE_DIRS)} exists")
    prefix = ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", _STAGE_SCRIPT, "stage"]
    prefix += [stage, str(len(paths)), *paths]
    return prefix, {p: f"{stage}/{i}" for i, p in enumerate(paths)}


def start_worker(argv: list[str], ro_bind_paths: Sequence[str], limits: Limits, slot: int) -> subprocess.Popen:
    """Start `argv` as a long-lived process in a bubblewrap sandbox, talking over stdin/stdout/stderr pipes.

    The sandbox is the one-shot run's (same argv builder: no network, read-only system, scrubbed
    environment, rlimits incl. address space, unprivileged uid `worker_uid(slot)`, no project files)
    plus each of `ro_bind_paths` (existing absolute host paths: the interpreter, site-packages, the
    verifier's source) bound read-only at its own path. The process leads its own session:
    `base.kill_group(proc)` takes the whole sandbox down, and `--die-with-parent` does when we die.

    Not handled here: deadlines (the caller waits on the pipes with its own and kills the group) and
    draining stderr (the caller must, or the worker blocks on a full pipe). `limits.wall_s` and
    `limits.output_bytes` are ignored.
    """
    paths: list[str] = []
    for p in ro_bind_paths:
        if not os.path.isabs(p) or os.path.normpath(p) != p or p == "/" or not os.path.exists(p):
            raise ValueError(f"a worker bind must be an existing, normalised absolute path other than /, got {p!r}")
        if p not in paths:
            paths.append(p)
    if _bwrap_path() is None:
        raise SandboxUnavailable(f"bubblewrap (bwrap) is not installed: {_INSTALL_HINT}")
    if missing := missing_host_tools():
        raise SandboxUnavailable(missing)
    stage, binds = _staged_binds(paths)
    cmd = rlimit_prefix(limits, helpers=2) + stage + drop_privileges_prefix(worker_uid(slot))
    cmd += _bwrap_args(argv, {}, limits, None, ro_binds=binds)
    return subprocess.Popen(
        cmd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=HOST_TOOLS_ENV,
        start_new_session=True,
    )


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
