"""Time and peak memory of per-token log-probs at the output-layer shapes of real models: ours against naive PyTorch,
TRL's chunked log-probs and Liger's chunked selective log-probs, same run.

    python benchmarks/kernels.py                               # the plan (2-core CPU: ~25 min; N = 4,096 limited)
    python benchmarks/kernels.py --shape qwen2.5-0.5b:2048 --pass fwd+bwd   # one shape and pass, ~5 min on a CPU;
                                                               # results merge into the JSON (--append: keep older)
    python benchmarks/kernels.py --dry-run                     # print the plan, run nothing
    python benchmarks/kernels.py --quick                       # smoke run: one tiny shape, chunked and naive

Shapes (H, V): Qwen2.5-0.5B (896, 151,936), Qwen2.5-1.5B (1536, 151,936), Llama-3.2-1B (2048, 128,256), at
N = 1,024 and 4,096 tokens, and N = 2,048 for Qwen2.5-0.5B (the target row of issue 20). float32 on a CPU, bf16
on CUDA. Passes (all forward + backward, on leaf hidden [N, H] and weight [V, H] that both need gradients):

    fwd+bwd      loss = Σ a_i logp_i; entropy is computed and returned (for logging) but not in the loss
    fwd+bwd+ent  loss = Σ a_i logp_i + b_i entropy_i

Implementations: `chunked` and `triton` (ours, rlvr.trainer.kernels), `reference` (naive PyTorch: [N, V] logits,
autograd), `trl` (trl.kernels.ChunkedLogProbFunction with outputs=("entropy",), what TRL's GRPO trainer calls
for its fused LM head), `liger` (liger_kernel.chunked_loss.fused_linear_ppo._ChunkedSelectiveLogProbFunction,
what Liger's fused-linear GRPO loss calls: log-probs only, it computes no entropy, so it has no fwd+bwd+ent row).

Time: median of --reps timed calls, with the spread (min, max); the first call is a discarded warm-up when it takes
under 2 s, and counts as a sample otherwise (every real-shape row on a CPU: one-time costs are small against a call
of seconds, and a warm-up would add a sixth of the run). Memory: on a CPU each row
runs in a fresh subprocess, which allocates its inputs, then resets the kernel's high-water mark
(/proc/self/clear_refs) and reads VmRSS as the start; the row's peak is VmHWM - start at the end (it includes the
gradients hidden.grad and weight.grad, [V, H] fp32, for every impl). On CUDA rows run in one process and the peak
is torch.cuda.max_memory_allocated above memory_allocated at the start of the row. Ratios against the naive and
TRL rows are of the same run; a ratio whose two [min, max] ranges overlap is flagged as inside the noise.
Writes (merging by shape into) benchmarks/results/kernels-<device>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import machine_info, percentile  # noqa: E402

MODELS = {"qwen2.5-0.5b": (896, 151_936), "qwen2.5-1.5b": (1536, 151_936), "llama3.2-1b": (2048, 128_256)}
QUICK_MODELS = {"tiny": (256, 8192)}
PASSES = ("fwd+bwd", "fwd+bwd+ent")
TARGET = ("qwen2.5-0.5b", 2048)
WARMUP_BELOW_S = 2.0  # a first call shorter than this is discarded as a warm-up; a longer one counts (see run_row)
# CPU shapes not run by default: the four impls of one N = 4,096 shape take ~10 min (Qwen2.5-0.5B) to ~20 min
# (Llama-3.2-1B) on 2 cores, more than a run may hold the shared machine, and the naive path alone needs 7-10 GB
CPU_LIMITED = {(model, 4096) for model in MODELS}


def plan(gpu: bool, quick: bool, shapes: list[str] | None, passes: list[str] | None = None) -> list[dict]:
    """Rows to run: dicts of model, h, v, n, impl, pass (and status/why for a row that is limited)."""
    if quick:
        return [dict(model="tiny", h=256, v=8192, n=256, impl=impl, **{"pass": "fwd+bwd"}) for impl in
                ("chunked", "reference")]  # fmt: skip
    impls = ["reference", *(["triton"] if gpu else []), "chunked", "trl", "liger"]  # ours on the GPU first
    groups = [(m, n) for m in MODELS for n in (1024, 4096)]
    groups.insert(0, TARGET)
    wanted = None
    if shapes:
        wanted = {_parse_shape(s) for s in shapes}
        groups = [g for g in groups if g in wanted] + sorted(wanted - set(groups))
    rows = []
    for model, n in groups:
        h, v = MODELS[model]
        shape_passes = PASSES if (gpu or (model, n) == TARGET) else PASSES[:1]  # CPU: entropy in the loss: target
        for impl in impls:
            for p in shape_passes:
                if (impl == "liger" and p == "fwd+bwd+ent") or (passes and p not in passes):
                    continue
                row = dict(model=model, h=h, v=v, n=n, impl=impl, **{"pass": p})
                if not gpu and (model, n) in CPU_LIMITED and not (wanted and (model, n) in wanted):
                    row.update(status="limited", why="not run by default on a CPU: ~10-20 min for the four impls "
                               f"on 2 cores, naive > 7 GB; run it with --shape {model}:{n}")  # fmt: skip
                rows.append(row)
    return rows


def _parse_shape(s: str) -> tuple[str, int]:
    model, _, n = s.partition(":")
    if model not in MODELS or not n.isdigit():
        raise SystemExit(f"--shape must be MODEL:N with MODEL in {sorted(MODELS)}, got {s!r}")
    return model, int(n)


# ------------------------------------------------------------------------------------------------ one row


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _step_fn(row, hidden, weight, targets, a, b):
    """One forward + backward of the row's impl and pass; the gradients land in hidden.grad / weight.grad."""
    import torch

    impl, with_ent = row["impl"], row["pass"] == "fwd+bwd+ent"
    if impl == "trl":
        from trl.kernels import ChunkedLogProbFunction
        from trl.trainer.utils import _CHUNKED_LOGPROB_CHUNK_SIZE

        def fn(h, w, t):
            out = ChunkedLogProbFunction.apply(h, w, None, t, 1.0, _CHUNKED_LOGPROB_CHUNK_SIZE, None, 1.0, ("entropy",))
            return out[0], out[1]
    elif impl == "liger":
        from liger_kernel.chunked_loss.fused_linear_ppo import _ChunkedSelectiveLogProbFunction

        def fn(h, w, t):
            return _ChunkedSelectiveLogProbFunction.apply(h, w, t, None, 1.0, 4096), None
    elif "tiles" in row:
        from rlvr.trainer.kernels import chunked_logprobs

        def fn(h, w, t):
            return chunked_logprobs(h, w, t, chunk_tokens=row["tiles"][0], vocab_chunk=row["tiles"][1])
    else:
        from rlvr.trainer.kernels import fused_logprobs

        def fn(h, w, t):
            return fused_logprobs(h, w, t, impl=impl)

    def step():
        hidden.grad = weight.grad = None
        logp, ent = fn(hidden, weight, targets)
        loss = (a * logp).sum() + ((b * ent).sum() if with_ent else 0.0)
        loss.backward()
        if hidden.device.type == "cuda":
            torch.cuda.synchronize()

    return step


def run_row(row: dict, reps: int, threads: int) -> dict:
    """Time and peak memory of one row in this process (see the module docstring for how memory is measured)."""
    import torch

    gpu = row.get("device", "cpu") == "cuda"
    torch.set_num_threads(threads)
    dtype = torch.bfloat16 if gpu else torch.float32
    device = "cuda" if gpu else "cpu"
    g = torch.Generator().manual_seed(0)
    n, h, v = row["n"], row["h"], row["v"]
    hidden = torch.randn(n, h, generator=g).to(device, dtype).requires_grad_()
    weight = (torch.randn(v, h, generator=g) / h**0.5).to(device, dtype).requires_grad_()
    targets = torch.randint(0, v, (n,), generator=g).to(device)
    a, b = torch.randn(2, n, generator=g).to(device)
    step = _step_fn(row, hidden, weight, targets, a, b)
    if gpu:
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
    else:
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS, so the peak below is this row's
        base = _status_kib("VmRSS") * 1024
    times, warm = [], False
    while len(times) < reps:
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
        if len(times) == 1 and times[0] < WARMUP_BELOW_S and not warm:
            times, warm = [], True  # a short first call (allocator, autotuning) is a warm-up, not a sample
    peak = torch.cuda.max_memory_allocated() if gpu else _status_kib("VmHWM") * 1024
    ms = [t * 1e3 for t in times]
    return dict(row, status="ok", dtype=str(dtype).removeprefix("torch."), threads=threads, reps=reps,
                warmup_discarded=warm, ms=percentile(ms, 50), ms_min=min(ms), ms_max=max(ms), ms_all=ms,
                peak_mib=(peak - base) / 2**20, naive_logits_mib=n * v * 4 / 2**20)  # fmt: skip


def run_in_subprocess(row: dict, reps: int, threads: int, timeout: float) -> dict:
    """run_row in a fresh interpreter (CPU rows: a clean RSS high-water mark)."""
    argv = [sys.executable, __file__, "--child", json.dumps(row), "--reps", str(reps), "--threads", str(threads)]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return dict(row, status="timeout", why=f"over {timeout:.0f} s")
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
        return dict(row, status="failed", why=tail[0][:300])
    return json.loads(lines[-1])


SWEEP_TILES = [(ct, vc) for ct in (256, 1024, 2048) for vc in (512, 2048, 8192)]


def sweep_tiles(reps: int, threads: int) -> dict:
    """The chunked path's fwd+bwd time at the target shape for each (chunk_tokens, vocab_chunk) in SWEEP_TILES, in
    one subprocess (no memory figure), to choose reference.CHUNK_TOKENS / VOCAB_CHUNK for this machine's cache."""
    model, n = TARGET
    h, v = MODELS[model]
    out = []
    for ct, vc in SWEEP_TILES:
        row = dict(model=model, h=h, v=v, n=n, impl="chunked", tiles=[ct, vc], **{"pass": "fwd+bwd"})
        r = run_in_subprocess(row, reps, threads, 900)
        print(_fmt(r), f"tiles {ct} x {vc}", flush=True)
        out.append({k: r.get(k) for k in ("tiles", "status", "ms", "ms_min", "ms_max", "peak_mib")})
    return dict(model=model, n=n, reps=reps, threads=threads, rows=out)


# ------------------------------------------------------------------------------------------------ the run


def add_ratios(rows: list[dict]) -> None:
    """time and peak over the naive (reference) and TRL rows of the same shape and pass, with a noise flag."""
    by_key = {(r["model"], r["n"], r["pass"], r["impl"]): r for r in rows if r.get("status") == "ok"}
    for r in rows:
        if r.get("status") != "ok":
            continue
        for peer in ("reference", "trl"):
            p = by_key.get((r["model"], r["n"], r["pass"], peer))
            if p is None or p is r:
                continue
            r[f"time_vs_{peer}"] = r["ms"] / p["ms"]
            r[f"peak_vs_{peer}"] = r["peak_mib"] / p["peak_mib"] if p["peak_mib"] > 0 else None
            r[f"time_vs_{peer}_in_noise"] = not (r["ms_min"] > p["ms_max"] or r["ms_max"] < p["ms_min"])


def _fmt(r: dict) -> str:
    head = f"{r['impl']:>9} {r['model']:>13} N={r['n']:>5} {r['pass']:>11}"
    if r.get("status") != "ok":
        return f"{head}  {r.get('status')}: {r.get('why', '')}"
    vs = ""
    for peer in ("reference", "trl"):
        if f"time_vs_{peer}" in r:
            noise = " (noise)" if r[f"time_vs_{peer}_in_noise"] else ""
            vs += f"  {r[f'time_vs_{peer}']:.2f}x {peer} time{noise}, {r[f'peak_vs_{peer}']:.2f}x mem"
    return (f"{head}  {r['ms']:9.1f} ms [{r['ms_min']:.1f}, {r['ms_max']:.1f}]  peak +{r['peak_mib']:7.0f} MiB"
            + vs)  # fmt: skip


def merge(old: dict, run: dict, append: bool) -> dict:
    """The JSON `old` with this run added: older runs lose the rows of the (shape, pass)es this run measured (unless
    --append)."""
    old = old if old.get("benchmark") == "kernels" else {}  # a file of the old format is replaced
    shapes = {(r["model"], r["n"], r["pass"]) for r in run["rows"]}
    kept = []
    for prev in old.get("runs", []):
        rows = prev["rows"] if append else [r for r in prev["rows"] if (r["model"], r["n"], r["pass"]) not in shapes]
        if rows:
            kept.append({**prev, "rows": rows})
    return {**old, "benchmark": "kernels", "runs": [*kept, run]}


def save(out: Path, old: dict, run: dict, append: bool, gpu: bool) -> None:
    """Write the JSON with `run` merged in; called after every row, so a run cut short (a time limit) keeps its rows."""
    add_ratios(run["rows"])
    data = merge(old, run, append)
    data["machine"] = run["machine"]  # the latest run's, for the section header
    measured = {(r["model"], r["n"]) for run in data["runs"] for r in run["rows"] if r.get("status") == "ok"}
    planned = {(r["model"], r["n"]): r.get("why", f"not measured yet; run it with --shape {r['model']}:{r['n']}")
               for r in plan(gpu, False, None)}  # fmt: skip
    data["not_run"] = [f"{m} N={n}: {why}" for (m, n), why in planned.items() if (m, n) not in measured]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: one tiny shape, chunked and naive")
    parser.add_argument("--cpu", action="store_true", help="run on the CPU even if a GPU is present")
    parser.add_argument("--shape", action="append", help="MODEL:N (repeatable); default: the whole plan")
    parser.add_argument("--pass", dest="passes", action="append", choices=PASSES, help="only this pass (repeatable)")
    parser.add_argument("--reps", type=int, default=None, help="timed calls per row (default 5; 3 with --quick)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--append", action="store_true", help="keep older runs of the same shapes in the JSON")
    parser.add_argument("--sweep-tiles", action="store_true", help="time the chunked path's tile shapes instead")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and exit")
    parser.add_argument("--out", type=Path, default=None, help="JSON (default benchmarks/results/kernels-<dev>.json)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    reps = args.reps or (3 if args.quick else 5)
    if args.child:
        print(json.dumps(run_row(json.loads(args.child), reps, args.threads)), flush=True)
        return
    import torch

    gpu = torch.cuda.is_available() and not args.cpu
    name = torch.cuda.get_device_name() if gpu else (platform.processor() or "cpu")
    slug = "cpu" if not gpu else re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    out = args.out or HERE / "results" / f"kernels-{slug}.json"
    if args.sweep_tiles:
        data = json.loads(out.read_text()) if out.is_file() else {}
        data = data if data.get("benchmark") == "kernels" else dict(benchmark="kernels", runs=[])
        data["tile_sweep"] = dict(sweep_tiles(reps, args.threads), machine=machine_info(("torch",)),
                                  command=f"python benchmarks/kernels.py --sweep-tiles --reps {reps}")  # fmt: skip
        out.write_text(json.dumps(data, indent=2) + "\n")
        print(f"wrote {out}")
        return
    rows = plan(gpu, args.quick, args.shape, args.passes)
    if args.dry_run:
        for r in rows:
            print(_fmt(dict(r, status=r.get("status", "planned"))))
        return
    machine = dict(**machine_info(("torch", "trl", "liger-kernel")), device=name, torch_threads=args.threads)
    command = "python benchmarks/kernels.py " + " ".join(argv if argv is not None else sys.argv[1:])
    old = json.loads(out.read_text()) if out.is_file() else {}
    run = dict(machine=machine, load_avg_at_start=[round(x, 2) for x in os.getloadavg()], quick=args.quick, reps=reps,
               command=command, complete=False, rows=[])  # fmt: skip
    for r in rows:
        if r.get("status") != "limited":
            r = dict(r, device="cuda" if gpu else "cpu")
            r = run_row(r, reps, args.threads) if gpu else run_in_subprocess(r, reps, args.threads, 900)
            if gpu:
                torch.cuda.empty_cache()
        run["rows"].append(r)
        print(_fmt(r), flush=True)
        save(out, old, run, args.append, gpu)
    run["complete"] = True
    save(out, old, run, args.append, gpu)
    print()
    for r in run["rows"]:
        print(_fmt(r))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
