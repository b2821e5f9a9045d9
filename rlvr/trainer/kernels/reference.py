"""Plain and chunked PyTorch paths for per-token log-probabilities and entropies.

Both compute, for hidden [N, H], weight [V, H], targets [N] and temperature T (z = hidden @ W.T / T,
p = softmax(z) per row):

    logp[i]    = log_softmax(z[i])[targets[i]]
    entropy[i] = -Σ_j p[i, j] log p[i, j]

both float32 [N] (float64 for float64 inputs); rows with targets == ignore_index give 0 and get no
gradient. Targets outside [0, V) other than ignore_index give NaN logprobs (as the Triton path).

`reference_logprobs` is the obvious version: it holds [N, V] logits and lets autograd differentiate
it. It is what every kernel test compares against (in float64).

`chunked_logprobs` runs the same math on chunks of `chunk_tokens` rows inside a
torch.autograd.Function that saves only (hidden, weight, targets, lse, entropy) and recomputes each
chunk's logits in backward, so neither pass holds more than [chunk_tokens, V] logits. Its gradient
w.r.t. z is written out by hand:

    dL/dz_j = a (onehot(t)_j - p_j) - b p_j (log p_j + entropy),   a = dL/dlogp, b = dL/dentropy

and dL/dlogits = dL/dz / T. For bf16/fp16 inputs it computes in fp32 (the weight is upcast once per
forward and once per backward call, and grad_weight is accumulated in fp32): one or two extra [V, H]
fp32 buffers, which is the right trade on a CPU (fp32 matmuls are faster there than bf16 ones, and
bf16-rounded logits would cost ~|z| * 2^-9 nats per token). This is the path the trainer uses where
Triton cannot run; on a GPU the Triton path is much faster and uses less memory.
"""

from __future__ import annotations

import functools

import torch

_DTYPES = (torch.float32, torch.bfloat16, torch.float16, torch.float64)


def validate(hidden, weight, targets, temperature, ignore_index) -> None:
    """Raise ValueError naming the argument when the inputs cannot be used."""
    if not all(isinstance(t, torch.Tensor) for t in (hidden, weight, targets)):
        raise ValueError("hidden, lm_head_weight and targets must be torch.Tensors")
    if hidden.dim() != 2 or weight.dim() != 2:
        raise ValueError(f"hidden must be [N, H] and lm_head_weight [V, H], got {tuple(hidden.shape)} and "
                         f"{tuple(weight.shape)}")  # fmt: skip
    if hidden.shape[1] != weight.shape[1]:
        raise ValueError(f"hidden size mismatch: hidden {tuple(hidden.shape)} vs lm_head_weight {tuple(weight.shape)}")
    if targets.shape != (hidden.shape[0],):
        raise ValueError(f"targets must be [N] = [{hidden.shape[0]}], got {tuple(targets.shape)}")
    if targets.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"targets must be int64 (or int32), got {targets.dtype}")
    if hidden.dtype != weight.dtype or hidden.dtype not in _DTYPES:
        raise ValueError(f"hidden and lm_head_weight must share a dtype in {_DTYPES}, got {hidden.dtype} and "
                         f"{weight.dtype}")  # fmt: skip
    if not (hidden.device == weight.device == targets.device):
        raise ValueError(f"inputs on different devices: {hidden.device}, {weight.device}, {targets.device}")
    if not (isinstance(temperature, (int, float)) and 0 < float(temperature) < float("inf")):
        raise ValueError(f"temperature must be a positive finite number, got {temperature!r}")
    if not isinstance(ignore_index, int):
        raise ValueError(f"ignore_index must be an int, got {ignore_index!r}")


def _out_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def _chunk_stats(h, weight, targets, inv_temp, out_dtype):
    """logits z (fp32/fp64), log-softmax, probabilities, entropy and target-in-range mask for one chunk."""
    z = (h @ weight.t()).to(out_dtype) * inv_temp
    logsm = torch.log_softmax(z, dim=-1)
    p = logsm.exp()
    ent = -(p * logsm).sum(dim=-1)
    in_range = (targets >= 0) & (targets < weight.shape[0])
    return logsm, p, ent, in_range


def reference_logprobs(hidden, lm_head_weight, targets, temperature=1.0, ignore_index=-100):
    """Plain PyTorch: logits -> log_softmax -> gather, and entropy. Holds [N, V]; differentiable by autograd."""
    validate(hidden, lm_head_weight, targets, temperature, ignore_index)
    logsm, p, ent, in_range = _chunk_stats(hidden, lm_head_weight, targets, 1.0 / temperature, _out_dtype(hidden.dtype))
    picked = logsm.gather(1, targets.clamp(0, lm_head_weight.shape[0] - 1).long()[:, None])[:, 0]
    ignored = targets == ignore_index
    logp = torch.where(ignored, 0.0, torch.where(in_range, picked, float("nan")))
    return logp, torch.where(ignored, 0.0, ent)


def masked_upstream(targets, ignore_index, grad_logp, grad_ent, dtype):
    """Upstream gradients of (logprobs, entropy) in `dtype` with ignored tokens zeroed; an output that is not in
    the loss (its gradient is None) contributes zeros. Shared by the chunked and the Triton backward."""
    keep = (targets != ignore_index).to(dtype)
    glp = keep * grad_logp.to(dtype) if grad_logp is not None else torch.zeros_like(keep)
    gent = keep * grad_ent.to(dtype) if grad_ent is not None else torch.zeros_like(keep)
    return glp, gent


def autocast_off(fn):
    """Run a kernel Function's forward or backward with autocast off on the inputs' device: these paths choose their
    own precision (fp32 logits and accumulation), which autocast would silently turn into bf16 matmuls (and `out=`
    matmuls fail under it). The forward records the device type on ctx for the backward."""

    @functools.wraps(fn)
    def wrapper(ctx, *args):
        if fn.__name__ == "forward":
            ctx.device_type = args[0].device.type
        with torch.autocast(ctx.device_type, enabled=False):
            return fn(ctx, *args)

    return wrapper


def default_chunk_tokens(n: int, v: int) -> int:
    """Rows per chunk so that a chunk's few [rows, V] fp32 temporaries stay near 256 MiB."""
    return max(16, min(n, (256 << 20) // (3 * 4 * max(v, 1))))


class ChunkedLogprobs(torch.autograd.Function):
    """Chunked forward; backward recomputes each chunk's logits (see the module docstring).

    Both passes work in place on one [chunk, V] buffer per chunk (the matmul's output) wherever the math allows, skip
    the temperature multiply at T = 1, and the backward skips the entropy-gradient terms when entropy is not in the
    loss (its upstream gradient is None or zero): the floor of this design is the extra logits matmul (4 [N, V, H]
    matmuls against autograd's 3), not elementwise passes over [N, V]."""

    @staticmethod
    @autocast_off
    def forward(ctx, hidden, weight, targets, temperature, ignore_index, chunk_tokens):
        n, v = hidden.shape[0], weight.shape[0]
        out_dtype = _out_dtype(hidden.dtype)
        inv_temp = 1.0 / temperature
        logp = torch.empty(n, dtype=out_dtype, device=hidden.device)
        ent = torch.empty(n, dtype=out_dtype, device=hidden.device)
        lse = torch.empty(n, dtype=out_dtype, device=hidden.device)
        ignored = targets == ignore_index
        w = weight.to(out_dtype)
        for r0 in range(0, n, chunk_tokens):
            sl = slice(r0, r0 + chunk_tokens)
            t = targets[sl]
            z = hidden[sl].to(out_dtype) @ w.t()
            if inv_temp != 1.0:
                z.mul_(inv_temp)
            lse[sl] = torch.logsumexp(z, dim=-1)
            logsm = z.sub_(lse[sl, None])  # in place: z is now log p
            picked = logsm.gather(1, t.clamp(0, v - 1).long()[:, None])[:, 0]
            logp[sl] = torch.where((t >= 0) & (t < v), picked, float("nan"))
            ent[sl] = -(logsm.exp().mul_(logsm)).sum(dim=-1)
            del z, logsm
        del w
        logp = torch.where(ignored, 0.0, logp)
        ent = torch.where(ignored, 0.0, ent)
        ctx.save_for_backward(hidden, weight, targets, lse, ent)
        ctx.inv_temp, ctx.ignore_index, ctx.chunk_tokens = inv_temp, ignore_index, chunk_tokens
        ctx.set_materialize_grads(False)  # an output left out of the loss comes back as None, not zeros
        return logp, ent

    @staticmethod
    @autocast_off
    def backward(ctx, grad_logp, grad_ent):
        hidden, weight, targets, lse, ent = ctx.saved_tensors
        need_h, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        if not (need_h or need_w) or (grad_logp is None and grad_ent is None):
            return (None,) * 6
        n, v = hidden.shape[0], weight.shape[0]
        with_entropy = grad_ent is not None and bool(grad_ent.any())
        glp, gent = masked_upstream(targets, ctx.ignore_index, grad_logp, grad_ent, lse.dtype)
        grad_h = torch.empty_like(hidden) if need_h else None
        grad_w = torch.zeros(weight.shape, dtype=lse.dtype, device=weight.device) if need_w else None
        w = weight.to(lse.dtype)
        for r0 in range(0, n, ctx.chunk_tokens):
            sl = slice(r0, r0 + ctx.chunk_tokens)
            h = hidden[sl].to(lse.dtype)
            dz = h @ w.t()  # one [chunk, V] buffer: logits -> log p -> dL/dz -> dL/dlogits
            if ctx.inv_temp != 1.0:
                dz.mul_(ctx.inv_temp)
            dz.sub_(lse[sl, None])
            if with_entropy:  # dz = -p (a + b (log p + H))
                p = dz.exp()
                dz.add_(ent[sl, None]).mul_(gent[sl, None]).add_(glp[sl, None]).mul_(p).neg_()
                del p
            else:  # dz = -p a
                dz.exp_().mul_(-glp[sl, None])
            dz.scatter_add_(1, targets[sl].clamp(0, v - 1).long()[:, None], glp[sl, None])
            if ctx.inv_temp != 1.0:
                dz.mul_(ctx.inv_temp)  # now dL/dlogits
            if need_h:
                grad_h[sl] = dz @ w
            if need_w:
                grad_w.addmm_(dz.t(), h)
            del dz
        return grad_h, grad_w.to(weight.dtype) if need_w else None, None, None, None, None


def chunked_logprobs(hidden, lm_head_weight, targets, temperature=1.0, ignore_index=-100, *, chunk_tokens=None):
    """Chunked PyTorch path: same outputs and gradients as `reference_logprobs`, at most
    [chunk_tokens, V] logits alive at a time (default `default_chunk_tokens`)."""
    validate(hidden, lm_head_weight, targets, temperature, ignore_index)
    n, v = hidden.shape[0], lm_head_weight.shape[0]
    if chunk_tokens is None:
        chunk_tokens = default_chunk_tokens(n, v)
    if not (isinstance(chunk_tokens, int) and chunk_tokens > 0):
        raise ValueError(f"chunk_tokens must be a positive int, got {chunk_tokens!r}")
    return ChunkedLogprobs.apply(hidden, lm_head_weight, targets, float(temperature), ignore_index, chunk_tokens)
