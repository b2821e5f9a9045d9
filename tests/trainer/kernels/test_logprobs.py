"""fused_logprobs (Triton and chunked paths) against float64 PyTorch: forward and backward.

Errors: outputs (logp, entropy) as the max absolute difference in nats; gradients as the max absolute
difference divided by the max absolute reference value. Tolerances per (path, dtype) follow from the
arithmetic. Both paths accumulate logits in fp32 from exactly representable inputs, so outputs are
fp32-accurate (~1e-6 nats measured; 1e-4 leaves room for GPU accumulation order over H = 4096). bf16
gradients: the chunked path computes in fp32 and rounds once (unit roundoff u = 2^-8 ~ 3.9e-3); the
Triton path also rounds dL/dlogits to bf16 for its bf16 GEMMs (measured up to ~2u; tolerance 4u).
`test_tolerances_catch_a_dropped_vocab_tile` checks that every tolerance is more than 3x below the error
of a kernel that skipped the last 64 vocabulary columns.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from rlvr.trainer.kernels import chunked_logprobs, fused_logprobs, reference_logprobs

IGNORE = -100
BF16, FP32 = torch.bfloat16, torch.float32
TRITON_DEVICE = "cuda" if torch.cuda.is_available() else "cpu"

# (output tolerance in nats, normalised gradient tolerance)
TOL = {
    ("triton", FP32): (1e-4, 2e-5),
    ("triton", BF16): (1e-4, 1.6e-2),
    ("chunked", FP32): (1e-4, 2e-5),
    ("chunked", BF16): (1e-4, 4e-3),
}


def _triton(*args, **knobs):
    from rlvr.trainer.kernels import triton_logprobs as tk

    if TRITON_DEVICE == "cpu" and not tk.INTERPRETED:
        pytest.fail("triton_logprobs was imported before TRITON_INTERPRET=1 was set (see this folder's conftest.py)")
    return tk.triton_logprobs(*args, **knobs)


def _chunked(*args, **knobs):
    return chunked_logprobs(*args, **knobs)


IMPLS = {"triton": (_triton, TRITON_DEVICE), "chunked": (_chunked, "cpu")}


def make_inputs(n, h, v, dtype, device, seed=0, ignore_index=IGNORE):
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(n, h, generator=g)
    weight = torch.randn(v, h, generator=g) * (2.0 / h**0.5)  # logits ~ N(0, 4): a spread-out softmax
    targets = torch.randint(0, v, (n,), generator=g)
    targets[0] = v - 1  # a target in the last, partial vocabulary tile
    targets[1::5] = ignore_index
    grads = torch.randn(2, n, generator=g)
    return hidden.to(dtype).to(device), weight.to(dtype).to(device), targets.to(device), grads.to(device)


def run(fn, hidden, weight, targets, grads, temperature=1.0, ignore_index=IGNORE, **knobs):
    """Outputs and gradients of sum(grads[0] * logp + grads[1] * entropy)."""
    h = hidden.detach().clone().requires_grad_()
    w = weight.detach().clone().requires_grad_()
    logp, ent = fn(h, w, targets, temperature, ignore_index, **knobs)
    (grads[0].to(logp.dtype) * logp + grads[1].to(ent.dtype) * ent).sum().backward()
    return logp.detach(), ent.detach(), h.grad, w.grad


def run_reference(hidden, weight, targets, grads, temperature=1.0, ignore_index=IGNORE, dtype=torch.float64):
    return run(
        reference_logprobs, hidden.to(dtype), weight.to(dtype), targets, grads.to(dtype), temperature, ignore_index
    )


def errors(got, want):
    out = [(a.double() - b).abs().max().item() for a, b in zip(got[:2], want[:2], strict=True)]
    grad = [((a.double() - b).abs().max() / b.abs().max()).item() for a, b in zip(got[2:], want[2:], strict=True)]
    return out, grad


def assert_close(got, want, impl, dtype):
    out_tol, grad_tol = TOL[impl, dtype]
    (e_lp, e_ent), (e_h, e_w) = errors(got, want)
    assert e_lp <= out_tol and e_ent <= out_tol, f"logp err {e_lp:.3g}, entropy err {e_ent:.3g} > {out_tol}"
    assert e_h <= grad_tol and e_w <= grad_tol, f"grad_hidden err {e_h:.3g}, grad_weight err {e_w:.3g} > {grad_tol}"


# (N, H, V, temperature, Triton knobs, chunked knobs): odd sizes, several token/vocabulary tiles (partial last ones),
# several forward splits (one of them empty in the V=130 case) and backward slabs, K loop with a partial last step.
CASES = {
    "37x48x1000": (37, 48, 1000, 1.0, {}, {}),
    "37x48x1531-T0.7-split3-slab512": (37, 48, 1531, 0.7, dict(num_splits=3, vocab_slab=512),
                                       dict(chunk_tokens=16, vocab_chunk=500)),
    "5x16x130-T2-split2": (5, 16, 130, 2.0, dict(num_splits=2), dict(chunk_tokens=2, vocab_chunk=64)),
    "70x80x700-T1.3-split4-slab256": (70, 80, 700, 1.3, dict(num_splits=4, vocab_slab=256),
                                      dict(chunk_tokens=32, vocab_chunk=128)),
    "40x24x900-T1-tiles": (40, 24, 900, 1.0, dict(num_splits=2), dict(chunk_tokens=16, vocab_chunk=256)),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("dtype", [FP32, BF16], ids=["fp32", "bf16"])
@pytest.mark.parametrize("impl", list(IMPLS))
def test_matches_float64(impl, dtype, case):
    n, h, v, temp, triton_knobs, chunked_knobs = CASES[case]
    fn, device = IMPLS[impl]
    inputs = make_inputs(n, h, v, dtype, device, seed=n + v)
    got = run(fn, *inputs, temp, **(triton_knobs if impl == "triton" else chunked_knobs))
    want = run_reference(*inputs, temp)
    assert all(t.dtype == FP32 for t in got[:2]) and got[2].dtype == got[3].dtype == dtype
    assert_close(got, want, impl, dtype)
    ignored = inputs[2] == IGNORE
    assert torch.all(got[0][ignored] == 0) and torch.all(got[1][ignored] == 0)
    assert torch.all(got[2][ignored] == 0), "ignored tokens must get exactly zero gradient"


@pytest.mark.parametrize("impl", list(IMPLS))
def test_realistic_vocabulary(impl):
    """A Llama-2-sized vocabulary (32000 = 125 tiles of 256) at few tokens: the interpreter takes ~4 s."""
    fn, device = IMPLS[impl]
    inputs = make_inputs(8, 32, 32000, BF16, device, seed=3)
    assert_close(run(fn, *inputs, 0.9), run_reference(*inputs, 0.9), impl, BF16)


@pytest.mark.parametrize("dtype", [FP32, BF16], ids=["fp32", "bf16"])
@pytest.mark.parametrize("impl", list(IMPLS))
def test_tolerances_catch_a_dropped_vocab_tile(impl, dtype):
    """A kernel that skipped the last 64 vocabulary columns would fail every comparison above."""
    n, h, v = 37, 48, 1000
    hidden, weight, targets, grads = make_inputs(n, h, v, dtype, "cpu", seed=n + v)
    targets = torch.where(targets >= v - 64, 0, targets)  # keep logp defined for the truncated vocabulary
    full = run_reference(hidden, weight, targets, grads)
    lp, ent, gh, gw = run_reference(hidden, weight[: v - 64], targets, grads)
    gw = torch.cat([gw, torch.zeros(64, h, dtype=gw.dtype)])
    out_tol, grad_tol = TOL[impl, dtype]
    (e_lp, e_ent), (e_h, e_w) = errors((lp, ent, gh, gw), full)
    assert min(e_lp, e_ent) > 3 * out_tol and min(e_h, e_w) > 3 * grad_tol, (e_lp, e_ent, e_h, e_w)


@pytest.mark.parametrize("impl", list(IMPLS))
def test_one_output_custom_ignore_index_and_frozen_weight(impl):
    """Only logp in the loss (entropy's upstream gradient is zero), ignore_index=-1, weight without grad."""
    fn, device = IMPLS[impl]
    hidden, weight, targets, grads = make_inputs(21, 24, 300, FP32, device, seed=7, ignore_index=-1)
    h = hidden.clone().requires_grad_()
    logp, ent = fn(h, weight, targets, 1.0, -1)
    (grads[0] * logp).sum().backward()
    h64 = hidden.double().requires_grad_()
    ref_lp, ref_ent = reference_logprobs(h64, weight.double(), targets, 1.0, -1)
    (grads[0].double() * ref_lp).sum().backward()
    assert (logp.double() - ref_lp).abs().max() < 2e-5 and (ent.double() - ref_ent).abs().max() < 2e-5
    assert ((h.grad.double() - h64.grad).abs().max() / h64.grad.abs().max()) < 2e-5
    assert torch.all(logp[targets == -1] == 0)


@pytest.mark.parametrize("impl", list(IMPLS))
def test_all_tokens_ignored(impl):
    fn, device = IMPLS[impl]
    hidden, weight, targets, grads = make_inputs(6, 16, 200, FP32, device)
    targets[:] = IGNORE
    logp, ent, gh, gw = run(fn, hidden, weight, targets, grads)
    assert torch.all(logp == 0) and torch.all(ent == 0) and torch.all(gh == 0) and torch.all(gw == 0)


@pytest.mark.parametrize("impl", [*IMPLS, "reference"])
def test_out_of_range_target_gives_nan(impl):
    fn, device = IMPLS.get(impl, (reference_logprobs, "cpu"))
    hidden, weight, targets, _ = make_inputs(4, 16, 200, FP32, device)
    targets[2], targets[3] = 200, -5
    logp, ent = fn(hidden, weight, targets, 1.0, IGNORE)
    assert torch.isnan(logp[2:]).all() and torch.isfinite(logp[:2]).all() and torch.isfinite(ent).all()


def test_dispatch(monkeypatch):
    hidden, weight, targets, _ = make_inputs(4, 16, 100, FP32, "cpu")
    h = hidden.clone().requires_grad_()
    assert "Chunked" in type(fused_logprobs(h, weight, targets, impl="chunked")[0].grad_fn).__name__
    assert "Chunked" in type(fused_logprobs(h.double(), weight.double(), targets)[0].grad_fn).__name__
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    assert "Chunked" in type(fused_logprobs(h, weight, targets)[0].grad_fn).__name__
    assert "Chunked" not in type(fused_logprobs(h, weight, targets, impl="reference")[0].grad_fn).__name__
    if TRITON_DEVICE == "cpu":
        monkeypatch.setenv("TRITON_INTERPRET", "1")
        assert "Triton" in type(fused_logprobs(h, weight, targets)[0].grad_fn).__name__
    with pytest.raises(ValueError, match="impl"):
        fused_logprobs(hidden, weight, targets, impl="cuda")


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda h, w, t: (h, w[:, :-1], t, 1.0), "hidden size"),
        (lambda h, w, t: (h, w.double(), t, 1.0), "dtype"),
        (lambda h, w, t: (h, w, t[:-1], 1.0), "targets"),
        (lambda h, w, t: (h, w, t.float(), 1.0), "targets"),
        (lambda h, w, t: (h[0], w, t, 1.0), "hidden"),
        (lambda h, w, t: (h, w, t, 0.0), "temperature"),
        (lambda h, w, t: (h, w, t, float("nan")), "temperature"),
    ],
)
def test_bad_arguments_raise_value_error(change, match):
    hidden, weight, targets, _ = make_inputs(4, 16, 100, FP32, "cpu")
    for impl in ("chunked", "reference"):
        with pytest.raises(ValueError, match=match):
            fused_logprobs(*change(hidden, weight, targets), impl=impl)


def test_import_stays_light():
    code = "import sys, rlvr, rlvr.trainer.kernels; print(sorted({'torch', 'triton'} & set(sys.modules)))"
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "[]"


class _LargestTensor(TorchDispatchMode):
    """Records the largest tensor any aten op produces (a simple, exact proxy for 'holds [N, V]')."""

    def __init__(self):
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                self.largest = max(self.largest, t.numel())
        return out


def test_chunked_path_never_holds_full_logits():
    n, h, v, chunk, vchunk = 256, 8, 3000, 64, 512
    hidden, weight, targets, grads = make_inputs(n, h, v, FP32, "cpu")
    sizes = {}
    tiles = dict(chunk_tokens=chunk, vocab_chunk=vchunk)
    for name, fn, knobs in [("chunked", _chunked, tiles), ("reference", reference_logprobs, {})]:
        with _LargestTensor() as spy:
            hh = hidden.clone().requires_grad_()
            logp, ent = fn(hh, weight, targets, 1.0, IGNORE, **knobs)
            saved = logp.grad_fn.saved_tensors if name == "chunked" else ()
            (grads[0] * logp + grads[1] * ent).sum().backward()
        sizes[name] = spy.largest
        assert all(t.numel() <= max(n, v * h) for t in saved), "only hidden, weight, targets, lse, entropy are saved"
    assert sizes["reference"] >= n * v, "the spy must see the reference path's [N, V] logits"
    assert sizes["chunked"] <= max(chunk * vchunk, v * h), f"chunked path made a tensor of {sizes['chunked']} elements"


class _OpLog(TorchDispatchMode):
    """(op name, numel of its first tensor argument, its float arguments) for every aten op."""

    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        first = next((a for a in args if isinstance(a, torch.Tensor)), None)
        floats = [a for a in args if isinstance(a, float)]
        self.ops.append((func.overloadpacket.__name__, 0 if first is None else first.numel(), floats))
        return func(*args, **(kwargs or {}))


def _tile_ops(temperature, with_entropy, rows_too=False, ct=32, vc=256, n=64, h=16, v=1000):
    """Names and float arguments of the ops on [ct, vc]-tile-sized tensors in the chunked forward and backward (with
    rows_too: the float-argument ops on [ct, h] hidden blocks in the forward instead)."""
    hidden, weight, targets, grads = make_inputs(n, h, v, FP32, "cpu", seed=4)
    hh = hidden.clone().requires_grad_()
    tiles = {ct * vc, ct * (v % vc)}
    with _OpLog() as fwd:
        logp, ent = chunked_logprobs(hh, weight, targets, temperature, IGNORE, chunk_tokens=ct, vocab_chunk=vc)
    if rows_too:
        return [[(name, f) for name, size, f in fwd.ops if size == ct * h and f]]
    loss = (grads[0] * logp).sum() + ((grads[1] * ent).sum() if with_entropy else 0.0)
    with _OpLog() as bwd:
        loss.backward()
    return [[(name, f) for name, size, f in log.ops if size in tiles] for log in (fwd, bwd)]


def test_chunked_never_multiplies_a_logit_tile_by_1_over_t_and_skips_the_entropy_gradient_when_unused():
    """The temperature scales the [rows, H] hidden rows (at T != 1 only), never a logit tile; with entropy logged but
    not in the loss the backward does 3 elementwise passes per tile (log p, exp, times -a) and none of the
    entropy-gradient terms. The T = 0.7 and entropy-in-loss runs show the spy sees those ops when they are due."""
    n_tiles_bwd = 2 * 4  # 64 tokens / 32 x 1000 columns / 256
    math = {f"{op}{suffix}" for op in ("add", "sub", "mul", "div", "exp", "neg", "log") for suffix in ("", "_")}
    for temperature in (1.0, 0.7):
        fwd, bwd = _tile_ops(temperature, with_entropy=False)
        assert not [op for op in fwd + bwd if op[1]], f"a tile multiplied by a float at T = {temperature}"
        elementwise = [name for name, _ in bwd if name in math]
        assert sorted(set(elementwise)) == ["exp_", "mul_", "sub_"] and len(elementwise) == 3 * n_tiles_bwd
    assert not _tile_ops(1.0, False, rows_too=True)[0], "no 1/T multiply of hidden rows at T = 1"
    assert _tile_ops(0.7, False, rows_too=True)[0] == [("mul", [1 / 0.7])] * 2  # once per token block
    _, bwd = _tile_ops(0.7, with_entropy=True)
    assert len([name for name, _ in bwd if name in math]) == 5 * n_tiles_bwd  # log p, exp, times -b, + c, times p


def test_entropy_left_out_of_the_loss_gives_the_general_paths_gradients():
    """grad(a·logp) by the short path (entropy unused) + grad(b·entropy) (general path) = grad(a·logp + b·entropy)
    (general path), and the outputs do not depend on what the loss uses."""
    hidden, weight, targets, grads = make_inputs(50, 24, 900, FP32, "cpu", seed=8)
    zero = torch.zeros_like(grads[0])
    knobs = dict(chunk_tokens=16, vocab_chunk=256)
    both = run(_chunked, hidden, weight, targets, grads, 0.9, **knobs)
    only_logp = run(_chunked, hidden, weight, targets, torch.stack([grads[0], zero]), 0.9, **knobs)
    only_ent = run(_chunked, hidden, weight, targets, torch.stack([zero, grads[1]]), 0.9, **knobs)
    assert torch.equal(both[0], only_logp[0]) and torch.equal(both[1], only_logp[1])
    for i in (2, 3):
        scale = both[i].abs().max()
        assert ((only_logp[i] + only_ent[i] - both[i]).abs().max() / scale) < 1e-6


# --- GPU: real sizes (skipped without CUDA by tests/conftest.py) -------------------------------------------


@pytest.mark.gpu
@pytest.mark.parametrize("h, v", [(1536, 151936), (4096, 128256)], ids=["qwen2.5-1.5b", "llama3-8b"])
def test_gpu_real_vocabulary_matches_float64(h, v):
    inputs = make_inputs(1024, h, v, BF16, "cuda", seed=11)
    got = run(fused_logprobs, *inputs, 0.8)
    want = run_reference(*inputs, 0.8)
    assert_close(got, want, "triton", BF16)


@pytest.mark.gpu
def test_gpu_fused_and_fallback_fp32_accumulation_agree(monkeypatch):
    """The cuBLAS fp32-output addmm (if this torch has it) and the chunked-add fallback give the same grads."""
    from rlvr.trainer.kernels import triton_logprobs as tk

    inputs = make_inputs(512, 256, 5000, BF16, "cuda", seed=5)
    first = run(fused_logprobs, *inputs)
    monkeypatch.setattr(tk, "_FUSED_FP32_ADDMM", False)
    second = run(fused_logprobs, *inputs)
    assert torch.allclose(first[2].float(), second[2].float(), rtol=1e-2, atol=1e-2 * second[2].abs().max().item())
    assert torch.equal(first[3], second[3])


@pytest.mark.gpu
def test_gpu_extra_memory_under_5_percent_of_naive_logits():
    n, h, v = 8192, 1536, 151936
    hidden, weight, targets, grads = make_inputs(n, h, v, BF16, "cuda", seed=2)
    hh, ww = hidden.clone().requires_grad_(), weight.clone().requires_grad_()
    fused_logprobs(hh[:256], ww, targets[:256])[0].sum().backward()  # compile and autotune outside the measurement
    hh.grad = ww.grad = None
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    logp, ent = fused_logprobs(hh, ww, targets)
    (grads[0] * logp + grads[1] * ent).sum().backward()
    torch.cuda.synchronize()
    kept = 2 * n * 4 + hh.grad.numel() * 2 + ww.grad.numel() * 2  # outputs and the two gradients
    extra = torch.cuda.max_memory_allocated() - base - kept
    assert extra < 0.05 * n * v * 4, f"extra {extra / 2**20:.0f} MiB vs naive fp32 logits {n * v * 4 / 2**20:.0f} MiB"


@pytest.mark.gpu
def test_gpu_int64_offsets_and_64k_tokens():
    """V * H > 2^31 (weight offsets) and N = 65536 tokens (grid size, N * V offsets).

    The first reference is fp32 (TF32 off) to fit in 80 GB: a [V, H] fp64 weight, its clone and gradient
    would take 52 GB. Offset overflow shows as garbage, far above the fp32 reference's own ~1e-5 error."""
    v, h = 262_144, 8_320
    hidden, weight, targets, grads = make_inputs(64, h, v, BF16, "cuda", seed=9)
    targets[2:10] = torch.arange(v - 8, v, device="cuda")  # targets in the last rows of the weight
    got = run(fused_logprobs, hidden, weight, targets, grads)
    torch.backends.cuda.matmul.allow_tf32, tf32 = False, torch.backends.cuda.matmul.allow_tf32
    try:
        want = run_reference(hidden, weight, targets, grads, dtype=torch.float32)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = tf32
    assert_close(got, want, "triton", BF16)
    del hidden, weight, got, want
    inputs = make_inputs(65536, 64, 8000, BF16, "cuda", seed=10)
    got = run(fused_logprobs, *inputs)
    want = run(chunked_logprobs, *(x.double() if x.is_floating_point() else x for x in inputs[:2]), inputs[2],
               inputs[3].double())  # fmt: skip
    assert_close(got, want, "triton", BF16)
