"""One bwrap sandbox, started before its job is known: `start_box`, then `Box.execute` once, then `Box.close`.

A box is bwrap (`--as-pid-1`) running rlvr/sandbox/boot.py as the init of the sandbox's pid namespace: the
interpreter starts, then waits for its job on stdin. `execute` sends the argv, the work-dir files and the stdin
in one stream over that pipe (no fd and no bwrap argument per file), reads the program's output under the
byte and wall-clock limits, and returns once bwrap has exited. bwrap waits for its child, and the init of a pid
namespace is reaped only after every process in it is gone, so when `execute` returns nothing of the run is
alive and no zombie of the run's uid is left to count against a later run's RLIMIT_NPROC, whoever is pid 1 on
the host. At the deadline (or past the output cap) the sandbox's init is SIGKILLed through a pidfd: the kernel
then kills the rest, bwrap reaps it and exits.

A box serves one program only. Started ahead of time it is a *spare* (see BwrapSandbox): the bwrap set-up and
the interpreter start are then off the run's critical path.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import select
import selectors
import shutil
import signal
import struct
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from rlvr.sandbox.base import (
    ARG_MAX_BYTES,
    HOST_TOOLS_ENV,
    MINIMAL_PATH,
    ExecResult,
    Limits,
    OutputCap,
    classify,
    drop_privileges_prefix,
    kill_group,
    rlimit_prefix,
)

_EXIT_GRACE_S = 10.0  # after the init is killed or the output ends, bwrap exits within this (normally ms)
_CHUNK = 1 << 16


@functools.cache
def boot_source() -> str:
    return (Path(__file__).parent / "boot.py").read_text(encoding="utf-8")


# Run by the sandbox's interpreter on the host: compiles the sources on stdin ({name: source}, JSON) as boot.py would
# (file name /box/NAME), writes boot.py's argv[2:]: the bytecode magic, then name and base64 marshal per source.
_COMPILE = """import binascii, json, marshal, sys, _frozen_importlib_external as b
out = [b.MAGIC_NUMBER.hex()]
for name, source in json.load(sys.stdin).items():
    code = compile(source.encode("utf-8", "surrogatepass"), "/box/" + name, "exec", dont_inherit=True)
    out += [name, binascii.b2a_base64(marshal.dumps(code), newline=False).decode()]
json.dump(out, sys.stdout)
"""


def compile_ahead(sources: dict[str, str]) -> tuple[str, ...]:
    """boot.py's argv[2:] for `sources` (trusted: the code harness), compiled once by the interpreter the sandbox
    runs (its /usr is the host's), so that no spare compiles them (~15 ms each). () when that cannot be done (no
    such interpreter here, a source that does not compile, an argument over the kernel's limit): spares compile."""
    python = shutil.which("python3", path=MINIMAL_PATH)
    if python is None or not sources:
        return ()
    try:
        out = subprocess.run(
            [python, "-S", "-c", _COMPILE], input=json.dumps(sources), capture_output=True, text=True,
            env=HOST_TOOLS_ENV, timeout=60, check=True,
        ).stdout  # fmt: skip
        args = tuple(json.loads(out))
    except (OSError, ValueError, subprocess.SubprocessError):
        return ()
    return args if all(len(a.encode()) < ARG_MAX_BYTES for a in args) else ()


def readable(fd, timeout: float | None) -> bool:
    """Whether `fd` (an int or an object with fileno()) turns readable within `timeout` s (None: no limit). poll, not
    select: a sandbox with many spares holds fds above select's 1024."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(None if timeout is None else max(0, int(timeout * 1000 + 0.999))))


def limits_key(limits: Limits) -> tuple:
    """The limits a box is started with (rlimits, disk size); wall_s and output_bytes are the host's, per run."""
    return (limits.cpu_s, limits.memory_mb, limits.pids, limits.disk_mb)


def encode_job(argv: list[str], files: dict[str, bytes], stdin: bytes, wall_s: float) -> bytes:
    header = {"argv": argv, "files": [[n, len(d)] for n, d in files.items()], "stdin": len(stdin), "wall_s": wall_s}
    head = json.dumps(header).encode()
    return b"".join([struct.pack(">I", len(head)), head, *files.values(), stdin])


@dataclasses.dataclass
class Box:
    """A started sandbox whose init waits for its job: bwrap's process, its status pipe, and its limits."""

    proc: subprocess.Popen
    status_r: int
    key: tuple
    started: float
    uid: int = -1  # the owner's index of the box's uid
    ready: bool = False  # its init said it is up (see wait_ready)

    def pidfd(self) -> int | None:
        """A pidfd of the sandbox's init when known before the run (a nest), else None (bwrap's status tells)."""
        return None

    def kill(self) -> None:
        """SIGKILL the whole box and reap it (the deadline's last resort)."""
        kill_group(self.proc)

    def wait_ready(self, timeout: float) -> bool:
        """Wait until the init is up and waiting for its job (its interpreter started, modules imported)."""
        if not self.ready:
            fd = self.proc.stdout.fileno()
            if readable(fd, timeout):
                self.ready = os.read(fd, 1) == b"\x02"
        return self.ready

    def execute(self, argv: list[str], files: dict[str, bytes], stdin: bytes, limits: Limits) -> ExecResult | None:
        """Run the job; None when the box died before it took the job (a spare killed from outside, say)."""
        run = _Run(self, limits)
        run.pump(encode_job(argv, files, stdin, limits.wall_s))
        return run.result()

    def close(self) -> None:
        """Make sure bwrap has exited (an unused box: its init reads EOF and exits) and release the pipes."""
        proc = self.proc
        if proc.returncode is None:
            try:
                proc.stdin.close()
            except OSError:
                pass
            try:
                proc.wait(_EXIT_GRACE_S)
            except subprocess.TimeoutExpired:
                self.kill()
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            try:
                pipe.close()
            except OSError:
                pass
        if self.status_r >= 0:
            os.close(self.status_r)
            self.status_r = -1


class _Run:
    """The host side of one job: feed the box, collect its output, enforce the deadline and the byte cap."""

    def __init__(self, box: Box, limits: Limits) -> None:
        self.box, self.limits = box, limits
        self.cap = OutputCap(limits.output_bytes)
        self.acked: bool | None = None  # True: the program started; False: set-up failed
        self.setup = bytearray()  # the set-up failure's message
        self.status = bytearray()
        self.pidfd: int | None = box.pidfd()
        self.timed_out = False
        self.start = time.monotonic()

    def pump(self, job: bytes) -> None:
        proc = self.box.proc
        deadline = self.start + self.limits.wall_s
        out = memoryview(job)
        os.set_blocking(proc.stdin.fileno(), False)
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdin, selectors.EVENT_WRITE, "stdin")
            sel.register(proc.stdout, selectors.EVENT_READ, "stdout")
            sel.register(proc.stderr, selectors.EVENT_READ, "stderr")
            if self.box.status_r >= 0:
                sel.register(self.box.status_r, selectors.EVENT_READ, "status")
            while any(k.data in ("stdout", "stderr") for k in sel.get_map().values()):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self.timed_out = True
                    break
                for key, _ in sel.select(remaining):
                    if key.data == "stdin":
                        try:
                            out = out[os.write(key.fd, out[:_CHUNK]) :]
                        except BlockingIOError:
                            continue
                        except OSError:  # the init is gone: what it printed tells why
                            out = out[:0]
                        if not out:
                            sel.unregister(key.fileobj)
                            proc.stdin.close()
                        continue
                    data = os.read(key.fd, _CHUNK)
                    if not data:
                        sel.unregister(key.fileobj)
                    elif key.data == "status":
                        self._status(data)
                    elif key.data == "stdout":
                        self._stdout(data)
                    else:
                        self.cap.add("stderr", data)
                    if self.cap.over:
                        break
                if self.cap.over:
                    break
        if self.timed_out or self.cap.over:
            self._kill()
        self._wait(deadline)

    def _status(self, data: bytes) -> None:
        """bwrap's JSON status lines: `child-pid` (the init's host pid) comes right after the clone."""
        self.status += data
        while b"\n" in self.status and self.pidfd is None:
            line, _, rest = bytes(self.status).partition(b"\n")
            self.status = bytearray(rest)
            try:
                pid = json.loads(line).get("child-pid")
            except ValueError:
                continue
            if isinstance(pid, int):
                self.pidfd = _pidfd_of_child(pid, self.box.proc.pid)

    def _stdout(self, data: bytes) -> None:
        if not self.box.ready and data[:1] == b"\x02":
            self.box.ready, data = True, data[1:]
        if self.acked is None and not data:
            return
        if self.acked is None:
            self.acked, data = data[:1] == b"\0", data[1:]
        if self.acked:
            self.cap.add("stdout", data)
        else:
            self.setup += data

    def _kill(self) -> None:
        """SIGKILL the sandbox's init (the kernel kills the rest); bwrap then reaps it and exits."""
        if self.pidfd is not None:
            try:
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
                return
            except ProcessLookupError:
                return
            except OSError:
                pass
        self.box.kill()

    def _wait(self, deadline: float) -> None:
        proc = self.box.proc
        try:
            proc.wait(max(0.0, deadline - time.monotonic()) if not (self.timed_out or self.cap.over) else _EXIT_GRACE_S)
        except subprocess.TimeoutExpired:
            if not self.timed_out and not self.cap.over:
                self.timed_out = True
                self._kill()
            try:
                proc.wait(_EXIT_GRACE_S)
            except subprocess.TimeoutExpired:
                self.box.kill()
        finally:
            if self.pidfd is not None:
                os.close(self.pidfd)
                self.pidfd = None
        self.wall = time.monotonic() - self.start

    def result(self) -> ExecResult | None:
        cap, code = self.cap, self.box.proc.returncode
        if self.acked is None and not self.timed_out:
            why = cap.text("stderr").strip().splitlines()
            if not why:
                return None  # died before the job without a word: the caller may retry on a fresh box
            return ExecResult("error", None, "", cap.text("stderr"), self.wall, why[-1])
        if self.acked is False:
            detail = self.setup.decode("utf-8", "replace").strip() or "sandbox set-up failed"
            return ExecResult("error", None, "", cap.text("stderr"), self.wall, detail)
        exit_code = None if self.timed_out or cap.over or code is None or code < 0 else code
        status, detail = classify(exit_code, cap.raw("stderr"), timed_out=self.timed_out, over_output=cap.over)
        return ExecResult(status, exit_code, cap.text("stdout"), cap.text("stderr"), self.wall, detail)


def _pidfd_of_child(pid: int, parent: int) -> int | None:
    """A pidfd for `pid` if it is still the child of `parent` (bwrap), else None."""
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return None
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        ppid = -1
    if ppid != parent:
        os.close(fd)
        return None
    return fd


def start_box(bwrap_args: Callable[[int], list[str]], limits: Limits, uid: int) -> Box:
    """Start bwrap running boot.py under `limits`' rlimits as `uid`; `bwrap_args(status_fd)` builds bwrap's argv.

    RLIMIT_NPROC counts bwrap and the init as well: the program's own tree gets exactly `limits.pids`.
    """
    status_r, status_w = os.pipe()
    try:
        cmd = rlimit_prefix(limits, helpers=2) + drop_privileges_prefix(uid) + bwrap_args(status_w)
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=[status_w],
            env=HOST_TOOLS_ENV,
            start_new_session=True,
        )
    except BaseException:
        os.close(status_r)
        raise
    finally:
        os.close(status_w)
    return Box(proc, status_r, limits_key(limits), time.monotonic())
