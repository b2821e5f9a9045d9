"""Run untrusted programs: bubblewrap (default), Docker, or a plain process (unsafe, opt-in).

    from rlvr.sandbox import Limits, get_sandbox
    sb = get_sandbox("auto")
    res = sb.run(["python3", "main.py"], files={"main.py": code}, stdin="", limits=Limits(wall_s=5))

Every run: no network, read-only system, private writable work dir, no secrets in the environment,
and nothing left behind (processes, files, containers) when it returns, also after a timeout.
Sandboxes are thread-safe pools: `get_sandbox` returns one shared instance per backend.
"""

from __future__ import annotations

import importlib
import threading

from rlvr.sandbox.base import ExecResult, Limits, Sandbox, SandboxUnavailable

BACKENDS = ("bwrap", "docker", "process")
_CLASSES = {
    "bwrap": "rlvr.sandbox.bwrap:BwrapSandbox",
    "docker": "rlvr.sandbox.docker:DockerSandbox",
    "process": "rlvr.sandbox.process:ProcessSandbox",
}


def unavailable_reason(backend: str) -> str | None:
    """Why `backend` cannot run on this machine, or None when it can."""
    if backend == "process":
        return None
    _check_name(backend, auto=False)
    return importlib.import_module(f"rlvr.sandbox.{backend}").unavailable_reason()


def _check_name(backend: str, auto: bool = True) -> None:
    allowed = (*BACKENDS, "auto") if auto else BACKENDS
    if backend not in allowed:
        raise ValueError(f"unknown sandbox backend {backend!r}; choose one of {', '.join(allowed)}")


_SHARED: dict[tuple[str, int | None], Sandbox] = {}
_SHARED_LOCK = threading.Lock()


def get_sandbox(backend: str = "auto", max_concurrency: int | None = None) -> Sandbox:
    """The shared sandbox for `backend`: "bwrap" | "docker" | "process" | "auto" (one per process and arguments;
    once someone closes it, the next call makes a new one).

    "auto" picks bwrap, then Docker; it never falls back to the unsafe process backend. Raises
    SandboxUnavailable (saying what is missing and how to install it) when no backend can run.
    """
    with _SHARED_LOCK:
        sandbox = _SHARED.get((backend, max_concurrency))
        if sandbox is None or sandbox.closed:
            sandbox = _SHARED[(backend, max_concurrency)] = make_sandbox(backend, max_concurrency)
        return sandbox


def _forget_shared() -> None:
    """Forget the shared sandboxes (without closing them): the next `get_sandbox` makes new ones."""
    with _SHARED_LOCK:
        _SHARED.clear()


get_sandbox.cache_clear = _forget_shared  # type: ignore[attr-defined] - functools.cache's name, kept for callers


def make_sandbox(backend: str = "auto", max_concurrency: int | None = None) -> Sandbox:
    """A new sandbox of its own (not the shared one): same arguments and errors as `get_sandbox`."""
    _check_name(backend)
    if backend == "auto":
        reasons = {b: unavailable_reason(b) for b in ("bwrap", "docker")}
        usable = [b for b, why in reasons.items() if why is None]
        if not usable:
            lines = "\n".join(f"  {b}: {why}" for b, why in reasons.items())
            raise SandboxUnavailable(
                f"no safe sandbox backend is available:\n{lines}\n"
                'For development only, get_sandbox("process") runs programs without isolation.'
            )
        backend = usable[0]
    elif backend != "process" and (why := unavailable_reason(backend)):
        raise SandboxUnavailable(f"the {backend} sandbox is unavailable: {why}")
    module, cls = _CLASSES[backend].split(":")
    return getattr(importlib.import_module(module), cls)(max_concurrency=max_concurrency)


__all__ = [
    "BACKENDS",
    "ExecResult",
    "Limits",
    "Sandbox",
    "SandboxUnavailable",
    "get_sandbox",
    "make_sandbox",
    "unavailable_reason",
]
