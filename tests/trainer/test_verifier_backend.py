"""`env.verifier_backend` routes the verification of training rollouts and evaluations through VerifierPool workers
(Ray actors, bwrap sandboxes) and changes nothing else: the same run gives the same verdicts as in-process
verification."""

from __future__ import annotations

import json

import pytest

from rlvr.trainer.config import load_config
from rlvr.trainer.run import train
from rlvr.verifiers import pool


def tiny(run_dir, backend: str):
    return load_config(
        "configs/parity.yaml",
        [
            "env.kwargs={n_bits: 4, style: plain}", "sft.steps=2", "sft.demos=32", "grpo.steps=2",
            "grpo.prompts_per_step=4", "grpo.samples_per_prompt=4", "grpo.minibatch_samples=8",
            "rollout.max_response_tokens=8", "eval.prompts=4", "eval.samples_per_prompt=2", "logging.progress=false",
            "logging.tensorboard=false", f"logging.run_dir={run_dir}", f"env.verifier_backend={backend}",
        ],
    )  # fmt: skip


def grpo_rewards(run_dir) -> list[tuple[float, float]]:
    with open(run_dir / "metrics.jsonl", encoding="utf-8") as f:
        records = [json.loads(line) for line in f]
    return [(r["reward"], r["error_fraction"]) for r in records if r["phase"] == "grpo"]


@pytest.mark.parametrize("backend", [pytest.param("ray", marks=[pytest.mark.ray, pytest.mark.bwrap, pytest.mark.slow]),
                                     pytest.param("bwrap", marks=pytest.mark.bwrap)])  # fmt: skip
def test_training_verifies_through_the_configured_pool(tmp_path, monkeypatch, backend):
    started, batches = [], []
    real_setup, real_batch = pool.VerifierPool._setup, pool.VerifierPool.verify_batch

    def spy(self, spec, workers, backend_, *rest):
        started.append((self.name, backend_))
        return real_setup(self, spec, workers, backend_, *rest)

    def spy_batch(self, pairs, *args):
        pairs = list(pairs)
        batches.append(len(pairs))
        return real_batch(self, pairs, *args)

    monkeypatch.setattr(pool.VerifierPool, "_setup", spy)
    monkeypatch.setattr(pool.VerifierPool, "verify_batch", spy_batch)
    if backend == "ray":
        import ray

        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        train(tiny(tmp_path / backend, backend))
    finally:
        if backend == "ray":
            ray.shutdown()
    # one pool, started once: the training rollouts (2 steps x 16) and the evaluations (after SFT and after GRPO,
    # 4 x 2 each) go through it
    assert started == [("parity", backend)] and sorted(batches) == [8, 8, 16, 16]
    local_results = train(tiny(tmp_path / "local", ""))
    assert len(started) == 1 and len(batches) == 4  # in-process: no pool
    pooled, local = grpo_rewards(tmp_path / backend), grpo_rewards(tmp_path / "local")
    assert pooled == local and all(err == 0.0 for _, err in pooled)
    evals = [json.loads((tmp_path / d / "results.json").read_text()) for d in (backend, "local")]
    assert evals[0]["after GRPO"] == evals[1]["after GRPO"] == local_results["after GRPO"]
