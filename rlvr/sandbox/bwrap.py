"""bubblewrap backend (the default): a fresh set of namespaces per run; a ready spare skips bwrap's and Python's start.

Each run gets: no network (its own empty network namespace: the host's loopback is unreachable),
its own pid/ipc/uts/cgroup/user namespaces, a read-only view of /usr only (no /home, /root, /etc
secrets, no project files), a private tmpfs work dir `/box` capped at `Limits.disk_mb` (the files
and stdin arrive in one stream on the sandbox init's stdin: no fd per file), a scrubbed environment,
only fds 0-2, an unprivileged uid (root drops to a per-slot uid with `setpriv` *before* exec'ing
bwrap), and rlimits set by `prlimit` (CPU, address space, processes, file size, no core dumps).

The whole process tree dies with the run, and is reaped before `run` returns: the sandbox's init is
rlvr/sandbox/boot.py (`--as-pid-1`), which reaps every orphan and kills what is left when the program
ends; the kernel reaps an init only once its pid namespace is empty, and bwrap waits for it (see
rlvr/sandbox/bwrap_box.py). At the deadline the init is SIGKILLed, with the same effect.

Warm path: one *spare* per pool slot, a started sandbox whose interpreter is up and waiting for its job,
started in the background once the slot's previous run is over. A spare serves one program and is
never reused. `python3 FILE` and `python3 -c CODE` start as a fork of that interpreter (see boot.py);
anything else is exec'd. Spares are *nests* (rlvr/sandbox/bwrap_nest.py): fresh namespaces and work dir per
program, forked in ~4 ms from a fork server (a bwrap sandbox per uid slot that holds only an interpreter with
its modules imported) instead of a bwrap and an interpreter started per program (~30 ms of CPU). Where nests
cannot be built (no user namespaces inside a sandbox), or with `nest=False`, each spare is a bwrap sandbox of
its own; back to back, runs then wait for their spare to come up as they would for a cold start.

Long-lived workers (`start_worker`, used by the verifier pool) get the same sandbox with pipes instead
of a deadline, plus read-only binds of the host paths they need (the Python environment).

Not handled: a per-run cgroup. Memory is bounded per process (RLIMIT_AS) times `Limits.pids`.
"""

from __future__ import annotations

import collections
import functools
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait

from rlvr.sandbox.base import (
    HOST_TOOLS_ENV,
    MINIMAL_PATH,
    ExecResult,
    Limits,
    Sandbox,
    SandboxUnavailable,
    check_files,
    drop_privileges_prefix,
    missing_host_tools,
    rlimit_prefix,
    sandbox_uid,
)
from rlvr.sandbox.bwrap_box import Box, boot_source, compile_ahead, limits_key, start_box
from rlvr.sandbox.bwrap_nest import ForkServer, NestUnavailable

WORK_DIR = "/box"
_UIDS = 256  # sandbox uids per process (rlvr.sandbox.base.sandbox_uid): one per live sandbox, runs and spares
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


def _bwrap_args(
    argv: list[str],
    limits: Limits,
    status_fd: int | None,
    ro_binds: Mapping[str, str] | None = None,
    as_pid_1: bool = False,
    nest: bool = False,
) -> list[str]:
    """bwrap and its options (no rlimits, no privilege drop); `ro_binds` maps a sandbox path to a host source.

    as_pid_1: `argv` is the init of the sandbox's pid namespace (boot.py, which reaps), instead of bwrap's own.
    nest: the sandbox of a fork server (rlvr/sandbox/bwrap_nest.py), whose nests need user namespaces: bwrap does not
    ban them (--disable-userns); each nest bans them for itself.
    """
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
        *(["--as-pid-1"] if as_pid_1 else []),
        "--unshare-all",
        "--unshare-user",
        *([] if nest else ["--disable-userns"]),
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
        "--chdir",
        WORK_DIR,
    ]
    if status_fd is not None:
        args += ["--json-status-fd", str(status_fd)]
    return args + ["--remount-ro", "/", "--", *argv]


def box_args(
    limits: Limits, precompiled: Mapping[str, str] | None = None, compiled: Sequence[str] = ()
) -> Callable[[int], list[str]]:
    """bwrap's argv for a one-shot box (boot.py as the sandbox's init, loading `compiled` (see `compile_ahead`) or
    else compiling the `precompiled` sources ahead), given the status fd."""
    boot = ["python3", "-S", "-c", boot_source(), json.dumps(dict(precompiled or {})), *compiled]
    return lambda status_fd: _bwrap_args(boot, limits, status_fd, as_pid_1=True)


def server_args(precompiled: Mapping[str, str], compiled: Sequence[str]) -> Callable[[int], list[str]]:
    """bwrap's argv for a fork server (boot.py in fork-server mode, as box_args), given the server's socket fd.
    Its own work dir stays empty (each nest mounts one of its own): 1 MiB."""

    def args(server_fd: int) -> list[str]:
        boot = ["python3", "-S", "-c", boot_source(), f"--fork-server={server_fd}", json.dumps(dict(precompiled))]
        return _bwrap_args([*boot, *compiled], Limits(disk_mb=1), None, as_pid_1=True, nest=True)

    return args


class BwrapSandbox(Sandbox):
    """Runs each program in a fresh bubblewrap sandbox; see the module docstring for what is isolated.

    spares: how many started sandboxes to keep ready, interpreter up and waiting (True: one per slot, the default;
    an int: that many, say a training step's worth started during generation; 0 or False: none). A run takes a
    spare that has its rlimits and disk size, else starts a sandbox itself. Spares are started in the background
    with the limits of the latest run: while runs are in flight, so that one per slot is ready (a burst consumes
    the rest without spare starts taking its CPU), and up to `spares` once none is. A spare serves one program,
    never two. Every sandbox, spare or not, has an unprivileged uid of its own (at most 256 at once, with the
    runs), so RLIMIT_NPROC counts one run's processes only. `phase_log` keeps the last runs' {"spare",
    "total_ms"} (for benchmarks/sandbox.py).

    nest: spares are nests forked from one fork server per uid (see the module docstring) when this machine allows
    it (else `nest` turns False and `nest_unavailable` says why); False: a bwrap sandbox per program.
    """

    name = "bwrap"

    def __init__(self, max_concurrency: int | None = None, spares: int | bool = True, nest: bool = True) -> None:
        super().__init__(max_concurrency)
        self.nest = bool(nest)
        self.nest_unavailable: str | None = None  # why nests could not be built here (then: a bwrap per program)
        self._servers: dict[int, ForkServer] = {}  # uid index -> its fork server
        n = self.max_concurrency if spares is True else int(spares)
        if not 0 <= n <= _UIDS - self.max_concurrency:
            raise ValueError(f"spares must be in 0..{_UIDS - self.max_concurrency} with this concurrency, got {spares}")
        self.spares = n
        self.phase_log: collections.deque[dict[str, float]] = collections.deque(maxlen=10_000)
        self._lock = threading.Lock()
        self._closed = False
        self._uids = list(range(_UIDS))  # free uid indexes (sandbox_uid); a box holds one until it is closed
        self._ready: collections.deque[tuple[tuple, Future[Box]]] = collections.deque()  # (limits key, spare)
        self._spare_limits: Limits | None = None
        self._inflight = 0
        self._precompiled: dict[str, str] = {}
        self._compiled: tuple[str, ...] = ()  # boot.py's argv[2:] for them: magic, then (name, marshalled code)
        # Spares start from this one long-lived thread: bwrap's --die-with-parent fires when the *thread* that
        # started it exits.
        self._spawner = ThreadPoolExecutor(1, thread_name_prefix="rlvr-bwrap-spares") if n else None
        # Fork servers live as long as this sandbox: they start from one thread that does too (--die-with-parent).
        self._server_starter = ThreadPoolExecutor(1, thread_name_prefix="rlvr-bwrap-servers") if nest else None

    def _run(self, argv: list[str], files: dict[str, bytes], stdin: bytes, limits: Limits, slot: int) -> ExecResult:
        t0 = time.monotonic()
        with self._lock:
            self._inflight += 1
        try:
            box, warm = self._take(limits)
            try:
                result = box.execute(argv, files, stdin, limits)
                if result is None and warm:  # the spare died before it took the job: nothing ran yet
                    self._close_box(box)
                    box = self._start_now(limits)
                    result = box.execute(argv, files, stdin, limits)
            finally:
                self._close_box(box)
        finally:
            with self._lock:
                self._inflight -= 1
            self._refill()
        self.phase_log.append({"spare": float(warm), "total_ms": 1000 * (time.monotonic() - t0)})
        if result is None:
            return ExecResult("error", None, "", "", 0.0, "bwrap sandbox failed: it exited before taking the job")
        return result

    def _take(self, limits: Limits) -> tuple[Box, bool]:
        """A ready spare that has `limits`' rlimits and disk size, else a sandbox started now."""
        key, found, stale = limits_key(limits), None, []
        with self._lock:
            if self._closed:
                raise RuntimeError("the bwrap sandbox is closed")
            if self.spares and self._spare_limits != limits:
                self._spare_limits = limits  # spares from now on are for the latest run's limits
                stale = [f for k, f in self._ready if k != key]
                self._ready = collections.deque(i for i in self._ready if i[0] == key)
            if self._ready:
                found = self._ready.popleft()[1]
        for future in stale:
            future.add_done_callback(self._discard)
        self._refill()
        if found is not None:
            try:
                return found.result(), True
            except Exception:  # noqa: BLE001 - a spare that failed to start is replaced by one started now
                pass
        return self._start_now(limits), False

    def _start_now(self, limits: Limits) -> Box:
        with self._lock:
            uid = self._uids.pop()
        return self._start_box(limits, uid)

    def _refill(self) -> None:
        """Start spares for the latest run's limits: up to one per slot while runs are in flight, up to `spares` when
        none is (a burst consumes what was started before it, without spare starts taking its CPU); uids for the
        runs are kept free."""
        with self._lock:
            target = min(self.spares, self.max_concurrency) if self._inflight else self.spares
            want = target - len(self._ready) if not self._closed and self._spare_limits is not None else 0
            want = min(want, len(self._uids) - self.max_concurrency)
            for _ in range(max(0, want)):
                limits = self._spare_limits
                uid = self._uids.pop()
                future = self._spawner.submit(self._start_box, limits, uid)
                self._ready.append((limits_key(limits), future))

    def _start_box(self, limits: Limits, uid: int) -> Box:
        try:
            box = self._start_nest(limits, uid) if self.nest else None
            if box is None:
                box = start_box(self._box_args(limits), limits, sandbox_uid(uid))
        except BaseException:
            with self._lock:
                self._uids.append(uid)
            raise
        box.uid = uid
        return box

    def _start_nest(self, limits: Limits, uid: int) -> Box | None:
        """A nest from uid `uid`'s fork server (started, or restarted for new sources, here); None when nests cannot
        be built here: then `nest` turns off for good, with the reason in `nest_unavailable`."""
        with self._lock:
            sources = (self._precompiled, self._compiled)
            server = self._servers.pop(uid, None)
        for attempt in range(2):  # a server that died is replaced once; a second failure is the machine's
            if server is not None and (server.sources != sources or not server.alive()):
                server.close()
                server = None
            if server is None:
                server = self._server_starter.submit(ForkServer, server_args(*sources), sandbox_uid(uid)).result()
                server.sources = sources
            try:
                box = server.spawn(limits, uid)
            except NestUnavailable as e:
                server.close()
                server = None
                if attempt:
                    self.nest, self.nest_unavailable = False, str(e)
                    return None
                continue
            with self._lock:
                self._servers[uid] = server
            return box
        return None

    def server_pids(self) -> list[int]:
        """Host pids of the fork servers (bwrap and the server process, not their nests); for tests."""
        with self._lock:
            servers = list(self._servers.values())
        return [pid for server in servers for pid in server.pids()]

    def _discard(self, future: Future[Box]) -> None:
        if future.exception() is None:
            self._close_box(future.result())

    def _close_box(self, box: Box) -> None:
        """Close `box` (bwrap has exited: nothing of it runs) and free its uid."""
        box.close()
        with self._lock:
            self._uids.append(box.uid)

    def _box_args(self, limits: Limits) -> Callable[[int], list[str]]:
        with self._lock:  # both replaced whole by precompile(), never changed in place
            return box_args(limits, self._precompiled, self._compiled)

    def precompile(self, name: str, source: str) -> None:
        """Have sandboxes started from now on hold `source` compiled, for a run of `python3 NAME` with exactly that
        content (the code verifier's harness): compiled once here by the sandbox's interpreter (see `compile_ahead`),
        else by each spare in the background; never per program."""
        if len(source.encode("utf-8", "surrogatepass")) > 64 << 10:
            raise ValueError(f"precompile: {name!r} is over 64 KiB (it travels on the sandbox's command line)")
        check_files({name: source})
        with self._lock:
            sources = {**self._precompiled, name: source}
        compiled = compile_ahead(sources)
        with self._lock:
            self._precompiled, self._compiled = sources, compiled

    def warm(self, limits: Limits | None = None, timeout_s: float = 120.0) -> int:
        """Have `spares` spares with `limits` (default Limits()) ready, as runs with them leave behind; returns once
        each is up (interpreter started, waiting for its job) or `timeout_s` has passed: how many are up."""
        if not self.spares:
            raise RuntimeError("this bwrap sandbox keeps no spares (spares=0)")
        limits = limits or Limits()
        key = limits_key(limits)
        with self._lock:
            if self._closed:
                raise RuntimeError("the bwrap sandbox is closed")
            self._spare_limits = limits
            stale = [f for k, f in self._ready if k != key]
            self._ready = collections.deque(i for i in self._ready if i[0] == key)
        for future in stale:
            wait([future])
            self._discard(future)
        self._refill()
        with self._lock:
            futures = [f for _, f in self._ready]
        deadline = time.monotonic() + timeout_s
        boxes = [f.result() for f in futures if f.exception(max(0.0, deadline - time.monotonic())) is None]
        return sum(box.wait_ready(max(0.0, deadline - time.monotonic())) for box in boxes)

    def spare_pids(self) -> list[int]:
        """Host pids of the ready spares' bwrap processes (their sandboxes are their descendants); for tests.

        Waits for spares being started, so that a spare's processes are never mistaken for a run's."""
        with self._lock:
            futures = [f for _, f in self._ready]
        return [f.result().proc.pid for f in futures if f.exception() is None]

    def close(self) -> None:
        """Wait for the runs in flight, stop the spares. Later runs get status "error" (the sandbox is closed)."""
        slots = [self._slots.get() for _ in range(self.max_concurrency)]
        with self._lock:
            self._closed = True
            spares, self._ready = [f for _, f in self._ready], collections.deque()
        for slot in slots:
            self._slots.put(slot)
        for future in spares:
            wait([future])
            self._discard(future)
        if self._spawner is not None:
            self._spawner.shutdown(wait=True)
        with self._lock:
            servers, self._servers = self._servers, {}
        for server in servers.values():
            server.close()
        if self._server_starter is not None:
            self._server_starter.shutdown(wait=True)


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
    cmd += _bwrap_args(argv, limits, None, ro_binds=binds)
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
    sandbox = BwrapSandbox(max_concurrency=1, spares=0, nest=False)
    try:
        probe = sandbox.run(["/usr/bin/true"], limits=Limits(wall_s=20, cpu_s=5))
    finally:
        sandbox.close()
    if probe.status != "ok":
        return f"a probe run failed ({probe.status}: {probe.detail}); {_USERNS_HINT}"
    return None
