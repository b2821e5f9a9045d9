"""Run the Triton kernel tests on CPU through Triton's interpreter when there is no GPU.

TRITON_INTERPRET is read when `@triton.jit` decorates, i.e. when rlvr.trainer.kernels.triton_logprobs is
first imported, so it is set here, before the test modules of this folder are imported. With a CUDA
device the kernels are compiled and the same tests run on the GPU.
"""

import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
