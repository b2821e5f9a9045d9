"""Run the Triton kernel tests on CPU through Triton's interpreter when there is no GPU, and only these tests.

TRITON_INTERPRET is read when `@triton.jit` decorates, i.e. when rlvr.trainer.kernels.triton_logprobs is
first imported: this conftest imports it with TRITON_INTERPRET=1 and then puts the variable back as it was, so
the rest of the suite keeps its own log-prob path (`fused_logprobs` picks Triton for CPU tensors when the
variable is set at call time, the chunked path otherwise). While a test of this folder runs, the variable is
set again (`_triton_interpreter`). With a CUDA device the kernels are compiled and the same tests run on the GPU.
"""

import os

import pytest
import torch

INTERPRET = not torch.cuda.is_available()

if INTERPRET:
    _before = os.environ.get("TRITON_INTERPRET")
    os.environ["TRITON_INTERPRET"] = "1"
    try:
        import rlvr.trainer.kernels.triton_logprobs  # noqa: F401 - decorates its kernels for the interpreter
    finally:
        if _before is None:
            del os.environ["TRITON_INTERPRET"]
        else:
            os.environ["TRITON_INTERPRET"] = _before


@pytest.fixture(autouse=True)
def _triton_interpreter(monkeypatch):
    """TRITON_INTERPRET=1 for the duration of each test of this folder (on a machine without CUDA)."""
    if INTERPRET:
        monkeypatch.setenv("TRITON_INTERPRET", "1")
