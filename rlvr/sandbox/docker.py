"""Docker backend: one throw-away container per run, through the `docker` SDK.

Each container: no network (`network_mode=none`), read-only root file system, the work dir `/box`
as a tmpfs capped at `Limits.disk_mb`, user nobody, all capabilities dropped, no-new-privileges,
cgroup limits on memory (no swap), pids and one CPU, rlimits on CPU time and file size, and no
log driver (output is streamed from the attach socket with a byte cap, so a flood never reaches
the daemon's disk).

Starting a container costs ~300 ms inside dockerd, containerd and runc, so it is kept off the
critical path: each pool slot holds a *spare*, a container already started whose PID 1 (a small
bootstrap) waits for its job on the attached stdin. A run takes its slot's spare and at once
starts the next one in the background, writes its files and stdin into the spare's input dir (a
host temp dir bind-mounted read-only at `/in`: files under `/in/files`, stdin at `/in/stdin`), and sends the
argv. The bootstrap acknowledges with one byte before anything untrusted runs, copies the files into
`/box`, runs the program with stdin from a file, kills every leftover process when it exits, and exits itself (at
`wall_s + 2` at the latest, even if nobody is watching). A spare never serves a second run.
Without a ready spare (first run of a slot, other limits than the spare's) the run starts one
itself. Back to back, runs are bound by how fast containers start; the spare helps when runs
come in bursts with gaps, as between the generation steps of a training run.

What "nothing left behind" means here: when `run` returns, its container has exited (so no
process of the run is alive); the stopped container and its input dir are removed by a
background thread right after, and `close()` waits for those removals and removes the spares.
Containers carry an owner label; a reaper process started with the sandbox removes all of them
(spares included) and the input dirs when the caller exits without `close()` or dies, and an idle
spare also exits by itself when its attach connection drops.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import Future, wait
from typing import Any

from rlvr.sandbox.base import ExecResult, Limits, OutputCap, Sandbox, SandboxUnavailable, classify
from rlvr.sandbox.image import image_tag
from rlvr.sandbox.reaper import CLOSED

OWNER_LABEL = "rlvr.sandbox.owner"
_GRACE_S = 2.0
_ACK = b"\0"
_INSTALL_HINT = (
    "install the engine (`apt-get install docker.io`), start it (`dockerd` or `systemctl start docker`), "
    "then build the image with `rlvr sandbox build-image`"
)

# PID 1 in the container. argv: wall_s. Makes itself non-dumpable (else the program, same uid, could write to the
# container's stdout through /proc/1/fd/1 and forge what a harness reports). Reads the program's argv as one JSON
# line on stdin, writes the one-byte acknowledgement on stdout, then runs it. Exits 128+n when the program died of
# signal n.
_BOOTSTRAP = """\
import ctypes, json, os, signal, shutil, sys
ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0: the program cannot open /proc/1/fd/* (our stdout)
job = b''
while not job.endswith(b'\\n'):
    chunk = os.read(0, 65536)
    if not chunk: os._exit(0)
    job += chunk
def stop(*_):
    try: os.kill(-1, 9)
    except OSError: pass
    os._exit(137)
signal.signal(signal.SIGALRM, stop)
signal.setitimer(signal.ITIMER_REAL, float(sys.argv[1]))
argv = json.loads(job)
os.write(1, b'\\0')
fd = os.open('/in/stdin', os.O_RDONLY); os.dup2(fd, 0); os.close(fd)
for name in os.listdir('/in/files'):
    src, dst = '/in/files/' + name, '/box/' + name
    shutil.copytree(src, dst) if os.path.isdir(src) else shutil.copy2(src, dst)
pid = os.fork()
if pid == 0:
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    try: os.execvp(argv[0], argv)
    except OSError as e: os.write(2, ('exec failed: %s\\n' % e).encode()); os._exit(127)
code = 1
while True:
    try: p, st = os.waitpid(-1, 0)
    except ChildProcessError: break
    if p == pid:
        code = os.waitstatus_to_exitcode(st); code = 128 - code if code < 0 else code
        break
try: os.kill(-1, 9)
except OSError: pass
os._exit(code)
"""


def _client():
    try:
        import docker
    except ImportError as e:
        raise SandboxUnavailable("the `docker` Python package is missing: pip install docker") from e
    try:
        client = docker.from_env(timeout=60)
        client.ping()
    except Exception as e:  # noqa: BLE001 - any failure to reach the engine means "unavailable"
        raise SandboxUnavailable(f"cannot reach a Docker engine ({type(e).__name__}: {e}); {_INSTALL_HINT}") from e
    return client


@dataclasses.dataclass
class _Box:
    """A started container whose bootstrap waits for a job, its attach socket and its input dir."""

    container: Any
    sock: socket.socket
    indir: str
    limits: Limits
    phases_ms: dict[str, float]  # create_ms, attach_ms, start_ms: for benchmarks/sandbox.py


class DockerSandbox(Sandbox):
    """Runs each program in a fresh container of the locally built image; see the module docstring.

    spares: keep one started container per pool slot ready for the next run (the default).
    `phase_log` keeps the last runs' phase durations in ms (for benchmarks/sandbox.py).
    """

    name = "docker"

    def __init__(self, max_concurrency: int | None = None, image: str | None = None, spares: bool = True) -> None:
        super().__init__(max_concurrency)
        import docker.errors

        self.client = _client()
        self.image = image or image_tag()
        try:
            self.client.images.get(self.image)
        except docker.errors.ImageNotFound as e:
            raise SandboxUnavailable(
                f"the sandbox image {self.image} is not built: run `rlvr sandbox build-image`"
            ) from e
        self.spares = spares
        self.owner = f"{os.uname().nodename}:{os.getpid()}:{id(self)}"
        # Every container's input dir lives under this one, which close() or the reaper removes.
        self.tmpdir = tempfile.mkdtemp(prefix="rlvr-docker-")
        os.chmod(self.tmpdir, 0o755)
        self.phase_log: collections.deque[dict[str, float]] = collections.deque(maxlen=10_000)
        self._lock = threading.RLock()
        self._closed = False
        self._spare: dict[int, tuple[Limits, Future[_Box]]] = {}
        self._tasks: set[Future] = set()  # spares being started and containers being removed
        # The reaper removes this sandbox's containers when our end of its stdin closes, i.e. when we exit or die.
        self._reaper = subprocess.Popen(
            [sys.executable, "-m", "rlvr.sandbox.reaper", OWNER_LABEL, self.owner, self.tmpdir],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )

    def _run(self, argv: list[str], files: dict[str, bytes], stdin: bytes, limits: Limits, slot: int) -> ExecResult:
        t0 = time.monotonic()
        box, spare = self._take(slot, limits)
        phases = {"take_ms": 1000 * (time.monotonic() - t0), "spare": float(spare)}
        try:
            result = self._execute(box, argv, files, stdin, limits, phases)
        finally:
            self._discard(box)
        if result is None and spare:
            # The spare died before it got the job (engine restart, killed from outside): nothing ran yet.
            box = self._start(limits)
            try:
                result = self._execute(box, argv, files, stdin, limits, phases)
            finally:
                self._discard(box)
        if result is None:
            return ExecResult("error", None, "", "", 0.0, "docker sandbox failed: the container never took the job")
        phases["total_ms"] = 1000 * (time.monotonic() - t0)
        self.phase_log.append(phases)
        return result

    def _take(self, slot: int, limits: Limits) -> tuple[_Box, bool]:
        """This slot's spare if it has `limits` (else a container started now), then start the next spare.

        The next spare starts once this run has its container, so that a slot never starts two at once:
        on a small machine more starts in flight only slow each other down.
        """
        with self._lock:
            if self._closed:
                raise RuntimeError("the docker sandbox is closed")
            spare = self._spare.pop(slot, None)
        box = None
        if spare is not None and spare[0] == limits:
            try:
                box = spare[1].result()
            except Exception:  # noqa: BLE001 - a spare that failed to start is replaced by one started now
                pass
        elif spare is not None:
            spare[1].add_done_callback(self._discard_future)
        used_spare = box is not None
        box = box or self._start(limits)
        with self._lock:
            if self.spares and not self._closed:
                self._spare[slot] = (limits, self._background(self._start, limits))
        return box, used_spare

    def warm(self, limits: Limits | None = None) -> None:
        """Give every slot a started spare with `limits` (default Limits()), as a run with them leaves behind;
        returns once they are started. Waits for the runs in flight."""
        limits = limits or Limits()
        slots = [self._slots.get() for _ in range(self.max_concurrency)]
        try:
            futures = []
            for slot in slots:
                with self._lock:
                    if self._closed:
                        raise RuntimeError("the docker sandbox is closed")
                    spare = self._spare.pop(slot, None)
                    if spare is not None and spare[0] == limits and not spare[1].exception():
                        self._spare[slot] = spare
                    else:
                        self._spare[slot] = (limits, self._background(self._start, limits))
                    futures.append(self._spare[slot][1])
                if spare is not None and self._spare[slot] is not spare:
                    spare[1].add_done_callback(self._discard_future)
            wait(futures)
        finally:
            for slot in slots:
                self._slots.put(slot)

    def _discard_future(self, future: Future[_Box]) -> None:
        if future.exception() is None:
            self._discard(future.result())

    def _start(self, limits: Limits) -> _Box:
        """Create, attach to and start a container whose bootstrap then waits for its job."""
        from docker.types import LogConfig, Ulimit

        t0 = time.monotonic()
        indir = tempfile.mkdtemp(dir=self.tmpdir)
        container = None
        try:
            os.chmod(indir, 0o755)
            cpu = max(1, int(limits.cpu_s + 0.999))
            container = self.client.containers.create(
                self.image,
                ["python3", "-I", "-S", "-c", _BOOTSTRAP, str(limits.wall_s + _GRACE_S)],
                network_mode="none",
                ipc_mode="none",  # also means no /dev/shm, which would be writable outside the disk cap
                read_only=True,
                user="65534:65534",
                cap_drop=["ALL"],
                security_opt=["no-new-privileges"],
                mem_limit=f"{limits.memory_mb}m",
                memswap_limit=f"{limits.memory_mb}m",
                pids_limit=limits.pids + 1,
                nano_cpus=1_000_000_000,
                ulimits=[
                    Ulimit(name="cpu", soft=cpu, hard=cpu + 1),
                    Ulimit(name="fsize", soft=limits.disk_mb << 20, hard=limits.disk_mb << 20),
                    Ulimit(name="core", soft=0, hard=0),
                    Ulimit(name="nofile", soft=256, hard=256),
                ],
                tmpfs={"/box": f"rw,exec,size={limits.disk_mb}m,uid=65534,gid=65534,mode=0755"},
                volumes={indir: {"bind": "/in", "mode": "ro"}},
                working_dir="/box",
                hostname="sandbox",
                environment={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/box", "LANG": "C.UTF-8"},
                labels={OWNER_LABEL: self.owner},
                log_config=LogConfig(type="none"),
                # With stdin open the SDK also sets StdinOnce: the engine closes the bootstrap's stdin when our
                # attach connection drops (we died), and an idle spare then exits.
                stdin_open=True,
            )
            t2 = time.monotonic()
            params = {"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
            sock = self.client.api.attach_socket(container.id, params=params)
            # Hijacked HTTP connection: the docker SDK hands back a SocketIO over the real socket.
            sock = getattr(sock, "_sock", sock)
            sock.settimeout(None)
            t3 = time.monotonic()
            container.start()
            t4 = time.monotonic()
            phases = {"create_ms": 1000 * (t2 - t0), "attach_ms": 1000 * (t3 - t2), "start_ms": 1000 * (t4 - t3)}
            return _Box(container, sock, indir, limits, phases)
        except BaseException:
            _remove(container, indir)
            raise

    def _execute(
        self, box: _Box, argv: list[str], files: dict[str, bytes], stdin: bytes, limits: Limits, phases: dict
    ) -> ExecResult | None:
        """Give `box` its job and collect the verdict; None when the bootstrap never acknowledged it."""
        # The files under files/, stdin beside them: no file name of the caller's can collide with stdin.
        entries = {**{f"files/{n}": d for n, d in files.items()}, "stdin": stdin}
        os.makedirs(os.path.join(box.indir, "files"), mode=0o755)
        for name, data in entries.items():
            path = os.path.join(box.indir, name)
            os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
            os.chmod(path, 0o755)
        container = box.container
        start = time.monotonic()
        timed_out = threading.Event()
        timer = threading.Timer(limits.wall_s, lambda: (timed_out.set(), _kill(container)))
        timer.start()
        cap = OutputCap(limits.output_bytes)
        acked = False
        try:
            try:
                box.sock.sendall(json.dumps(argv).encode() + b"\n")
            except OSError:
                return None
            for stream, data in _frames(box.sock):
                if stream == 1 and not acked:
                    acked, data = data[:1] == _ACK, data[1:]
                    if not acked:
                        break
                if (stream == 1 and not cap.add("stdout", data)) or (stream == 2 and not cap.add("stderr", data)):
                    # Stop reading first: the engine can block on an unread attach stream.
                    _shutdown(box.sock)
                    _kill(container)
                    break
            phases["output_ms"] = 1000 * (time.monotonic() - start)
            if not acked and not timed_out.is_set():
                return None
            code = container.wait(timeout=limits.wall_s + 2 * _GRACE_S + 30)["StatusCode"]
        finally:
            timer.cancel()
        wall = time.monotonic() - start
        phases["wait_ms"] = 1000 * wall - phases["output_ms"]
        phases.update(box.phases_ms)
        # Only a SIGKILL can be the OOM killer's; skip the extra API round trip otherwise.
        oom = code == 137 and (container.reload() or bool(container.attrs["State"].get("OOMKilled")))
        exit_code = None if timed_out.is_set() or cap.over else code
        status, detail = classify(
            exit_code, cap.raw("stderr"), timed_out=timed_out.is_set(), over_output=cap.over, oom=oom
        )
        return ExecResult(status, exit_code, cap.text("stdout"), cap.text("stderr"), wall, detail)

    def _discard(self, box: _Box) -> None:
        """Remove a used or unwanted container and its input dir in the background."""
        _shutdown(box.sock)
        self._background(_remove, box.container, box.indir)

    def _background(self, fn, *args) -> Future:
        """Run `fn(*args)` in a daemon thread: a process that exits without close() does not wait for it
        (the reaper removes what it leaves), and close() waits for all of them."""
        future: Future = Future()

        def work() -> None:
            try:
                future.set_result(fn(*args))
            except BaseException as e:  # noqa: BLE001 - handed to whoever waits for the future
                future.set_exception(e)
            finally:
                with self._lock:
                    self._tasks.discard(future)

        with self._lock:
            self._tasks.add(future)
        threading.Thread(target=work, name="rlvr-docker", daemon=True).start()
        return future

    def close(self) -> None:
        """Wait for the runs in flight, remove the spares, wait for pending removals, and stop the reaper."""
        slots = [self._slots.get() for _ in range(self.max_concurrency)]
        with self._lock:
            self._closed = True
            spares, self._spare = [future for _, future in self._spare.values()], {}
        for slot in slots:
            self._slots.put(slot)  # later runs get a slot, then status "error": the sandbox is closed
        for future in spares:
            future.exception()  # wait for it; one that failed to start left nothing behind
            self._discard_future(future)
        while True:
            with self._lock:
                tasks = set(self._tasks)
            if not tasks:
                break
            wait(tasks)
        shutil.rmtree(self.tmpdir, ignore_errors=True)
        if self._reaper.poll() is None:
            self._reaper.stdin.write(CLOSED)
            self._reaper.stdin.close()
            self._reaper.wait(30)


def _frames(sock: socket.socket):
    """(stream, data) frames of a non-tty attach stream: 1 stdout, 2 stderr. Ends at EOF."""
    buf = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return
        buf += chunk
        while len(buf) >= 8:
            stream, size = struct.unpack(">BxxxL", buf[:8])
            if len(buf) < 8 + size:
                break
            yield stream, buf[8 : 8 + size]
            buf = buf[8 + size :]


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


def _kill(container) -> None:
    try:
        container.kill()
    except Exception:  # noqa: BLE001 - already gone is fine
        pass


def _remove(container, indir: str) -> None:
    if container is not None:
        try:
            container.remove(force=True)
        except Exception:  # noqa: BLE001 - the reaper and the owner label are the backstop
            pass
    shutil.rmtree(indir, ignore_errors=True)


def unavailable_reason() -> str | None:
    """Why the Docker backend cannot run here (no SDK, no engine, no image), or None when it can."""
    try:
        DockerSandbox(max_concurrency=1).close()
    except SandboxUnavailable as e:
        return str(e)
    return None
