"""Docker backend: one throw-away container per run, through the `docker` SDK (~300 ms a run).

Each container: no network (`network_mode=none`), read-only root file system, the work dir `/box`
as a tmpfs capped at `Limits.disk_mb`, user nobody, all capabilities dropped, no-new-privileges,
cgroup limits on memory (no swap), pids and one CPU, rlimits on CPU time and file size, and no
log driver (output is streamed from the attach socket with a byte cap, so a flood never reaches
the daemon's disk).

PID 1 in the container is a small bootstrap that copies the input files into `/box`, runs the
program with stdin from a file, kills every leftover process when the program exits, and exits
on its own at `wall_s + 2` even if nobody is watching. Containers carry an owner label; a reaper
process started with the sandbox removes them if the caller dies, so a crash leaves nothing behind.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

from rlvr.sandbox.base import ExecResult, Limits, OutputCap, Sandbox, SandboxUnavailable, classify
from rlvr.sandbox.image import image_tag

OWNER_LABEL = "rlvr.sandbox.owner"
_GRACE_S = 2.0
_INSTALL_HINT = (
    "install the engine (`apt-get install docker.io`), start it (`dockerd` or `systemctl start docker`), "
    "then build the image with `rlvr sandbox build-image`"
)

# PID 1 in the container. argv: wall_s, then the program's argv. Exits 128+n when the program died of signal n.
_BOOTSTRAP = """\
import os, signal, shutil, sys
def stop(*_):
    try: os.kill(-1, 9)
    except OSError: pass
    os._exit(137)
signal.signal(signal.SIGALRM, stop)
signal.setitimer(signal.ITIMER_REAL, float(sys.argv[1]))
for name in os.listdir('/in'):
    if name != '.stdin':
        src, dst = '/in/' + name, '/box/' + name
        shutil.copytree(src, dst) if os.path.isdir(src) else shutil.copy2(src, dst)
pid = os.fork()
if pid == 0:
    fd = os.open('/in/.stdin', os.O_RDONLY); os.dup2(fd, 0); os.close(fd)
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    try: os.execvp(sys.argv[2], sys.argv[2:])
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


class DockerSandbox(Sandbox):
    """Runs each program in a fresh container of the locally built image; see the module docstring."""

    name = "docker"

    def __init__(self, max_concurrency: int | None = None, image: str | None = None) -> None:
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
        self.owner = f"{os.uname().nodename}:{os.getpid()}:{id(self)}"
        # The reaper removes this sandbox's containers when our end of its stdin closes, i.e. when we exit or die.
        self._reaper = subprocess.Popen(
            [sys.executable, "-m", "rlvr.sandbox.reaper", OWNER_LABEL, self.owner],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )

    def _run(self, argv: list[str], files: dict[str, bytes], stdin: bytes, limits: Limits, slot: int) -> ExecResult:
        from docker.types import LogConfig, Ulimit

        indir = tempfile.mkdtemp(prefix="rlvr-docker-")
        container = None
        try:
            os.chmod(indir, 0o755)
            for name, data in {**files, ".stdin": stdin}.items():
                path = os.path.join(indir, name)
                os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
                with open(path, "wb") as f:
                    f.write(data)
                os.chmod(path, 0o755)
            cpu = max(1, int(limits.cpu_s + 0.999))
            container = self.client.containers.create(
                self.image,
                ["python3", "-I", "-S", "-c", _BOOTSTRAP, str(limits.wall_s + _GRACE_S), *argv],
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
                stdin_open=False,
            )
            stream = container.attach(stdout=True, stderr=True, stream=True, demux=True)
            start = time.monotonic()
            container.start()
            timed_out = threading.Event()
            timer = threading.Timer(limits.wall_s, lambda: (timed_out.set(), _kill(container)))
            timer.start()
            cap = OutputCap(limits.output_bytes)
            try:
                for out, err in stream:
                    if (out and not cap.add("stdout", out)) or (err and not cap.add("stderr", err)):
                        # Stop reading first: the engine can block on an unread attach stream.
                        stream.close()
                        _kill(container)
                        break
                code = container.wait(timeout=limits.wall_s + 2 * _GRACE_S + 30)["StatusCode"]
            finally:
                timer.cancel()
                stream.close()
            wall = time.monotonic() - start
            # Only a SIGKILL can be the OOM killer's; skip the extra API round trip otherwise.
            oom = code == 137 and (container.reload() or bool(container.attrs["State"].get("OOMKilled")))
            exit_code = None if timed_out.is_set() or cap.over else code
            status, detail = classify(
                exit_code, cap.raw("stderr"), timed_out=timed_out.is_set(), over_output=cap.over, oom=oom
            )
            return ExecResult(status, exit_code, cap.text("stdout"), cap.text("stderr"), wall, detail)
        finally:
            if container is not None:
                try:
                    container.remove(force=True)
                except Exception:  # noqa: BLE001 - the reaper and the owner label are the backstop
                    pass
            shutil.rmtree(indir, ignore_errors=True)

    def close(self) -> None:
        if self._reaper.poll() is None:
            self._reaper.stdin.close()
            self._reaper.wait(30)


def _kill(container) -> None:
    try:
        container.kill()
    except Exception:  # noqa: BLE001 - already gone is fine
        pass


def unavailable_reason() -> str | None:
    """Why the Docker backend cannot run here (no SDK, no engine, no image), or None when it can."""
    try:
        DockerSandbox(max_concurrency=1).close()
    except SandboxUnavailable as e:
        return str(e)
    return None
