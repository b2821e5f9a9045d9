"""Time and peak memory of per-token log-probs + entropy: fused Triton vs naive PyTorch, chunked PyTorch, Liger.

    python benchmarks/kernels.py            # GPU: Qwen2.5-1.5B and Llama-3-8B heads at 4k/16k/32k tokens
    python benchmarks/kernels.py --quick    # one small shape per model (smoke run)

Rows: impl x (model, N) x pass, with pass "fwd" (no autograd graph: old/reference log-probs) or "fwd+bwd"
(loss = Σ a*logp + b*entropy with random a, b). TFLOP/s counts 2NHV for fwd and 8NHV for fwd+bwd (the
recomputing paths do 2 forward + 2 recompute + 4 backward; naive and Liger do fewer, and are still
credited 8NHV so that rates compare times). `of_mm` is that rate over a bf16 torch.mm's measured in the same
run on the logits GEMM shape. Memory (GPU): peak allocated above the inputs, and the part of it beyond
outputs and gradients as a fraction of the naive fp32 [N, V] logits (`extra_vs_logits`).

Liger-Kernel (if installed) computes the cross-entropy loss, not per-token logp and entropy, and does its
backward inside forward; it is timed only for fwd+bwd on a loss of the same GEMM sizes.
On a CPU the script runs a small fp32 shape set for naive vs chunked (the Triton interpreter is
pointless for speed) and does not measure memory. Writes benchmarks/results/kernels-<device>.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_info  # noqa: E402

from rlvr.trainer.kernels import fused_logprobs  # noqa: E402

MODELS = {"qwen2.5-1.5b": (1536, 151_936), "llama3-8b": (4096, 128_256)}
CPU_MODELS = {"cpu-small": (256, 8192), "cpu-32k": (512, 32_000)}


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def _time(fn, device, reps):
    fn()  # warm-up (compilation, autotuning, allocator)
    _sync(device)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def _peak_extra(fn, device):
    """Peak bytes allocated above what was allocated before fn (GPU only)."""
    if device.type != "cuda":
        return None
    _sync(device)
    base = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    fn()
    _sync(device)
    return torch.cuda.max_memory_allocated(device) - base


def _liger_loss():
    try:
        from liger_kernel.transformers import LigerFusedLinearCrossEntropyLoss
    except ImportError:
        return None
    return LigerFusedLinearCrossEntropyLoss(reduction="sum")


def _make_step(impl, hidden, weight, targets, grads, backward, liger):
    h = hidden.detach().requires_grad_(backward)
    w = weight.detach().requires_grad_(backward)

    def step():
        h.grad = w.grad = None
        if impl == "liger":
            liger(w, h, targets).backward()
            return
        with torch.set_grad_enabled(backward):
            logp, ent = fused_logprobs(h, w, targets, impl=impl)
            if backward:
                (grads[0] * logp + grads[1] * ent).sum().backward()

    return step


def _matmul_tflops(n, h, v, dtype, device, reps):
    a = torch.randn(n, h, device=device, dtype=dtype)
    b = torch.randn(v, h, device=device, dtype=dtype)
    t = _time(lambda: a @ b.t(), device, reps)
    return 2 * n * h * v / t / 1e12


def run(args):
    device = torch.device("cuda" if torch.cuda.is_available() and not args.cpu else "cpu")
    gpu = device.type == "cuda"
    dtype = torch.bfloat16 if gpu else torch.float32
    models = MODELS if gpu else CPU_MODELS
    token_counts = ([4096] if args.quick else [4096, 16384, 32768]) if gpu else ([256] if args.quick else [512, 2048])
    if args.quick and not gpu:
        models = {"cpu-small": CPU_MODELS["cpu-small"]}
    impls = ["triton", "chunked", "reference", "liger"] if gpu else ["chunked", "reference"]
    liger = _liger_loss() if gpu else None
    notes = []
    if gpu and liger is None:
        impls.remove("liger")
        notes.append("liger-kernel not installed: Liger rows skipped")
    reps = 3 if args.quick else 5
    rows, mm_rates = [], {}
    for model, (h, v) in models.items():
        mm_rates[model] = _matmul_tflops(4096 if gpu else 512, h, v, dtype, device, reps)
        for n in token_counts:
            g = torch.Generator(device="cpu").manual_seed(0)
            hidden = torch.randn(n, h, generator=g).to(device, dtype)
            weight = (torch.randn(v, h, generator=g) / h**0.5).to(device, dtype)
            targets = torch.randint(0, v, (n,), generator=g).to(device)
            grads = torch.randn(2, n, generator=g).to(device)
            logits_bytes = n * v * 4
            for impl in impls:
                for backward in (False, True):
                    if impl == "liger" and not backward:
                        continue
                    row = dict(impl=impl, model=model, n=n, h=h, v=v, dtype=str(dtype).removeprefix("torch."))
                    row["pass"] = "fwd+bwd" if backward else "fwd"
                    try:
                        step = _make_step(impl, hidden, weight, targets, grads, backward, liger)
                        secs = _time(step, device, reps)
                        peak = _peak_extra(step, device)
                    except torch.OutOfMemoryError:
                        row.update(status="OOM")
                        rows.append(row)
                        torch.cuda.empty_cache()
                        continue
                    flops = (8 if backward else 2) * n * h * v
                    row.update(status="ok", ms=secs * 1e3, tflops=flops / secs / 1e12)
                    row["of_mm"] = row["tflops"] / mm_rates[model]
                    if peak is not None:
                        kept = 2 * n * 4 + ((n * h + v * h) * hidden.element_size() if backward else 0)
                        row.update(peak_extra_mib=peak / 2**20, extra_vs_logits=max(peak - kept, 0) / logits_bytes)
                    rows.append(row)
                    print(_fmt(row), flush=True)
            del hidden, weight, targets, grads
            if gpu:
                torch.cuda.empty_cache()
    return device, dtype, rows, mm_rates, notes


def _fmt(r):
    head = f"{r['impl']:>9} {r['model']:>13} N={r['n']:>6} {r['pass']:>7}"
    if r["status"] != "ok":
        return f"{head}  {r['status']}"
    mem = (
        f"  peak+{r['peak_extra_mib']:9.0f} MiB  extra/logits {r['extra_vs_logits']:6.1%}"
        if "peak_extra_mib" in r
        else ""
    )
    return f"{head}  {r['ms']:9.2f} ms  {r['tflops']:7.2f} TFLOP/s  {r['of_mm']:6.1%} of mm{mem}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one small shape per model, fewer repetitions")
    parser.add_argument("--cpu", action="store_true", help="run the CPU shape set even if a GPU is present")
    parser.add_argument(
        "--out", type=Path, default=None, help="JSON path (default benchmarks/results/kernels-<device>.json)"
    )
    args = parser.parse_args(argv)
    device, dtype, rows, mm_rates, notes = run(args)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else (platform.processor() or "cpu")
    slug = "cpu" if device.type == "cpu" else re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    try:
        import triton

        triton_version = triton.__version__
    except ImportError:
        triton_version = None
    result = dict(
        benchmark="kernels",
        machine=dict(
            **machine_info(("torch", "liger-kernel")),
            device=name,
            device_type=device.type,
            triton=triton_version,
            cuda=torch.version.cuda,
            cpu_threads=torch.get_num_threads(),
        ),
        quick=args.quick,
        dtype=str(dtype).removeprefix("torch."),
        matmul_tflops=mm_rates,
        notes=notes,
        rows=rows,
    )
    out = args.out or Path(__file__).parent / "results" / f"kernels-{slug}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nmatmul ({result['dtype']}) TFLOP/s: " + ", ".join(f"{m} {r:.2f}" for m, r in mm_rates.items()))
    for note in notes:
        print("note:", note)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
