"""Types shared by every sandbox backend, the bounded pool, and the host side of a local run.

A run's life: `Sandbox.run` validates its inputs, takes a slot from the pool (bounded concurrency,
one unprivileged uid per slot), and hands over to the backend's `_run`. The local backends (bwrap,
process) build an argv and call `run_local`, which starts it in a new session with stdin from a
memfd, reads both pipes with a byte cap, enforces the wall-clock deadline, and kills the whole
process group when anything goes over.
"""

from __future__ import annotations

import dataclasses
import os
import queue
import selectors
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal

ExecStatus = Literal["ok", "nonzero_exit", "timeout", "memory", "output_limit", "error"]

# Exit code 128 + n means "killed by signal n" in bwrap, docker and shells alike.
_SIGNAL_EXIT = 128
# What an out-of-memory death leaves on stderr when an allocation fails under RLIMIT_AS.
_MEMORY_MARKERS = (b"MemoryError", b"Cannot allocate memory", b"std::bad_alloc", b"out of memory")


class SandboxUnavailable(RuntimeError):
    """A backend cannot run here; the message says what is missing and how to install it."""


@dataclasses.dataclass(frozen=True)
class Limits:
    """Resource limits for one run. Every field is enforced by every backend.

    wall_s: wall-clock time; at the deadline the whole process tree is killed.
    cpu_s: CPU time per process (RLIMIT_CPU), so a busy loop dies even while the wall clock is generous.
    memory_mb: address space per process (bwrap, process) or the container's memory (docker).
    pids: processes and threads at once.
    output_bytes: stdout + stderr together; past it the run is killed and the output truncated.
    disk_mb: size of the writable work dir, and the largest file that can be written.
    """

    wall_s: float = 10.0
    cpu_s: float = 10.0
    memory_mb: int = 512
    pids: int = 64
    output_bytes: int = 1 << 20
    disk_mb: int = 64

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"Limits.{field.name} must be a positive number, got {value!r}")
        if self.memory_mb < 16:
            raise ValueError(f"Limits.memory_mb must be at least 16 (an interpreter needs it), got {self.memory_mb}")


@dataclasses.dataclass(frozen=True)
class ExecResult:
    """The outcome of one sandboxed run.

    status: "ok" (exit 0), "nonzero_exit", "timeout" (wall or CPU time), "memory", "output_limit"
    (output truncated at `Limits.output_bytes`) or "error" (the sandbox itself failed: never the
    program's doing). exit_code is the program's exit code, 128 + n when it died of signal n, or
    None when it never ran or was killed by us.
    """

    status: ExecStatus
    exit_code: int | None
    stdout: str
    stderr: str
    wall_s: float
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# The same rules on every backend, from the kernel's limits: a file-name component of at most NAME_MAX bytes, a
# path of at most PATH_MAX, an argument of at most MAX_ARG_STRLEN (with its NUL), and no NUL anywhere.
NAME_MAX = 255
PATH_MAX = 4095 - len("/box/")
ARG_MAX_BYTES = 131071
ARGV_MAX_BYTES = 1 << 20


def check_argv(argv: Sequence[str]) -> list[str]:
    """Validate argv: a non-empty list of strings, UTF-8, no NUL, each and all within the kernel's exec limits."""
    if isinstance(argv, (str, bytes)) or not argv or not all(isinstance(a, str) for a in argv):
        raise ValueError(f"argv must be a non-empty list of strings, got {str(argv)[:200]!r}")
    total = 0
    for i, arg in enumerate(argv):
        try:
            size = len(arg.encode("utf-8"))
        except UnicodeEncodeError:
            raise ValueError(f"argv[{i}] is not valid UTF-8 (a lone surrogate)") from None
        if "\0" in arg:
            raise ValueError(f"argv[{i}] contains a NUL byte")
        if size > ARG_MAX_BYTES:
            raise ValueError(f"argv[{i}] is {size} bytes; one argument may have at most {ARG_MAX_BYTES}")
        total += size + 1
    if total > ARGV_MAX_BYTES:
        raise ValueError(f"argv is {total} bytes in all; the limit is {ARGV_MAX_BYTES} (pass data as a file or stdin)")
    return list(argv)


def check_files(files: Mapping[str, str | bytes] | None) -> dict[str, bytes]:
    """Validate work-dir file names and encode contents: relative paths inside the work dir (no '..', no empty
    parts), UTF-8, no NUL, each part at most NAME_MAX bytes, no name that is also another file's directory."""
    out: dict[str, bytes] = {}
    for name, content in (files or {}).items():
        if not isinstance(name, str):
            raise ValueError(f"file name {name!r} must be a string")
        parts = name.split("/")
        if not name or name.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\0" in name:
            raise ValueError(f"file name {name!r} must be a relative path inside the work dir (no '..', no '/' start)")
        try:
            sizes = [len(p.encode("utf-8")) for p in parts]
        except UnicodeEncodeError:
            raise ValueError(f"file name {name!r} is not valid UTF-8 (a lone surrogate)") from None
        if max(sizes) > NAME_MAX or sum(sizes) + len(sizes) - 1 > PATH_MAX:
            raise ValueError(f"file name {name[:80]!r}...: each part may have {NAME_MAX} bytes, the path {PATH_MAX}")
        if not isinstance(content, (str, bytes)):
            raise ValueError(f"file {name!r}: content must be str or bytes, not {type(content).__name__}")
        out[name] = content.encode() if isinstance(content, str) else content
    dirs = {"/".join(name.split("/")[:i]) for name in out for i in range(1, name.count("/") + 1)}
    if clash := sorted(dirs & set(out)):
        raise ValueError(f"file name {clash[0]!r} is also the directory of another file")
    return out


def classify(
    exit_code: int | None, stderr: bytes, *, timed_out: bool, over_output: bool, oom: bool = False
) -> tuple[ExecStatus, str]:
    """Turn how a run ended into a status and a one-line detail."""
    if over_output:
        return "output_limit", "output exceeded the byte limit; truncated"
    if timed_out:
        return "timeout", "wall-clock limit reached; process tree killed"
    if exit_code == 0:
        return "ok", ""
    signum = exit_code - _SIGNAL_EXIT if exit_code is not None and exit_code > _SIGNAL_EXIT else None
    if signum in (signal.SIGXCPU, signal.SIGKILL) and not oom:
        return "timeout", f"CPU time limit reached (signal {signal.Signals(signum).name})"
    tail = stderr[-4096:]
    if oom or any(m in tail for m in _MEMORY_MARKERS):
        return "memory", "memory limit reached"
    if signum is not None and signum < 65:
        return "nonzero_exit", f"killed by signal {signum}"
    return "nonzero_exit", f"exit code {exit_code}"


class OutputCap:
    """Collects stdout and stderr up to a shared byte budget; remembers whether it overflowed."""

    def __init__(self, limit: int) -> None:
        self.left = limit
        self.over = False
        self.chunks: dict[str, list[bytes]] = {"stdout": [], "stderr": []}

    def add(self, stream: str, data: bytes) -> bool:
        """Keep what fits; return False once the budget is exceeded."""
        if len(data) > self.left:
            data, self.over = data[: self.left], True
        self.left -= len(data)
        self.chunks[stream].append(data)
        return not self.over

    def text(self, stream: str) -> str:
        return b"".join(self.chunks[stream]).decode("utf-8", "replace")

    def raw(self, stream: str) -> bytes:
        return b"".join(self.chunks[stream])


def memfd(name: str, data: bytes) -> int:
    """An anonymous in-memory file holding `data`, positioned at 0 (for stdin and work-dir files)."""
    fd = os.memfd_create(name, os.MFD_CLOEXEC)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def run_local(
    argv: Sequence[str],
    stdin: bytes,
    limits: Limits,
    *,
    pass_fds: Sequence[int] = (),
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> tuple[int | None, OutputCap, bool, float]:
    """Run `argv` on this host, in its own session, under the wall-clock and output limits.

    Returns (exit code, captured output, timed_out, wall seconds). The caller's argv is responsible
    for privileges and rlimits (it starts with `prlimit`/`setpriv`), so no Python runs between fork
    and exec: this is safe from threaded callers and cheap even in a large (torch-loaded) process.
    """
    cap = OutputCap(limits.output_bytes)
    stdin_fd = memfd("stdin", stdin)
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=stdin_fd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=tuple(pass_fds),
            env=dict(env or {}),
            cwd=cwd,
            start_new_session=True,
        )
    finally:
        os.close(stdin_fd)
    deadline = start + limits.wall_s
    timed_out = False
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ, "stdout")
        sel.register(proc.stderr, selectors.EVENT_READ, "stderr")
        while sel.get_map() and not timed_out and not cap.over:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            for key, _ in sel.select(remaining):
                data = os.read(key.fd, 65536)
                if not data:
                    sel.unregister(key.fileobj)
                elif not cap.add(key.data, data):
                    break
    try:
        if timed_out or cap.over:
            kill_group(proc)
        else:
            proc.wait(max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        timed_out = True
        kill_group(proc)
    finally:
        proc.stdout.close()
        proc.stderr.close()
    wall = time.monotonic() - start
    code = proc.returncode
    # Popen reports "killed by signal n" as -n; report it the way shells and bwrap do.
    exit_code = None if timed_out or cap.over else (_SIGNAL_EXIT - code if code < 0 else code)
    return exit_code, cap, timed_out, wall


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the process group led by `proc` and reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


class Sandbox:
    """A backend plus a bounded pool: at most `max_concurrency` runs at once, from any thread.

    Subclasses implement `_run(argv, files, stdin, limits, slot)`; `slot` (0 .. max_concurrency-1)
    is unique among the runs in flight, so a backend can give each slot its own unprivileged uid.
    """

    name = "base"

    def __init__(self, max_concurrency: int | None = None) -> None:
        n = max_concurrency or os.cpu_count() or 1
        if not 1 <= n <= 256:
            raise ValueError(f"max_concurrency must be in 1..256, got {n}")
        self.max_concurrency = n
        self._slots: queue.Queue[int] = queue.Queue()
        for i in range(n):
            self._slots.put(i)

    def run(
        self,
        argv: Sequence[str],
        files: Mapping[str, str | bytes] | None = None,
        stdin: str | bytes = b"",
        limits: Limits | None = None,
    ) -> ExecResult:
        """Run `argv` in the work dir holding `files`, feeding `stdin`, under `limits`."""
        argv = check_argv(argv)
        data = check_files(files)
        stdin_bytes = stdin.encode() if isinstance(stdin, str) else bytes(stdin)
        limits = limits or Limits()
        slot = self._slots.get()
        try:
            return self._run(argv, data, stdin_bytes, limits, slot)
        except SandboxUnavailable:
            raise
        except Exception as e:  # noqa: BLE001 - a failure of ours is reported as status "error"
            return ExecResult("error", None, "", "", 0.0, f"{self.name} sandbox failed: {type(e).__name__}: {e}")
        finally:
            self._slots.put(slot)

    def _run(self, argv: list[str], files: dict[str, bytes], stdin: bytes, limits: Limits, slot: int) -> ExecResult:
        raise NotImplementedError

    def close(self) -> None:
        """Release backend resources (connections, helper processes). Runs in flight are not affected."""

    @property
    def closed(self) -> bool:
        """Whether `close` was called (backends that refuse later runs keep `_closed`)."""
        return getattr(self, "_closed", False)


def rlimits(limits: Limits, helpers: int = 0) -> dict[str, tuple[int, int]]:
    """The per-process limits of a run, {resource.RLIMIT_* name: (soft, hard)}.

    RLIMIT_NPROC counts every process of the uid, so the backend's own `helpers` that run under it
    (bwrap and its pid-1 reaper) are added: the program's whole tree gets exactly `limits.pids`.
    """
    cpu = max(1, int(limits.cpu_s + 0.999))
    both = lambda n: (n, n)  # noqa: E731
    return {
        "RLIMIT_CPU": (cpu, cpu + 1),
        "RLIMIT_NPROC": both(limits.pids + helpers),
        "RLIMIT_FSIZE": both(limits.disk_mb << 20),
        "RLIMIT_NOFILE": both(256),
        "RLIMIT_CORE": both(0),
        "RLIMIT_AS": both(limits.memory_mb << 20),
    }


def rlimit_prefix(limits: Limits, helpers: int = 0) -> list[str]:
    """`prlimit` argv prefix setting `rlimits(limits, helpers)` before anything untrusted runs."""
    flags = {"RLIMIT_CPU": "cpu", "RLIMIT_NPROC": "nproc", "RLIMIT_FSIZE": "fsize", "RLIMIT_NOFILE": "nofile",
             "RLIMIT_CORE": "core", "RLIMIT_AS": "as"}  # fmt: skip
    values = rlimits(limits, helpers).items()
    args = [f"--{flags[k]}={s}:{h}" if s != h else f"--{flags[k]}={s}" for k, (s, h) in values]
    return ["prlimit", *args, "--"]


def drop_privileges_prefix(uid: int) -> list[str]:
    """When we are root, `setpriv` argv prefix that becomes an unprivileged uid before exec'ing the rest.

    Never let root start the sandbox: started by root, bwrap keeps host uid 0 inside (RLIMIT_NPROC is
    ignored and /proc/sys opens for writing).
    """
    if os.geteuid() != 0:
        return []
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--"]


def missing_host_tools() -> str | None:
    """The util-linux tools the local backends start with, if any is missing."""
    import shutil

    needed = ["prlimit"] + (["setpriv"] if os.geteuid() == 0 else [])
    missing = [t for t in needed if shutil.which(t, path=HOST_TOOLS_ENV["PATH"]) is None]
    return f"{', '.join(missing)} not found: install util-linux" if missing else None


SANDBOX_UID_BASE = 1_000_000_000


def sandbox_uid(slot: int) -> int:
    """A distinct unprivileged uid per (process, slot), so RLIMIT_NPROC counts one run's processes only."""
    return SANDBOX_UID_BASE + (os.getpid() % 65536) * 256 + slot


MINIMAL_PATH = "/usr/local/bin:/usr/bin:/bin"
HOST_TOOLS_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
