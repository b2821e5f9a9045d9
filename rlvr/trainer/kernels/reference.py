"""Plain and chunked PyTorch paths for per-token log-probabilities and entropies.

Both compute, for hidden [N, H], weight [V, H], targets [N] and temperature T (z = hidden @ W.T / T,
p = softmax(z) per row):

    logp[i]    = log_softmax(z[i])[targets[i]]
    entropy[i] = -Σ_j p[i, j] log p[i, j]

both float32 [N] (float64 for float64 inputs); rows with targets == ignore_index give 0 and get no
gradient. Targets outside [0, V) other than ignore_index give NaN logprobs (as the Triton path).

`reference_logprobs` is the obvious version: it holds [N, V] logits and lets autograd differentiate
it. It is what every kernel test compares against (in float64).

`chunked_logprobs` runs the same math on [chunk_tokens, vocab_chunk] tiles of the logits inside a
torch.autograd.Function that saves only (hidden, weight, targets, lse, entropy): the forward folds the
tiles into a running log-sum-exp and entropy per row, the backward recomputes each tile's logits, so
neither pass holds more than a tile or two of logits. Its gradient w.r.t. z is written out by hand:

    dL/dz_j = a (onehot(t)_j - p_j) - b p_j (log p_j + entropy),   a = dL/dlogp, b = dL/dentropy

and dL/dlogits = dL/dz / T. For bf16/fp16 inputs it computes in fp32 (the weight is upcast once per
forward and once per backward call, and both gradients are accumulated in fp32): one or two extra [V, H]
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


# Tile shape of the chunked path, chosen by measurement on the 2-core Xeon (2 MiB L2 per core, 260 MiB L3) this project
# benchmarks on: `benchmarks/kernels.py --sweep-tiles` (Qwen2.5-0.5B's head, N = 2,048, fp32, fwd+bwd, 2 threads) timed
# chunk_tokens in {256, 1024, 2048} x vocab_chunk in {512, 2048, 8192}: 2048 x 2048 (16 MiB of fp32 logits) and
# 2048 x 8192 were fastest (7.4 s), 1024-token tiles 8.4-9.1 s, 256-token tiles 12.8-26 s (those three ran beside a job
# outside the CPU lock; their fastest calls, 10.1-12.2 s, are still the slowest; table in RESULTS.md).
CHUNK_TOKENS = 2048
VOCAB_CHUNK = 2048


def _tile(buf: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    """A contiguous [rows, cols] view of the start of a reused tile buffer (matmuls write into it with out=)."""
    return buf.view(-1)[: rows * cols].view(rows, cols)


def _scaled(h: torch.Tensor, dtype: torch.dtype, inv_temp: float) -> torch.Tensor:
    """Hidden rows in the compute dtype, times 1/T: (h / T) @ W.T gives the tempered logits with the temperature
    applied to [rows, H] instead of to every [rows, V] logit (and to no tensor at T = 1)."""
    h = h.to(dtype)
    return h if inv_temp == 1.0 else h * inv_temp


def _rowdot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Σ_j a[i, j] b[i, j] per row, in one pass (a batched matrix-vector product, no [rows, cols] temporary)."""
    return torch.bmm(a.unsqueeze(1), b.unsqueeze(2)).view(-1)


class ChunkedLogprobs(torch.autograd.Function):
    """Tiled forward (online log-sum-exp over vocabulary tiles); backward recomputes each tile's logits.

    Both passes walk [chunk_tokens, vocab_chunk] tiles of the logits, one matmul into a reused buffer per tile, so the
    elementwise work stays in cache and each grad_weight tile is written by one matmul per token block. The forward
    keeps per row the running max m, S = Σ_j e_j and A = Σ_j e_j (z_j - m) with e_j = exp(z_j - m), rescaled when m
    grows, and ends with lse = m + log S, entropy = log S - A / S. The temperature scales the [rows, H] hidden rows
    (z = (h / T) W^T; the gradients take the 1/T through the same scaled rows and addmm's alpha), so no logit tile is
    ever multiplied by it, and nothing is at T = 1. The backward skips the entropy-gradient terms when entropy is not
    in the loss (its upstream gradient is None or zero): after log p = z - lse, dz = -a p is 2 elementwise passes
    over a tile (4 with entropy in the loss). The floor of this design is the extra logits matmul (4 [N, V, H]
    matmuls against autograd's 3)."""

    @staticmethod
    @autocast_off
    def forward(ctx, hidden, weight, targets, temperature, ignore_index, chunk_tokens, vocab_chunk):
        n, v = hidden.shape[0], weight.shape[0]
        dt = _out_dtype(hidden.dtype)
        inv_temp = 1.0 / temperature
        lse, ent, logp = (torch.empty(n, dtype=dt, device=hidden.device) for _ in range(3))
        w = weight.to(dt)
        buf = torch.empty(min(n, chunk_tokens) * min(v, vocab_chunk), dtype=dt, device=hidden.device)
        ebuf = torch.empty_like(buf)
        for r0 in range(0, n, chunk_tokens):
            sl = slice(r0, r0 + chunk_tokens)
            h, t = _scaled(hidden[sl], dt, inv_temp), targets[sl]
            m = torch.full((h.shape[0],), float("-inf"), dtype=dt, device=h.device)
            s, a, zt = torch.zeros_like(m), torch.zeros_like(m), torch.zeros_like(m)
            for c0 in range(0, v, vocab_chunk):
                cols = min(vocab_chunk, v - c0)
                z = torch.mm(h, w[c0 : c0 + cols].t(), out=_tile(buf, h.shape[0], cols))  # logits / T
                local = t - c0
                here = z.gather(1, local.clamp(0, cols - 1).long()[:, None])[:, 0]
                zt = torch.where((local >= 0) & (local < cols), here, zt)
                m_new = torch.maximum(m, z.amax(dim=1))
                u = z.sub_(m_new[:, None])  # in place: z - m_new <= 0
                e = torch.exp(u, out=_tile(ebuf, h.shape[0], cols))
                delta = (m - m_new).clamp_(min=torch.finfo(dt).min)  # -inf on the first tile, where s = a = 0
                r = delta.exp()
                a = r * (a + delta * s) + _rowdot(e, u)
                s = r * s + e.sum(dim=1)
                m = m_new
            log_s = s.log()
            lse[sl] = m + log_s
            ent[sl] = log_s - a / s
            logp[sl] = torch.where((t >= 0) & (t < v), zt - lse[sl], float("nan"))
        del w, buf, ebuf
        ignored = targets == ignore_index
        logp = torch.where(ignored, 0.0, logp)
        ent = torch.where(ignored, 0.0, ent)
        ctx.save_for_backward(hidden, weight, targets, lse, ent)
        ctx.inv_temp, ctx.ignore_index, ctx.tiles = inv_temp, ignore_index, (chunk_tokens, vocab_chunk)
        ctx.set_materialize_grads(False)  # an output left out of the loss comes back as None, not zeros
        return logp, ent

    @staticmethod
    @autocast_off
    def backward(ctx, grad_logp, grad_ent):
        hidden, weight, targets, lse, ent = ctx.saved_tensors
        need_h, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        if not (need_h or need_w) or (grad_logp is None and grad_ent is None):
            return (None,) * 7
        n, v = hidden.shape[0], weight.shape[0]
        chunk_tokens, vocab_chunk = ctx.tiles
        dt, inv_temp = lse.dtype, ctx.inv_temp
        with_entropy = grad_ent is not None and bool(grad_ent.any())
        glp, gent = masked_upstream(targets, ctx.ignore_index, grad_logp, grad_ent, dt)
        grad_h = torch.zeros(hidden.shape, dtype=dt, device=hidden.device) if need_h else None
        grad_w = torch.zeros(weight.shape, dtype=dt, device=weight.device) if need_w else None
        w = weight.to(dt)
        buf = torch.empty(min(n, chunk_tokens) * min(v, vocab_chunk), dtype=dt, device=hidden.device)
        pbuf = torch.empty_like(buf) if with_entropy else None
        for r0 in range(0, n, chunk_tokens):
            sl = slice(r0, r0 + chunk_tokens)
            h, t = _scaled(hidden[sl], dt, inv_temp), targets[sl]
            a, lse_b = glp[sl, None], lse[sl, None]
            neg_a, neg_b = -a, -gent[sl, None]
            neg_c = -(a + gent[sl, None] * ent[sl, None])
            for c0 in range(0, v, vocab_chunk):
                cols = min(vocab_chunk, v - c0)
                wc = w[c0 : c0 + cols]
                dz = torch.mm(h, wc.t(), out=_tile(buf, h.shape[0], cols))  # z -> log p -> dL/dz
                dz.sub_(lse_b)
                if with_entropy:  # dz = -p (a + b (log p + H)) = p (-b log p - (a + b H))
                    p = torch.exp(dz, out=_tile(pbuf, h.shape[0], cols))
                    dz.mul_(neg_b).add_(neg_c).mul_(p)
                else:  # dz = -p a
                    dz.exp_().mul_(neg_a)
                local = t - c0
                hit = ((local >= 0) & (local < cols)).to(dt)[:, None]
                dz.scatter_add_(1, local.clamp(0, cols - 1).long()[:, None], a * hit)  # + a onehot(t)
                if need_h:  # dL/dhidden = dL/dz W / T
                    grad_h[sl].addmm_(dz, wc, alpha=inv_temp)
                if need_w:  # dL/dW = dL/dz^T hidden / T, and h is hidden / T
                    grad_w[c0 : c0 + cols].addmm_(dz.t(), h)
        grad_h = grad_h.to(hidden.dtype) if need_h else None
        grad_w = grad_w.to(weight.dtype) if need_w else None
        return grad_h, grad_w, None, None, None, None, None


def chunked_logprobs(
    hidden, lm_head_weight, targets, temperature=1.0, ignore_index=-100, *, chunk_tokens=None, vocab_chunk=None
):
    """Tiled PyTorch path: same outputs and gradients as `reference_logprobs`, at most one or two
    [chunk_tokens, vocab_chunk] logit tiles alive at a time (defaults `CHUNK_TOKENS`, `VOCAB_CHUNK`)."""
    validate(hidden, lm_head_weight, targets, temperature, ignore_index)
    chunk_tokens = CHUNK_TOKENS if chunk_tokens is None else chunk_tokens
    vocab_chunk = VOCAB_CHUNK if vocab_chunk is None else vocab_chunk
    for name, value in (("chunk_tokens", chunk_tokens), ("vocab_chunk", vocab_chunk)):
        if not (isinstance(value, int) and value > 0):
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    return ChunkedLogprobs.apply(hidden, lm_head_weight, targets, float(temperature), ignore_index, chunk_tokens,
                                 vocab_chunk)  # fmt: skip
