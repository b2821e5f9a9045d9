"""benchmarks/gpu_check.py: the GPU plan is the one the issue asks for (shapes, model size, bf16 + vLLM, time
limits within 8 minutes), and its dry run (the same plan on CPU at tiny sizes) runs end to end."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("gpu_check_under_test", REPO / "benchmarks" / "gpu_check.py")
gpu_check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gpu_check)


def _args(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def test_the_gpu_plan_fits_eight_minutes_and_names_the_real_shapes(tmp_path):
    import torch
    import transformers

    steps = {s["name"]: s for s in gpu_check.plan(False, tmp_path, "h100", tmp_path / "run")}
    assert list(steps) == ["tests", "kernels", "trainer", "grpo_smoke"]
    assert sum(s["limit"] for s in steps.values()) <= 8 * 60
    assert steps["tests"]["env"] == {"RLVR_REQUIRE": "gpu"} and "gpu" in steps["tests"]["argv"]
    assert "--cpu" not in steps["kernels"]["argv"] and "--quick" not in steps["kernels"]["argv"]
    trainer = steps["trainer"]["argv"]
    assert _args(trainer, "--device") == "cuda" and _args(trainer, "--arch") == "qwen2"
    config = transformers.Qwen2Config(
        vocab_size=int(_args(trainer, "--vocab")), hidden_size=int(_args(trainer, "--hidden-size")),
        num_hidden_layers=int(_args(trainer, "--layers")), num_attention_heads=int(_args(trainer, "--heads")),
        num_key_value_heads=int(_args(trainer, "--kv-heads")), intermediate_size=int(_args(trainer, "--intermediate")),
        tie_word_embeddings="--tie-embeddings" in trainer,
    )  # fmt: skip
    with torch.device("meta"):
        params = sum(p.numel() for p in transformers.AutoModelForCausalLM.from_config(config).parameters())
    assert 0.45e9 < params < 0.55e9  # Qwen2.5-0.5B: 494M
    smoke = steps["grpo_smoke"]["argv"]
    sets = {smoke[i + 1] for i, x in enumerate(smoke) if x == "--set"}
    assert {"model.dtype=bfloat16", "rollout.engine=vllm", "runtime.device=cuda"} <= sets
    with pytest.raises(SystemExit, match="no CUDA device"):
        if not torch.cuda.is_available():
            gpu_check.main([])


@pytest.mark.slow
@pytest.mark.trl
@pytest.mark.vllm
def test_the_dry_run_runs_every_step_on_cpu(tmp_path):
    proc = subprocess.run([sys.executable, "benchmarks/gpu_check.py", "--dry-run", "--out-dir", str(tmp_path)],
                          cwd=REPO, capture_output=True, text=True, timeout=1200)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads((tmp_path / "gpu-check-cpu-dry-run.json").read_text())
    assert result["dry_run"] and list(result["steps"]) == ["tests", "kernels", "trainer", "grpo_smoke"]
    assert all(step["status"] == "ok" for step in result["steps"].values())
    assert "skipped" in result["steps"]["tests"]["last_line"]  # no CUDA here: the gpu tests skip
    kernels = json.loads((tmp_path / "kernels-cpu-dry-run.json").read_text())
    rows = [r for run in kernels["runs"] for r in run["rows"]]
    assert {r["impl"] for r in rows} == {"chunked", "reference"} and all(r["status"] == "ok" for r in rows)
    trainer = json.loads((tmp_path / "trainer-cpu-dry-run.json").read_text())
    assert trainer["settings"]["model"]["arch"] == "qwen2" and trainer["settings"]["model"]["vocab"] == 512
    assert trainer["ratios"]["samples_per_s"] > 0
    smoke = result["steps"]["grpo_smoke"]["smoke"]
    assert smoke["healthy"] and len(smoke["grpo_steps"]) == 3 and smoke["max_mismatch"] < 1e-3
