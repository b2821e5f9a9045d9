"""The kernel tests' Triton interpreter does not leak into the rest of the suite: trainer tests exercise the log-prob
path a CPU user gets (chunked), whether or not tests/trainer/kernels ran (or was collected) in the same process."""

from __future__ import annotations

import os

import torch

from rlvr.trainer.kernels import fused_logprobs


def test_trainer_tests_run_the_chunked_path_on_cpu():
    if torch.cuda.is_available():
        return  # on a GPU, CUDA tensors take Triton by design; the CPU path below is still checked
    assert os.environ.get("TRITON_INTERPRET") is None  # the kernels' conftest set it for its own tests only
    hidden = torch.randn(3, 8, requires_grad=True)
    logp, _ = fused_logprobs(hidden, torch.randn(5, 8), torch.tensor([0, 1, 4]))
    assert "Chunked" in type(logp.grad_fn).__name__
