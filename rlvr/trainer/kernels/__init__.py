"""Fused kernels for the trainer: per-token log-probabilities and entropies over a large vocabulary.

    from rlvr.trainer.kernels import fused_logprobs, reference_logprobs
    logp, entropy = fused_logprobs(hidden, lm_head_weight, targets, temperature=1.0)   # autograd-aware

hidden [N, H], lm_head_weight [V, H], targets [N] int64 -> logp, entropy float32 [N]:
logp[i] = log_softmax(hidden[i] @ W.T / T)[targets[i]], entropy[i] = -Σ_j p_j log p_j of that softmax.
Rows with targets == ignore_index give 0 for both and get zero gradient. The [N, V] logits are never
held in memory at once (except by `reference_logprobs`, the plain PyTorch version).

Implementations (`impl=`): "triton" (triton_logprobs.py: fused tiles, online log-sum-exp; CUDA, or
CPU under TRITON_INTERPRET=1), "chunked" (reference.py: [tokens x vocab] tiles, recomputed in
backward), "reference" (reference.py: plain PyTorch). None picks Triton for CUDA tensors and for CPU
tensors when TRITON_INTERPRET=1, else "chunked"; float64 always goes to "chunked".

Importing this package does not import torch or triton; they load on first use.
"""

from __future__ import annotations

import os

IMPLS = ("triton", "chunked", "reference")

__all__ = ["IMPLS", "chunked_logprobs", "fused_logprobs", "reference_logprobs"]


def _auto_impl(hidden) -> str:
    import torch

    if hidden.dtype == torch.float64:
        return "chunked"
    if hidden.device.type == "cuda" or os.environ.get("TRITON_INTERPRET", "0") == "1":
        return "triton"
    return "chunked"


def fused_logprobs(hidden, lm_head_weight, targets, temperature=1.0, ignore_index=-100, *, impl=None):
    """Per-token (logp, entropy), float32 [N] each, differentiable w.r.t. hidden and lm_head_weight.

    impl: "triton" | "chunked" | "reference" | None (auto, see the module docstring).
    """
    if impl is not None and impl not in IMPLS:
        raise ValueError(f"impl must be one of {IMPLS} or None, got {impl!r}")
    from .reference import chunked_logprobs, reference_logprobs, validate

    validate(hidden, lm_head_weight, targets, temperature, ignore_index)
    impl = impl or _auto_impl(hidden)
    if impl == "reference":
        return reference_logprobs(hidden, lm_head_weight, targets, temperature, ignore_index)
    if impl == "chunked":
        return chunked_logprobs(hidden, lm_head_weight, targets, temperature, ignore_index)
    from .triton_logprobs import triton_logprobs

    return triton_logprobs(hidden, lm_head_weight, targets, temperature, ignore_index)


def __getattr__(name: str):
    if name in ("reference_logprobs", "chunked_logprobs"):
        from . import reference

        return getattr(reference, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
