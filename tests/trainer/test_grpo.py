"""GRPO steps on a tiny model: the first loss equals a value computed by hand from the rewards and the mask.

On the first update of a step the policy is the one that sampled, so ρ = 1 and the clipped surrogate is
-A_i on every token of sample i; with a reference identical to the policy the KL term is 0. The hand
computations below use only the rollout's rewards, statuses and response lengths (and, for the KL case,
log-probs from full logits), never the functions under test.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch

from rlvr.trainer.kernels import reference_logprobs

P, G, T_MAX = 4, 4, 6  # the make_trainer fixture's (conftest.py)


def hand_advantages(rewards, valid, divide_by_std=True):
    adv = [0.0] * len(rewards)
    for g in range(P):
        idx = [g * G + j for j in range(G) if valid[g * G + j]]
        if len(idx) < 2:
            continue
        mean = sum(rewards[i] for i in idx) / len(idx)
        std = math.sqrt(sum((rewards[i] - mean) ** 2 for i in idx) / (len(idx) - 1))
        for i in idx:
            adv[i] = (rewards[i] - mean) / (std + 1e-6) if divide_by_std else rewards[i] - mean
    return adv


def lengths_of(ro):
    return [(row != -100).sum().item() for row in ro.batch.targets]


@pytest.mark.parametrize("loss_agg", ["token_mean", "seq_mean_token_mean", "seq_mean_token_sum_norm"])
@pytest.mark.parametrize("kl_coef", [0.0, 0.1])
def test_first_loss_by_hand_ratio_one_kl_zero(make_trainer, loss_agg, kl_coef):
    trainer = make_trainer([f"grpo.loss_agg={loss_agg}", f"grpo.kl_coef={kl_coef}"])
    losses = [trainer.step(s)["first_loss"] for s in (1, 2, 3)]
    ro = trainer.last
    assert all(math.isfinite(x) for x in losses)
    # redo step 1 by hand: its rollout is gone, so rebuild the trainer and collect the same step
    trainer = make_trainer([f"grpo.loss_agg={loss_agg}", f"grpo.kl_coef={kl_coef}"])
    metrics = trainer.step(1)
    ro = trainer.last
    rewards, valid, n = ro.rewards.tolist(), ro.valid.tolist(), lengths_of(ro)
    adv = hand_advantages(rewards, valid)
    assert any(a != 0 for a in adv), "all groups tied; pick another seed"
    assert metrics["first_loss"] == pytest.approx(losses[0], rel=1e-6)  # the same step twice: same loss
    rows = [i for i in range(P * G) if n[i] > 0]
    if loss_agg == "token_mean":
        expected = -sum(adv[i] * n[i] for i in rows) / sum(n[i] for i in rows)
    elif loss_agg == "seq_mean_token_mean":
        expected = -sum(adv[i] for i in rows) / len(rows)
    else:
        expected = -sum(adv[i] * n[i] / T_MAX for i in rows) / len(rows)
    assert metrics["first_loss"] == pytest.approx(expected, rel=1e-5, abs=1e-6)
    assert metrics["clip_fraction"] == 0.0 and metrics["mismatch"] < 1e-4
    # a reference only when the KL acts: its KL is 0 at the first step; without one, no KL is logged at all
    assert abs(metrics["kl"]) < 1e-6 if kl_coef else "kl" not in metrics


def test_first_loss_with_a_different_reference_by_hand(make_trainer):
    beta = 0.5
    trainer = make_trainer([f"grpo.kl_coef={beta}", "grpo.kl=k3"], perturb_ref=0.05)
    before = copy.deepcopy(trainer.policy)
    metrics = trainer.step(1)
    ro = trainer.last
    adv = hand_advantages(ro.rewards.tolist(), ro.valid.tolist())

    def full_logits_logp(model):
        with torch.no_grad():
            h = model.base_model(input_ids=ro.batch.input_ids, attention_mask=ro.batch.attention_mask).last_hidden_state
            w = model.lm_head.weight
            logp, _ = reference_logprobs(h[:, :-1].reshape(-1, h.shape[-1]).double(), w.double(),
                                         ro.batch.targets.reshape(-1))  # fmt: skip
        return logp.view(ro.batch.targets.shape)

    logp, ref = full_logits_logp(before), full_logits_logp(trainer.ref)
    total, count, kl_sum = 0.0, 0, 0.0
    for i in range(P * G):
        for t in range(ro.batch.targets.shape[1]):
            if ro.batch.targets[i, t] == -100:
                continue
            log_r = (ref[i, t] - logp[i, t]).item()
            k3 = math.exp(log_r) - 1 - log_r
            total += -adv[i] + beta * k3
            kl_sum += k3
            count += 1
    assert kl_sum / count > 1e-3, "the reference should differ from the policy"
    assert metrics["first_loss"] == pytest.approx(total / count, rel=1e-4)
    assert metrics["kl"] == pytest.approx(kl_sum / count, rel=1e-3)


def test_error_verdicts_are_masked_out(make_trainer, flaky_verifier):
    trainer = make_trainer(env_kwargs={"n_bits": 4, "style": "plain", "verifier": flaky_verifier()}, seed=3)
    metrics = trainer.step(1)
    ro = trainer.last
    errors = [s == "error" for s in ro.status]
    assert any(errors) and not all(errors), "no error verdicts; pick another seed"
    assert metrics["error_fraction"] == pytest.approx(sum(errors) / len(errors))
    for i, err in enumerate(errors):
        assert ro.valid[i].item() == (not err)
        if err:
            assert ro.advantages[i] == 0 and ro.mask[i].sum() == 0
    adv = hand_advantages(ro.rewards.tolist(), [not e for e in errors])
    n = lengths_of(ro)
    keep = [i for i in range(P * G) if not errors[i]]
    expected = -sum(adv[i] * n[i] for i in keep) / sum(n[i] for i in keep)
    assert metrics["first_loss"] == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_three_steps_change_the_policy_and_log_everything(make_trainer):
    trainer = make_trainer(["grpo.minibatch_samples=8", "grpo.epochs=2", "grpo.micro_batch_samples=3"])
    start = [p.detach().clone() for p in trainer.policy.parameters()]
    for step in (1, 2, 3):
        metrics = trainer.step(step)
    assert any(not torch.equal(a, b) for a, b in zip(start, trainer.policy.parameters(), strict=True))
    assert "kl" not in metrics  # kl_coef 0: no reference, no KL
    for key in ("reward", "accuracy", "entropy", "response_tokens", "clip_fraction", "mismatch", "loss",
                "grad_norm", "time_generate_s", "time_verify_s", "time_score_s", "time_update_s"):  # fmt: skip
        assert math.isfinite(metrics[key]), key
    assert trainer.sched.last_epoch == 3 * 2 * (P * G // 8)  # epochs x minibatches optimiser steps per step


@pytest.mark.parametrize("override", ["model.dtype=bfloat16", "model.gradient_checkpointing=true"])
def test_bf16_and_gradient_checkpointing_steps_run(make_trainer, override):
    from rlvr.trainer.model import compute_precision

    trainer = make_trainer([override, "grpo.kl_coef=0.01"])
    with compute_precision(trainer.cfg.model.dtype, "cpu"):  # as `train` runs every step
        for step in (1, 2):
            metrics = trainer.step(step)
            assert math.isfinite(metrics["loss"]) and math.isfinite(metrics["grad_norm"])
    if override.startswith("model.dtype"):
        assert next(trainer.policy.parameters()).dtype == torch.float32  # the master weights; bf16 compute
    else:
        assert trainer.policy.is_gradient_checkpointing
