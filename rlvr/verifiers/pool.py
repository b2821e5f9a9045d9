"""The verifier pool: verifiers in long-lived, isolated worker processes with a hard per-item timeout.

    from rlvr.verifiers import VerifierPool
    with VerifierPool("math", workers=4) as pool:          # backend="bwrap" (default) | "process" | "ray"
        verdicts = pool.verify_batch(pairs)                  # concurrent across workers, order-preserving

Why: verifiers parse model text with sympy and friends, and a hostile or pathological response must
not hang, crash or escape the trainer. `get_verifier(name)` runs in-process (fast, trusting);
`VerifierPool(name)` is the isolated drop-in (same `verify` / `verify_batch`, a `Verifier` subclass).

How: each worker is a Python process running `rlvr.verifiers.worker.main` (see worker.py for the framing:
length-prefixed JSON, never pickle) in a bubblewrap sandbox (`rlvr.sandbox.bwrap.start_worker`: no network,
read-only system, unprivileged uid, rlimits incl. an address-space cap of `memory_mb`), with only the
Python environment and the verifier's own source bound in. A caller thread takes an idle worker,
writes the request and waits on the worker's pipes with a deadline (selectors: works from any
thread, no SIGALRM). Outcomes an item can get besides the verifier's own verdict:
  * `timeout`: no answer within `item_timeout_s`; the worker's whole process group is killed.
  * `error` (masked by the trainer): the worker died mid-item (segfault, killed, memory cap hit
    hard), answered garbage, or could not start. A response that reliably crashes the parser is a
    verifier bug, not a wrong answer: scoring it 0 would teach the model nothing true, masking it is
    the safe side. A verifier's own MemoryError is caught inside the worker and is an `error` too.
A dead or killed worker is replaced lazily, by the next item that lands on its slot (the start-up
time is not charged to that item's deadline); one found dead while idle is replaced before the item is
sent, so its death never costs that item. A response too large for a frame (64 MiB) is `unparsed`
(the reference's own size: `error`); the rest of a batch goes on. Workers are also recycled after `max_items_per_worker`
items, so slow leaks (caches) cannot grow without bound.

Backends: "bwrap" (default; isolated), "process" (UNSAFE: plain child processes with rlimits and a
scrubbed environment but the host's view of files and network, for machines without bwrap; shares
everything but how a worker starts), "ray" (each Ray actor hosts a one-worker pool of
`ray_worker_backend`, so verification scales past one machine; see pool_ray.py).

The "code" verifier parses nothing itself: it runs each program in a one-shot sandbox of its own (its
`backend` option: bwrap, docker). A sandbox cannot start inside another, so its workers run as plain local
processes (scrubbed environment, no rlimits, which would bind the sandboxes they start) with any pool
backend, and each program is sandboxed on the worker's machine, exactly as in-process. What the pool adds
for code: the hard per-item deadline (it must exceed the verifier's `total_timeout_s` plus start-up; by
default it is 10 s more), dead-worker replacement, and on Ray, code verification on many machines.

Not handled: references that are not JSON values; verifier modules that are not importable from a plain
directory or file (namespace packages spread over several roots, zip imports) and imports from `.pth`-installed paths
other than the verifier's own package.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import queue
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, Protocol

from rlvr.sandbox.base import Limits, kill_group, rlimit_prefix
from rlvr.verifiers.base import Verdict, Verifier
from rlvr.verifiers.worker import FrameReader, FrameTooLarge, ProtocolError, encode_frame, verdict_from_wire

Backend = Literal["bwrap", "process", "ray"]
BACKENDS: tuple[str, ...] = ("bwrap", "process", "ray")
IN_PROCESS_ONLY: dict[str, str] = {}  # verifier name -> why it cannot run in a pool (none, at present)
# Verifiers that parse nothing and only start one-shot sandboxes: their workers are plain processes (see above).
SANDBOXING = {"code"}
_CODE_TOTAL_S, _CODE_MARGIN_S = 30.0, 10.0  # CodeVerifier's total_timeout_s default; pool deadline on top
# Starts the worker loop with the verifier's source roots in front of sys.path (given as arguments).
_BOOTSTRAP = "import sys; sys.path[:0] = sys.argv[1:]; from rlvr.verifiers.worker import main; raise SystemExit(main())"
_STDERR_TAIL = 8192
_DOCKER_ENV = ("DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY")
_WORKER_PIDS = 16  # processes and threads of one worker's uid (the interpreter, bwrap's two helpers, slack)
_WORKER_CPU_S = 10**7  # the per-item deadline is the real limit; RLIMIT_CPU would kill a long-lived worker


class WorkerFailed(Exception):
    """A worker could not start, died, or broke the protocol. `config`: the caller's options were bad."""

    def __init__(self, detail: str, config: bool = False) -> None:
        super().__init__(detail)
        self.config = config


class WorkerTimeout(Exception):
    """A worker did not answer before the item's deadline."""


@dataclasses.dataclass(frozen=True)
class WorkerSpec:
    """What a worker runs and what it needs, resolved once in the caller's process (picklable, for Ray).

    target: "package.module:Class" of the verifier; options: its constructor's keyword arguments.
    source_paths: the verifier's and rlvr's source (directories or files) to bind into the sandbox;
    sys_path: their import roots, put in front of the worker's sys.path.
    """

    target: str
    options: dict[str, Any]
    source_paths: tuple[str, ...]
    sys_path: tuple[str, ...]
    memory_mb: int
    item_timeout_s: float
    start_timeout_s: float
    sandboxed: bool = True  # False: the worker runs as a plain process (a verifier in SANDBOXING)


def _readable(pipe: Any) -> bool:
    """Whether `pipe` has data or EOF waiting right now."""
    with selectors.DefaultSelector() as sel:
        sel.register(pipe, selectors.EVENT_READ)
        return bool(sel.select(0))


def _oversize(response: str, reference: Any, e: FrameTooLarge) -> Verdict:
    """The verdict of an item too large for a worker's frame: the response's failing (unparsed), or the data's."""
    try:
        encode_frame({"reference": reference})
    except FrameTooLarge:
        return Verdict("error", 0.0, None, f"the reference is too large for the verifier pool: {e}")
    return Verdict("unparsed", 0.0, None, f"response of {len(response)} characters not verified: {e}")


def _under(path: str, roots: Iterable[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def _environment_paths() -> list[str]:
    """The interpreter and its prefixes (venv and base), as this process sees them."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    paths.add(os.path.dirname(os.path.realpath(sys.executable)))
    paths |= {os.path.realpath(p) for p in list(paths)}
    return sorted(paths)


def _module_location(module: str) -> tuple[list[str], list[str]]:
    """(paths to bind, import roots) for the top-level package or module that holds `module`."""
    top = module.split(".")[0]
    spec = importlib.util.find_spec(top)
    if spec is None:
        raise ValueError(f"verifier module {module!r} is not importable")
    if spec.submodule_search_locations:
        dirs = [os.path.realpath(d) for d in spec.submodule_search_locations]
        return dirs, [os.path.dirname(d) for d in dirs]
    if not spec.origin or not os.path.isfile(spec.origin):
        raise ValueError(f"verifier module {module!r} is not a plain file or package directory")
    origin = os.path.realpath(spec.origin)
    return [origin], [os.path.dirname(origin)]


def _item_timeout(name: str, options: dict[str, Any], item_timeout_s: float | None) -> float:
    """The pool's per-item deadline: 10 s by default; for code, past the verifier's own total time limit."""
    if name not in SANDBOXING:
        return 10.0 if item_timeout_s is None else item_timeout_s
    total = options.get("total_timeout_s", _CODE_TOTAL_S)
    if isinstance(total, bool) or not isinstance(total, (int, float)):
        return 10.0 if item_timeout_s is None else item_timeout_s  # the worker reports the bad option
    from rlvr.verifiers.code import _STARTUP_S as STARTUP_S

    if item_timeout_s is None:
        return total + STARTUP_S + _CODE_MARGIN_S
    if isinstance(item_timeout_s, (int, float)) and item_timeout_s <= total + STARTUP_S:
        raise ValueError(
            f"item_timeout_s ({item_timeout_s}) must exceed the code verifier's total_timeout_s ({total}) plus "
            f"{STARTUP_S} s of sandbox start-up, or every slow program would be an error instead of a timeout"
        )
    return item_timeout_s


def make_spec(
    name: str, options: dict[str, Any], memory_mb: int, item_timeout_s: float | None, start_timeout_s: float
) -> WorkerSpec:
    """Resolve verifier `name` through the registry and validate the pool's settings."""
    from rlvr.verifiers import _BUILTIN, available_verifiers

    if name in IN_PROCESS_ONLY:
        raise ValueError(f"verifier {name!r} cannot run in a VerifierPool: {IN_PROCESS_ONLY[name]}")
    if name not in _BUILTIN:
        raise ValueError(f"unknown verifier {name!r}; available: {', '.join(available_verifiers())}")
    if isinstance(memory_mb, bool) or not isinstance(memory_mb, int) or memory_mb < 64:
        raise ValueError(f"memory_mb must be an integer of at least 64, got {memory_mb!r}")
    item_timeout_s = _item_timeout(name, options, item_timeout_s)
    for field, value in (("item_timeout_s", item_timeout_s), ("start_timeout_s", start_timeout_s)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"{field} must be a positive number of seconds, got {value!r}")
    try:
        encode_frame({"options": options})
    except (TypeError, ValueError) as e:
        raise ValueError(f"verifier options must be JSON values to reach the worker: {e}") from None
    target = _BUILTIN[name]
    env = _environment_paths()
    paths: list[str] = []
    roots: list[str] = []
    for module in ("rlvr.verifiers.worker", target.split(":")[0]):
        for path, root in zip(*_module_location(module), strict=True):
            # Sources inside the environment (a regular install in site-packages) are there and importable already.
            if not _under(path, env) and path not in paths:
                paths.append(path)
                roots += [root] if root not in roots else []
    sandboxed = name not in SANDBOXING
    spec = (target, dict(options), tuple(paths), tuple(roots), memory_mb, item_timeout_s, start_timeout_s, sandboxed)
    return WorkerSpec(*spec)


class _UidSlots:
    """Process-wide worker slots 0..255: each live bwrap worker has its own unprivileged uid."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._free = list(range(256))

    def take(self) -> int:
        with self._lock:
            if not self._free:
                raise WorkerFailed("more than 256 sandboxed verifier workers in one process")
            return self._free.pop(0)

    def give(self, slot: int) -> None:
        with self._lock:
            self._free.append(slot)


_UID_SLOTS = _UidSlots()


def _worker_argv(spec: WorkerSpec) -> list[str]:
    return [sys.executable, "-I", "-B", "-c", _BOOTSTRAP, *spec.sys_path]


def _worker_limits(spec: WorkerSpec) -> Limits:
    return Limits(wall_s=spec.item_timeout_s, cpu_s=_WORKER_CPU_S, memory_mb=spec.memory_mb, pids=_WORKER_PIDS)


class Endpoint(Protocol):
    """One worker as the pool sees it: local process or Ray actor."""

    def wait_ready(self, deadline: float) -> None: ...
    def call(self, response: str, reference: Any) -> Verdict: ...
    def kill(self) -> None: ...
    def worker_pids(self) -> list[int]: ...
    def alive(self) -> bool: ...


class LocalWorker:
    """Host side of one worker process (bwrap or plain): start, handshake, one item at a time, kill.

    Not thread-safe for `call` (the pool hands a worker to one thread at a time); `kill` may come
    from any thread at any moment (pool.close) and makes a running `call` fail.
    """

    def __init__(self, spec: WorkerSpec, backend: str) -> None:
        self.spec = spec
        self._kill_lock = threading.Lock()
        self._killed = False
        self._uid_slot: int | None = None
        self._reader = FrameReader()
        self._stderr = bytearray()
        self._next_id = 0
        if backend == "bwrap" and spec.sandboxed:
            from rlvr.sandbox.bwrap import start_worker

            self._uid_slot = _UID_SLOTS.take()
            try:
                self.proc = start_worker(
                    _worker_argv(spec),
                    [*_environment_paths(), *spec.source_paths],
                    _worker_limits(spec),
                    self._uid_slot,
                )
            except BaseException:
                _UID_SLOTS.give(self._uid_slot)
                raise
        elif backend in ("bwrap", "process"):
            env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/nonexistent"}
            if not spec.sandboxed:  # it starts sandboxes: where the Docker engine is, if it is not the default
                env |= {k: v for k, v in os.environ.items() if k in _DOCKER_ENV}
            self.proc = subprocess.Popen(
                (rlimit_prefix(_worker_limits(spec)) if spec.sandboxed else []) + _worker_argv(spec),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                cwd="/",
                start_new_session=True,
            )
        else:
            raise ValueError(f"unknown local worker backend {backend!r}")
        os.set_blocking(self.proc.stdin.fileno(), False)

    def wait_ready(self, deadline: float) -> None:
        reply = self._exchange({"target": self.spec.target, "options": self.spec.options}, deadline)
        if reply.get("ready") is True:
            return
        if isinstance(reply.get("fatal"), str):
            raise WorkerFailed(f"the verifier failed to start: {reply['fatal']}", config=reply.get("config") is True)
        raise WorkerFailed(f"unexpected start-up reply {str(reply)[:200]!r}")

    def call(self, response: str, reference: Any) -> Verdict:
        self._next_id += 1
        message = {"id": self._next_id, "response": response, "reference": reference}
        reply = self._exchange(message, time.monotonic() + self.spec.item_timeout_s)
        if reply.get("id") != self._next_id or "verdict" not in reply:
            raise WorkerFailed(f"worker answered out of protocol: {str(reply)[:200]!r}")
        try:
            return verdict_from_wire(reply["verdict"])
        except ProtocolError as e:
            raise WorkerFailed(f"worker answered garbage: {e}") from None

    def _exchange(self, message: dict[str, Any], deadline: float) -> dict[str, Any]:
        """Write one frame and read one back before `deadline`; never blocks past it."""
        frame = encode_frame(message)
        try:
            return self._pump(frame, deadline)
        except (OSError, ValueError) as e:  # a pipe closed under us by kill() from another thread
            raise WorkerFailed("verifier worker was stopped" if self._killed else f"pipe error: {e}") from None

    def _pump(self, frame: bytes, deadline: float) -> dict[str, Any]:
        out = memoryview(frame)
        proc = self.proc
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdin, selectors.EVENT_WRITE, "stdin")
            sel.register(proc.stdout, selectors.EVENT_READ, "stdout")
            sel.register(proc.stderr, selectors.EVENT_READ, "stderr")
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise WorkerTimeout
                for key, _ in sel.select(remaining):
                    if key.data == "stdin":
                        try:
                            out = out[os.write(key.fd, out) :]
                        except BlockingIOError:
                            continue
                        except BrokenPipeError:
                            raise WorkerFailed(self._death()) from None
                        if not out:
                            sel.unregister(key.fileobj)
                        continue
                    data = os.read(key.fd, 1 << 16)
                    if key.data == "stderr":
                        if not data:
                            sel.unregister(key.fileobj)
                        self._stderr += data
                        del self._stderr[:-_STDERR_TAIL]
                        continue
                    if not data:
                        raise WorkerFailed(self._death())
                    self._reader.feed(data)
                    try:
                        reply = self._reader.next_frame()
                    except ProtocolError as e:
                        raise WorkerFailed(f"worker answered garbage: {e}") from None
                    if reply is not None:
                        if self._reader.buffer:
                            raise WorkerFailed("worker answered more than one frame")
                        return reply

    def _death(self) -> str:
        """Why the worker's output ended: its exit status and the last line of its stderr."""
        try:
            code = self.proc.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            code = None
        if self._killed:
            how = "was stopped"
        elif code is None:
            how = "closed its output"
        elif code < 0 or code > 128:
            signum = -code if code < 0 else code - 128
            how = f"was killed by signal {signal.Signals(signum).name if signum < 65 else signum}"
        else:
            how = f"exited with code {code}"
        tail = bytes(self._stderr).decode("utf-8", "replace").strip().splitlines()
        last = f": {tail[-1][:300]}" if tail else ""
        if "MemoryError" in bytes(self._stderr).decode("utf-8", "replace"):
            last = f" (memory limit of {self.spec.memory_mb} MB){last}"
        return f"verifier worker {how}{last}"

    def alive(self) -> bool:
        """False when the idle worker is gone (its output ended) or said something unasked (it is broken)."""
        try:
            return not _readable(self.proc.stdout)
        except (OSError, ValueError):
            return False

    def kill(self) -> None:
        with self._kill_lock:
            if self._killed:
                return
            self._killed = True
        kill_group(self.proc)
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                pipe.close()
            except OSError:
                pass
        if self._uid_slot is not None:
            _UID_SLOTS.give(self._uid_slot)

    def worker_pids(self) -> list[int]:
        """The host pid of the worker's process-group leader (bwrap's monitor, or the interpreter)."""
        return [self.proc.pid]


@dataclasses.dataclass
class _Slot:
    index: int
    endpoint: Endpoint | None = None
    items: int = 0


class VerifierPool(Verifier):
    """Verifier `verifier_name` run by `workers` isolated worker processes; see the module docstring.

    Thread-safe: any number of threads may call `verify` at once (at most `workers` items run at a
    time, the rest wait for a free worker). The constructor starts every worker and waits until they
    are ready: a bad verifier option raises ValueError here, a sandbox that cannot start raises
    RuntimeError (SandboxUnavailable when bwrap is missing).

    The verifier's options: keyword arguments, or `options` for names the pool uses itself (the code
    verifier's sandbox `backend`: `VerifierPool("code", backend="ray", options={"backend": "bwrap"})`).
    """

    def __init__(
        self,
        verifier_name: str,
        workers: int | None = None,
        backend: Backend = "bwrap",
        item_timeout_s: float | None = None,
        memory_mb: int = 1024,
        start_timeout_s: float = 60.0,
        max_items_per_worker: int = 10_000,
        ray_worker_backend: str = "bwrap",
        options: dict[str, Any] | None = None,
        **verifier_options: Any,
    ) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"unknown pool backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        if ray_worker_backend not in ("bwrap", "process"):
            raise ValueError(f"ray_worker_backend must be 'bwrap' or 'process', got {ray_worker_backend!r}")
        verifier_options = {**(options or {}), **verifier_options}
        spec = make_spec(verifier_name, verifier_options, memory_mb, item_timeout_s, start_timeout_s)
        self.name = verifier_name
        self._setup(spec, workers, backend, max_items_per_worker, ray_worker_backend)

    @classmethod
    def from_spec(cls, spec: WorkerSpec, workers: int = 1, backend: str = "bwrap") -> VerifierPool:
        """A pool for an already resolved spec (how a Ray actor builds its local pool)."""
        pool = cls.__new__(cls)
        pool.name = spec.target
        pool._setup(spec, workers, backend, 10_000, "bwrap")
        return pool

    def _setup(
        self, spec: WorkerSpec, workers: int | None, backend: str, max_items: int, ray_worker_backend: str
    ) -> None:
        n = (os.cpu_count() or 1) if workers is None else workers
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 256:
            raise ValueError(f"workers must be an integer in 1..256, got {workers!r}")
        if isinstance(max_items, bool) or not isinstance(max_items, int) or max_items < 1:
            raise ValueError(f"max_items_per_worker must be a positive integer, got {max_items!r}")
        self.spec, self.backend, self.workers, self.max_items_per_worker = spec, backend, n, max_items
        if backend == "ray":
            from rlvr.verifiers.pool_ray import RayWorker

            self._spawn = lambda: RayWorker(spec, ray_worker_backend)
        else:
            if backend == "bwrap":
                from rlvr.sandbox.bwrap import SandboxUnavailable, unavailable_reason

                if why := unavailable_reason():
                    raise SandboxUnavailable(f"the bwrap verifier pool cannot start: {why}")
            self._spawn = lambda: LocalWorker(spec, backend)
        self._lock = threading.Lock()
        self._closed = False
        self._executor: ThreadPoolExecutor | None = None
        # Workers are started from this one long-lived thread: bwrap's --die-with-parent fires when the
        # *thread* that started it exits, and a caller's thread (a batch executor's, a user's) may.
        self._spawner = ThreadPoolExecutor(1, thread_name_prefix="verifier-pool-spawn")
        self._slots = [_Slot(i) for i in range(n)]
        self._idle: queue.SimpleQueue[_Slot] = queue.SimpleQueue()
        try:
            for slot in self._slots:
                self._spawn_into(slot)
            deadline = time.monotonic() + spec.start_timeout_s
            for slot in self._slots:
                slot.endpoint.wait_ready(deadline)
        except WorkerFailed as e:
            self.close()
            raise (ValueError if e.config else RuntimeError)(f"verifier pool could not start: {e}") from None
        except WorkerTimeout:
            self.close()
            raise RuntimeError(f"verifier pool workers not ready within {spec.start_timeout_s}s") from None
        except BaseException:
            self.close()
            raise
        for slot in self._slots:
            self._idle.put(slot)

    def _spawn_into(self, slot: _Slot) -> Endpoint:
        with self._lock:  # a worker is never started after close() has collected them all
            if self._closed:
                raise WorkerFailed("the pool is closed")
            slot.endpoint, slot.items = self._spawner.submit(self._spawn).result(), 0
            return slot.endpoint

    def _retire(self, slot: _Slot) -> None:
        endpoint, slot.endpoint = slot.endpoint, None
        if endpoint is not None:
            endpoint.kill()

    def verify(self, response: str, reference: Any) -> Verdict:
        """Verify one response in a worker; never raises on model output (see the module docstring)."""
        if self._closed:
            raise RuntimeError("the verifier pool is closed")
        slot = self._idle.get()
        try:
            return self._verify_on(slot, response, reference)
        finally:
            self._idle.put(slot)

    def _verify_on(self, slot: _Slot, response: str, reference: Any) -> Verdict:
        endpoint = slot.endpoint
        if endpoint is not None and not endpoint.alive():  # it died while idle: not this item's doing
            self._retire(slot)
            endpoint = None
        if endpoint is None:
            try:
                endpoint = self._spawn_into(slot)
                endpoint.wait_ready(time.monotonic() + self.spec.start_timeout_s)
            except (WorkerFailed, WorkerTimeout, OSError) as e:
                self._retire(slot)
                why = str(e) or f"not ready within {self.spec.start_timeout_s}s"
                return Verdict("error", 0.0, None, f"verifier worker could not start: {why}")
        try:
            verdict = endpoint.call(response, reference)
        except FrameTooLarge as e:
            return _oversize(response, reference, e)
        except WorkerTimeout:
            self._retire(slot)
            t = self.spec.item_timeout_s
            return Verdict("timeout", 0.0, None, f"verification took longer than {t}s; worker killed")
        except WorkerFailed as e:
            self._retire(slot)
            return Verdict("error", 0.0, None, str(e))
        slot.items += 1
        if slot.items >= self.max_items_per_worker:
            self._retire(slot)
        return verdict

    def verify_batch(self, pairs: Iterable[tuple[str, Any]], max_workers: int | None = None) -> list[Verdict]:
        """Verify (response, reference) pairs on all workers at once; the result keeps the input order."""
        pairs = list(pairs)
        if len(pairs) <= 1 or max_workers == 1:
            return [self.verify(r, ref) for r, ref in pairs]
        with self._lock:
            if self._closed:
                raise RuntimeError("the verifier pool is closed")
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="verifier-pool")
            executor = self._executor
        return list(executor.map(lambda p: self.verify(*p), pairs))

    def worker_pids(self) -> list[int]:
        """Host pids of the live workers' process-group leaders, on their nodes (for tests and monitoring)."""
        return [pid for s in self._slots if s.endpoint is not None for pid in s.endpoint.worker_pids()]

    def close(self) -> None:
        """Kill every worker (items in flight get `error`) and refuse new items. Idempotent."""
        with self._lock:
            self._closed = True
            endpoints = [s.endpoint for s in self._slots if s.endpoint is not None]
            executor, self._executor = self._executor, None
        for endpoint in endpoints:
            endpoint.kill()
        for ex in (executor, getattr(self, "_spawner", None)):
            if ex is not None:
                ex.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> VerifierPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_slots", None) is not None and not getattr(self, "_closed", True):
            self.close()
