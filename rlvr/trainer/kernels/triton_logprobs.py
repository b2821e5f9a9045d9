"""Triton kernels for per-token log-probabilities and entropies without materialising [N, V] logits.

Math (one row i; x = hidden[i] @ W.T is the [V] logit row, z = x / T, p = softmax(z)):

    lse      = log Σ_j exp(z_j)
    logp_i   = z_{t_i} - lse                      (t_i = targets[i])
    entropy_i = -Σ_j p_j log p_j = lse - Σ_j p_j z_j

Backward, with upstream gradients a_i = dL/dlogp_i and b_i = dL/dentropy_i:

    dL/dz_j = a_i (onehot(t_i)_j - p_j) - b_i p_j (log p_j + entropy_i)
    dL/dx_j = dL/dz_j / T
    grad_hidden = dX @ W        [N, H]        grad_weight = dX.T @ hidden     [V, H]

Forward kernel (`_fwd_kernel`). Program (token tile of BLOCK_N rows, vocabulary split s) walks its
split's vocabulary tiles; for each it computes the [BLOCK_N, BLOCK_V] logit tile with `tl.dot` over
H (bf16/fp16 inputs, fp32 accumulation; fp32 inputs use IEEE fp32, not TF32) and updates, per row,
an online log-sum-exp in fp32: the running max m, s = Σ exp(z - m), u = Σ exp(z - m)(z - m) (so that
entropy = log s - u / s without cancellation against lse), and the target logit. When m grows to m',
old terms are rescaled by α = exp(m - m'): s' = α s + ..., u' = α (u + s (m - m')) + .... The S
partial (m, s, u, z_t) rows are merged in PyTorch ([S, N] floats). The split index varies fastest
in launch order, so the programs running at the same time share hidden tiles and weight tiles in
L2 (a program re-reads its hidden rows for every vocabulary tile, like any GEMM); S also gives
enough programs for the GPU when N is small.

Backward design (`_bwd_dlogits_kernel` + two cuBLAS GEMMs per vocabulary slab). A fully fused
backward needs, per program, a [BLOCK, H] fp32 accumulator for grad_hidden or grad_weight (H is
1.5k-8k: too big for registers or shared memory), or fp32 atomics on both outputs for every
(token tile, vocabulary tile) pair ((BLOCK_N + BLOCK_V) * H atomics per tile, non-deterministic).
Instead the vocabulary is cut into slabs of Vs columns (Vs ~ V/64, a multiple of 256). For each slab
the Triton kernel recomputes the logit tiles (tl.dot over H, fp32), turns them into dL/dx with the
formula above using the saved lse and entropy, and writes dX[:, slab] ([N, Vs], input dtype). Then
    grad_weight[slab] = dX[:, slab].T @ hidden      (complete in one GEMM: K = N, no accumulation)
    grad_hidden      += dX[:, slab] @ W[slab]       (fp32 [N, H] accumulator, added in the GEMM epilogue)
so each weight row's gradient is produced exactly once, deterministically, by a GEMM that runs at
the vendor library's rate, and the fp32 accumulator traffic (8 bytes per N*H element per slab) hides
under the GEMM's 2*Vs flops per element. Memory beyond inputs and gradients: the dX slab (N * Vs
elements, ~0.8% of fp32 [N, V] logits for bf16) plus the fp32 grad_hidden accumulator (N * H * 4
bytes, H/V of fp32 logits: 1% for Qwen2.5-1.5B, 3.2% for Llama-3-8B). FLOPs: forward 2NHV; backward
6NHV (recompute 2NHV in Triton, two GEMMs 4NHV).

Offsets: row indices are cast to int64 before multiplying by strides, so N*V, N*H and V*H may exceed
2^31. Launch grids are 1-D (cdiv(N, BLOCK_N) * tiles), well under 2^31 programs.

Not handled: fp64 (use the chunked path); targets outside [0, V) other than ignore_index give NaN
logprobs (no device sync to check them); TF32 for fp32 inputs; Triton's interpreter is chosen when
this module is imported (TRITON_INTERPRET=1 at import time), so on one process either GPU or
interpreter kernels exist, not both.
"""

from __future__ import annotations

import os

import torch
import triton
import triton.language as tl

from rlvr.trainer.kernels.reference import autocast_off, masked_upstream

INTERPRETED = os.environ.get("TRITON_INTERPRET", "0") == "1"
SUPPORTED_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


@triton.jit
def _logit_tile(
    hid_ptr,
    w_ptr,
    rows64,
    row_mask,
    cols64,
    col_mask,
    HID,
    stride_hn,
    stride_wv,
    BLOCK_N: tl.constexpr,
    BLOCK_V: tl.constexpr,
    BLOCK_H: tl.constexpr,
    INPUT_PRECISION: tl.constexpr,
    UPCAST: tl.constexpr,
):
    # fp32 [BLOCK_N, BLOCK_V] tile of hidden[rows] @ weight[cols].T, accumulated over the hidden dim (unscaled).
    offs_h = tl.arange(0, BLOCK_H)
    acc = tl.zeros([BLOCK_N, BLOCK_V], tl.float32)
    for k0 in range(0, HID, BLOCK_H):
        ks = k0 + offs_h
        k_mask = ks < HID
        a = tl.load(
            hid_ptr + rows64[:, None] * stride_hn + ks[None, :],
            mask=row_mask[:, None] & k_mask[None, :],
            other=0.0,
        )
        b = tl.load(
            w_ptr + cols64[:, None] * stride_wv + ks[None, :],
            mask=col_mask[:, None] & k_mask[None, :],
            other=0.0,
        )
        if UPCAST:
            a, b = a.to(tl.float32), b.to(tl.float32)
        acc = tl.dot(a, tl.trans(b), acc, input_precision=INPUT_PRECISION)
    return acc


def _fwd_body(
    hid_ptr,
    w_ptr,
    tgt_ptr,
    m_ptr,
    s_ptr,
    u_ptr,
    zt_ptr,
    N,
    V,
    HID,
    stride_hn,
    stride_wv,
    inv_temp,
    num_splits,
    BLOCK_N: tl.constexpr,
    BLOCK_V: tl.constexpr,
    BLOCK_H: tl.constexpr,
    INPUT_PRECISION: tl.constexpr,
    UPCAST: tl.constexpr,
):
    pid = tl.program_id(0)
    pid_n = pid // num_splits
    pid_s = pid % num_splits

    rows = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    row_mask = rows < N
    rows64 = rows.to(tl.int64)
    tgt = tl.load(tgt_ptr + rows64, mask=row_mask, other=-1)

    n_vtiles = tl.cdiv(V, BLOCK_V)
    tiles_per_split = tl.cdiv(n_vtiles, num_splits)
    v_start = pid_s * tiles_per_split * BLOCK_V
    v_stop = tl.minimum(V, v_start + tiles_per_split * BLOCK_V)

    m = tl.full([BLOCK_N], -1.0e30, tl.float32)  # finite: 0 * (m - m') stays 0, never NaN
    s = tl.zeros([BLOCK_N], tl.float32)
    u = tl.zeros([BLOCK_N], tl.float32)
    zt = tl.zeros([BLOCK_N], tl.float32)
    for v0 in range(v_start, v_stop, BLOCK_V):
        cols = v0 + tl.arange(0, BLOCK_V)
        col_mask = cols < V
        cols64 = cols.to(tl.int64)
        acc = _logit_tile(
            hid_ptr, w_ptr, rows64, row_mask, cols64, col_mask, HID, stride_hn, stride_wv,
            BLOCK_N, BLOCK_V, BLOCK_H, INPUT_PRECISION, UPCAST,
        )  # fmt: skip
        z = tl.where(col_mask[None, :], acc * inv_temp, -1.0e30)  # columns past V: exp underflows to 0
        m_new = tl.maximum(m, tl.max(z, axis=1))
        alpha = tl.exp(m - m_new)
        d = z - m_new[:, None]
        e = tl.exp(d)
        u = alpha * (u + s * (m - m_new)) + tl.sum(e * d, axis=1)
        s = alpha * s + tl.sum(e, axis=1)
        m = m_new
        zt += tl.sum(tl.where(cols[None, :] == tgt[:, None], z, 0.0), axis=1)

    out = pid_s.to(tl.int64) * N + rows64
    tl.store(m_ptr + out, m, mask=row_mask)
    tl.store(s_ptr + out, s, mask=row_mask)
    tl.store(u_ptr + out, u, mask=row_mask)
    tl.store(zt_ptr + out, zt, mask=row_mask)


def _bwd_body(
    hid_ptr,
    w_ptr,
    tgt_ptr,
    lse_ptr,
    ent_ptr,
    glp_ptr,
    gent_ptr,
    dx_ptr,
    N,
    V,
    HID,
    v_begin,
    v_count,
    stride_hn,
    stride_wv,
    stride_dx,
    inv_temp,
    BLOCK_N: tl.constexpr,
    BLOCK_V: tl.constexpr,
    BLOCK_H: tl.constexpr,
    GROUP_N: tl.constexpr,
    INPUT_PRECISION: tl.constexpr,
    UPCAST: tl.constexpr,
):
    # Grouped launch order (GROUP_N token tiles share each weight tile while it is in L2).
    pid = tl.program_id(0)
    n_tiles_n = tl.cdiv(N, BLOCK_N)
    n_tiles_v = tl.cdiv(v_count, BLOCK_V)
    per_group = GROUP_N * n_tiles_v
    first_n = (pid // per_group) * GROUP_N
    group_size = tl.minimum(n_tiles_n - first_n, GROUP_N)
    pid_n = first_n + (pid % per_group) % group_size
    pid_v = (pid % per_group) // group_size

    rows = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    row_mask = rows < N
    rows64 = rows.to(tl.int64)
    local = pid_v * BLOCK_V + tl.arange(0, BLOCK_V)  # column within the slab
    col_mask = local < v_count
    cols = v_begin + local  # column within the vocabulary
    cols64 = cols.to(tl.int64)

    acc = _logit_tile(
        hid_ptr, w_ptr, rows64, row_mask, cols64, col_mask, HID, stride_hn, stride_wv,
        BLOCK_N, BLOCK_V, BLOCK_H, INPUT_PRECISION, UPCAST,
    )  # fmt: skip

    tgt = tl.load(tgt_ptr + rows64, mask=row_mask, other=-1)
    lse = tl.load(lse_ptr + rows64, mask=row_mask, other=0.0)
    ent = tl.load(ent_ptr + rows64, mask=row_mask, other=0.0)
    glp = tl.load(glp_ptr + rows64, mask=row_mask, other=0.0)  # already 0 on ignored rows
    gent = tl.load(gent_ptr + rows64, mask=row_mask, other=0.0)

    logp = acc * inv_temp - lse[:, None]
    p = tl.exp(logp)
    dz = -p * (glp[:, None] + gent[:, None] * (logp + ent[:, None]))
    dz += tl.where(cols[None, :] == tgt[:, None], glp[:, None], 0.0)
    dx = dz * inv_temp
    tl.store(
        dx_ptr + rows64[:, None] * stride_dx + local[None, :],
        dx.to(dx_ptr.dtype.element_ty),
        mask=row_mask[:, None] & col_mask[None, :],
    )


_fwd_kernel = triton.jit(_fwd_body)
_bwd_kernel = triton.jit(_bwd_body)

# Interpreter: one config, large tiles (each program costs Python time, the tile size hardly does).
_INTERP_FWD = dict(BLOCK_N=32, BLOCK_V=256, BLOCK_H=64)
_INTERP_BWD = dict(BLOCK_N=32, BLOCK_V=256, BLOCK_H=64, GROUP_N=4)

if not INTERPRETED:
    # Chosen for H100/A100 (228/164 KiB shared memory; all compile for sm_90, bf16 ones without register spills);
    # configs that do not fit a GPU are skipped by the tuner.
    def _cfg(bn, bv, bh, warps, stages, **extra):
        return triton.Config(dict(BLOCK_N=bn, BLOCK_V=bv, BLOCK_H=bh, **extra), num_warps=warps, num_stages=stages)

    _FWD_CONFIGS = [
        _cfg(128, 128, 64, 8, 3),
        _cfg(128, 128, 64, 8, 4),
        _cfg(128, 256, 64, 8, 3),
        _cfg(256, 128, 64, 8, 3),
        _cfg(
            64, 128, 64, 4, 4
        ),  # ~255 registers x 128 threads: 2 CTAs per SM overlap one's epilogue with the other's MMAs
        _cfg(64, 128, 64, 4, 3),
        _cfg(64, 64, 32, 4, 2),
    ]
    _BWD_CONFIGS = [
        _cfg(128, 128, 64, 8, 3, GROUP_N=8),
        _cfg(128, 128, 64, 8, 4, GROUP_N=8),
        _cfg(128, 256, 64, 8, 3, GROUP_N=8),
        _cfg(256, 128, 64, 8, 3, GROUP_N=8),
        _cfg(64, 128, 64, 4, 4, GROUP_N=8),
        _cfg(64, 128, 64, 4, 3, GROUP_N=8),
        _cfg(64, 64, 32, 4, 2, GROUP_N=8),
    ]
    _fwd_tuned = triton.autotune(_FWD_CONFIGS, key=["HID", "V"])(_fwd_kernel)
    _bwd_tuned = triton.autotune(_BWD_CONFIGS, key=["HID", "v_count"])(_bwd_kernel)


def _input_precision(dtype: torch.dtype) -> str:
    return "ieee" if dtype == torch.float32 else "tf32"  # "tf32" is ignored for bf16/fp16 inputs


def _default_splits(n: int, v: int, device: torch.device) -> int:
    """Vocabulary splits: 8 for L2 sharing of hidden tiles, more when few token tiles would idle SMs."""
    if device.type != "cuda":
        return 1
    sms = torch.cuda.get_device_properties(device).multi_processor_count
    token_tiles = triton.cdiv(n, 128)
    splits = max(8, triton.cdiv(2 * sms, token_tiles))
    return max(1, min(splits, 64, triton.cdiv(v, 256)))


def _default_slab(v: int) -> int:
    """Backward vocabulary slab: ~V/64 columns, a multiple of 256, at least 512 (see the module docstring)."""
    return min(v, max(512, (v // 64) // 256 * 256))


_FUSED_FP32_ADDMM: bool | None = None  # None: not tried yet on this process


def _addmm_fp32_(acc: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> None:
    """acc (fp32) += a @ b for a, b in the input dtype, accumulating in fp32.

    fp32 inputs: addmm_. CUDA half inputs: cuBLAS with an fp32 C matrix (torch.addmm(out_dtype=float32),
    torch >= 2.8), so the accumulator is read and written in the GEMM epilogue. Otherwise (CPU, or a torch
    without it): the product in the input dtype is added in chunks of 4096 rows."""
    global _FUSED_FP32_ADDMM
    if a.dtype == acc.dtype:
        acc.addmm_(a, b)
        return
    if a.is_cuda and _FUSED_FP32_ADDMM is not False:
        try:
            torch.addmm(acc, a, b, out_dtype=torch.float32, out=acc)
            _FUSED_FP32_ADDMM = True
            return
        except (RuntimeError, TypeError):
            _FUSED_FP32_ADDMM = False
    for r0 in range(0, a.shape[0], 4096):
        acc[r0 : r0 + 4096] += a[r0 : r0 + 4096] @ b


def forward_stats(hidden, weight, targets, inv_temp: float, num_splits: int | None = None):
    """Run the forward kernel; return (lse, entropy, target logit) per row, fp32 [N] each."""
    n, hid = hidden.shape
    v = weight.shape[0]
    splits = num_splits or _default_splits(n, v, hidden.device)
    part = torch.empty((4, splits, n), dtype=torch.float32, device=hidden.device)
    args = (hidden, weight, targets, part[0], part[1], part[2], part[3], n, v, hid)
    args += (hidden.stride(0), weight.stride(0), inv_temp, splits)
    if INTERPRETED:
        grid = (triton.cdiv(n, _INTERP_FWD["BLOCK_N"]) * splits,)
        _fwd_kernel[grid](*args, **_INTERP_FWD, INPUT_PRECISION=_input_precision(hidden.dtype), UPCAST=INTERPRETED)
    else:

        def grid(meta):
            return (triton.cdiv(n, meta["BLOCK_N"]) * splits,)

        _fwd_tuned[grid](*args, INPUT_PRECISION=_input_precision(hidden.dtype), UPCAST=INTERPRETED)
    m, s, u, zt = part
    big_m = m.max(dim=0).values
    w = torch.exp(m - big_m)
    s_tot = (w * s).sum(dim=0)
    u_tot = (w * (u + s * (m - big_m))).sum(dim=0)
    log_s = torch.log(s_tot)
    return big_m + log_s, log_s - u_tot / s_tot, zt.sum(dim=0)


def backward_grads(hidden, weight, targets, lse, ent, glp, gent, inv_temp, need_hidden, need_weight, vocab_slab=None):
    """Recompute dL/dlogits slab by slab (Triton) and contract it with cuBLAS; see the module docstring."""
    n, hid = hidden.shape
    v = weight.shape[0]
    slab = min(v, vocab_slab or _default_slab(v))
    dx = torch.empty((n, slab), dtype=hidden.dtype, device=hidden.device)
    grad_w = torch.empty_like(weight) if need_weight else None
    acc_h = torch.zeros((n, hid), dtype=torch.float32, device=hidden.device) if need_hidden else None
    for v0 in range(0, v, slab):
        vc = min(slab, v - v0)
        dxs = dx[:, :vc]
        args = (hidden, weight, targets, lse, ent, glp, gent, dxs, n, v, hid, v0, vc)
        args += (hidden.stride(0), weight.stride(0), dxs.stride(0), inv_temp)
        if INTERPRETED:
            cfg = _INTERP_BWD
            grid = (triton.cdiv(n, cfg["BLOCK_N"]) * triton.cdiv(vc, cfg["BLOCK_V"]),)
            _bwd_kernel[grid](*args, **cfg, INPUT_PRECISION=_input_precision(hidden.dtype), UPCAST=INTERPRETED)
        else:

            def grid(meta, vc=vc):
                return (triton.cdiv(n, meta["BLOCK_N"]) * triton.cdiv(vc, meta["BLOCK_V"]),)

            _bwd_tuned[grid](*args, INPUT_PRECISION=_input_precision(hidden.dtype), UPCAST=INTERPRETED)
        w_slab = weight[v0 : v0 + vc]
        if need_weight:
            torch.mm(dxs.t(), hidden, out=grad_w[v0 : v0 + vc])
        if need_hidden:
            _addmm_fp32_(acc_h, dxs, w_slab)
    grad_h = acc_h.to(hidden.dtype) if need_hidden else None
    return grad_h, grad_w


class TritonLogprobs(torch.autograd.Function):
    """autograd.Function over the Triton kernels; inputs are validated by `triton_logprobs`."""

    @staticmethod
    @autocast_off
    def forward(ctx, hidden, weight, targets, temperature, ignore_index, num_splits, vocab_slab):
        inv_temp = 1.0 / temperature
        lse, ent, zt = forward_stats(hidden, weight, targets, inv_temp, num_splits)
        ignored = targets == ignore_index
        in_range = (targets >= 0) & (targets < weight.shape[0])
        logp = torch.where(ignored, 0.0, torch.where(in_range, zt - lse, float("nan")))
        ent = torch.where(ignored, 0.0, ent)
        ctx.save_for_backward(hidden, weight, targets, lse, ent)
        ctx.inv_temp, ctx.ignore_index, ctx.vocab_slab = inv_temp, ignore_index, vocab_slab
        return logp, ent

    @staticmethod
    @autocast_off
    def backward(ctx, grad_logp, grad_ent):
        hidden, weight, targets, lse, ent = ctx.saved_tensors
        need_h, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        if not (need_h or need_w):
            return (None,) * 7
        glp, gent = masked_upstream(targets, ctx.ignore_index, grad_logp, grad_ent, torch.float32)
        grad_h, grad_w = backward_grads(
            hidden, weight, targets, lse, ent, glp.contiguous(), gent.contiguous(), ctx.inv_temp, need_h, need_w,
            ctx.vocab_slab,
        )  # fmt: skip
        return grad_h, grad_w, None, None, None, None, None


def triton_logprobs(hidden, weight, targets, temperature=1.0, ignore_index=-100, *, num_splits=None, vocab_slab=None):
    """Triton path of `fused_logprobs` (arguments already validated). `num_splits` (forward vocabulary
    splits) and `vocab_slab` (backward slab width) default to tuned values; tests set them small."""
    if hidden.dtype not in SUPPORTED_DTYPES:
        raise ValueError(f"the Triton path supports {SUPPORTED_DTYPES}, got {hidden.dtype}; use impl='chunked'")
    if hidden.device.type == "cpu" and not INTERPRETED:
        raise RuntimeError(
            "Triton kernels for CPU tensors need TRITON_INTERPRET=1 set before rlvr.trainer.kernels.triton_logprobs "
            "is first imported; use impl='chunked' or move the tensors to a GPU"
        )
    return TritonLogprobs.apply(
        hidden.contiguous(), weight.contiguous(), targets.contiguous(), float(temperature), ignore_index,
        num_splits, vocab_slab,
    )  # fmt: skip
