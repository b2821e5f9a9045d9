"""The prolonged-training controls inside real GRPO steps (tiny model, 4-bit parity), resets and resume in real runs.

Expected values are worked out from the rollout's own samples and verdicts with plain loops, not with the
functions under test."""

from __future__ import annotations

import json
import math

import pytest
import torch

from rlvr.trainer.config import load_config
from rlvr.trainer.grpo import TrainingStopped
from rlvr.trainer.run import train
from rlvr.verifiers.parity import ParityVerifier

P, G = 4, 4  # the make_trainer fixture's prompts per step and samples per prompt (conftest.py)


def raw_rewards(ro) -> list[float]:
    return [1.0 if s == "correct" else 0.0 for s in ro.status]


def group_norm(values: list[float], unbiased: bool = True) -> list[float]:
    mean = sum(values) / len(values)
    var = sum((v - mean) ** 2 for v in values) / (len(values) - (1 if unbiased else 0))
    return [(v - mean) / (math.sqrt(var) + 1e-6) for v in values]


def test_dynamic_sampling_keeps_only_groups_with_a_signal(make_trainer):
    trainer = make_trainer(["grpo.dynamic_sampling=true", "grpo.max_sampling_rounds=5"], seed=1)
    rounds_seen, kept_seen = set(), []
    for step in (1, 2, 3):
        metrics = trainer.step(step)
        ro = trainer.last
        if ro is None:  # no group with a signal in any round: no update this step
            assert metrics["kept_fraction"] == 0 and metrics["sampling_rounds"] == 5
            kept_seen.append(0.0)
            continue
        rewards = raw_rewards(ro)
        groups = [rewards[g : g + G] for g in range(0, len(rewards), G)]
        assert all(max(r) > min(r) for r in groups)  # no group without an advantage signal
        generated = metrics["sampling_rounds"] * 4
        assert metrics["kept_fraction"] == pytest.approx(len(groups) / generated) or len(groups) == 4
        rounds_seen.add(metrics["sampling_rounds"])
        kept_seen.append(metrics["kept_fraction"])
    assert min(kept_seen) < 1.0, "every group had a signal: the filter was never exercised"
    assert max(kept_seen) > 0, "no step kept a group: pick another seed"


def test_dynamic_sampling_off_trains_on_every_group(make_trainer):
    metrics = make_trainer(seed=1).step(1)
    assert metrics["kept_fraction"] == 1.0 and metrics["sampling_rounds"] == 1


def test_overlong_filter_masks_truncated_responses_only(make_trainer):
    trainer = make_trainer(["length.overlong_filter=true"])
    trainer.step(1)
    ro = trainer.last
    truncated = [s.finish_reason == "length" for s in ro.episodes]
    assert any(truncated) and not all(truncated), "pick another seed"
    for i, cut in enumerate(truncated):
        assert (ro.mask[i].sum() == 0) == cut or ro.batch.response_mask[i].sum() == 0


def test_overlong_penalty_and_kimi_reward_are_added_to_the_verdict(make_trainer):
    trainer = make_trainer(["length.overlong_buffer_tokens=2", "length.kimi_coef=0.5"])
    trainer.step(1)
    ro = trainer.last
    T, eos = 6, trainer.tok.eos_token_id
    lengths = [len(s.response_ids) - (1 if s.response_ids and s.response_ids[-1] == eos else 0) for s in ro.episodes]
    for g in range(0, len(lengths), G):
        lo, hi = min(lengths[g : g + G]), max(lengths[g : g + G])
        for i in range(g, g + G):
            r = raw_rewards(ro)[i]
            r += -max(0, lengths[i] - (T - 2)) / 2  # 0 up to 4 tokens, -1 at 6
            lam = 0.5 - (lengths[i] - lo) / (hi - lo) if hi > lo else 0.0
            r += 0.5 * (lam if ro.status[i] == "correct" else min(0.0, lam))
            assert ro.rewards[i].item() == pytest.approx(r, abs=1e-5), i


def test_length_schedule_sets_the_generation_limit(make_trainer):
    trainer = make_trainer(["length.schedule=[[0, 2], [2, 5]]"])
    for step, limit in ((1, 2), (2, 5), (3, 5)):
        metrics = trainer.step(step)
        assert metrics["max_response_tokens"] == limit
        assert max(len(s.response_ids) for s in trainer.last.episodes) <= limit


def test_kl_in_the_reward_by_hand(make_trainer):
    beta = 0.5
    trainer = make_trainer([f"grpo.kl_coef={beta}", "grpo.kl_in=reward", "grpo.kl=k1"], perturb_ref=0.05)
    metrics = trainer.step(1)
    ro = trainer.last
    m = ro.batch.response_mask
    seq_kl = ((ro.old_logp - ro.ref_logp) * m).sum(dim=1)
    assert seq_kl.abs().max() > 1e-3
    shaped = [r - beta * k for r, k in zip(raw_rewards(ro), seq_kl.tolist(), strict=True)]
    torch.testing.assert_close(ro.rewards, torch.tensor(shaped), rtol=1e-5, atol=1e-5)
    # the loss carries no KL term: on the first update (ρ = 1) it is -Σ A_i n_i / Σ n_i
    adv = [a for g in range(0, len(shaped), G) for a in group_norm(shaped[g : g + G])]
    n = m.sum(dim=1).tolist()
    expected = -sum(a * k for a, k in zip(adv, n, strict=True)) / sum(n)
    assert metrics["first_loss"] == pytest.approx(expected, rel=1e-4, abs=1e-6)


def test_kl_controller_coefficient_is_logged_and_moves(make_trainer):
    trainer = make_trainer(["grpo.kl_coef=0.1", "grpo.kl_target=1e-6", "grpo.kl_horizon_steps=2"], perturb_ref=0.05)
    coefs = [trainer.step(s)["kl_coef"] for s in (1, 2)]
    assert coefs[0] == pytest.approx(0.1 * 1.1) and coefs[1] == pytest.approx(0.1 * 1.1**2)  # KL >> target: +10%


def test_step_verdicts_become_per_token_advantages(make_trainer):
    w = 0.5
    trainer = make_trainer([f"grpo.step_reward_weight={w}"], seed=5)
    trainer.step(1)
    ro = trainer.last
    verifier, special = ParityVerifier(), set(trainer.tok.all_special_ids)
    outcome = [a for g in range(0, len(ro.status), G) for a in group_norm(raw_rewards(ro)[g : g + G])]
    pairs = zip(ro.episodes, trainer.venv.problems, strict=True)
    steps = [verifier.verify_steps(s.text, p.reference) for s, p in pairs]
    assert sum(map(len, steps)) > 4, "too few scored steps; pick another seed"
    for g in range(0, len(steps), G):
        flat = [st.score for i in range(g, g + G) for st in steps[i]]
        if not flat:
            continue
        mean = sum(flat) / len(flat)
        std = math.sqrt(sum((x - mean) ** 2 for x in flat) / len(flat))
        for i in range(g, g + G):
            start = len(ro.episodes[i].prompt_ids) - 1  # target column of response token 0
            ids = ro.episodes[i].response_ids
            # a character tokenizer: each non-special token is one character of the text (a sampled <pad> is none)
            chars = [sum(t not in special for t in ids[: k + 1]) for k in range(len(ids))]
            for k in range(len(ids)):
                proc = sum(
                    (st.score - mean) / (std + 1e-6)
                    for st in steps[i]
                    if min(j for j, c in enumerate(chars) if c >= st.end) >= k
                )
                got = ro.advantages[i, start + k].item()
                assert got == pytest.approx(outcome[i] + w * proc, abs=1e-4), (i, k)


def test_error_share_over_the_threshold_stops_with_a_clear_message(make_trainer, flaky_verifier):
    env = {"n_bits": 4, "style": "plain", "verifier": flaky_verifier()}
    trainer = make_trainer(["grpo.max_error_fraction=0.05"], env_kwargs=env, seed=3)
    with pytest.raises(TrainingStopped, match="grpo.max_error_fraction"):
        trainer.step(1)


def test_non_finite_gradients_skip_the_update_then_stop_the_run(make_trainer):
    trainer = make_trainer(["grpo.max_nonfinite_steps=2"])
    param = next(trainer.policy.parameters())
    hook = param.register_hook(lambda g: g * float("nan"))
    before = [p.detach().clone() for p in trainer.policy.parameters()]
    metrics = trainer.step(1)
    assert metrics["nonfinite_updates"] == 1 and trainer.sched.last_epoch == 0
    assert all(torch.equal(a, b) for a, b in zip(before, trainer.policy.parameters(), strict=True))
    assert not trainer.opt.state  # the optimiser never stepped
    with pytest.raises(TrainingStopped, match="non-finite"):
        trainer.step(2)
    hook.remove()
    trainer.nonfinite_run = 1
    assert trainer.step(3)["nonfinite_updates"] == 0 and trainer.nonfinite_run == 0  # a good step clears the run


def test_reference_reset_copies_the_policy_and_clears_the_optimiser(make_trainer):
    trainer = make_trainer(["grpo.kl_coef=0.1"])
    trainer.step(1)
    assert trainer.opt.state

    def same():
        return [torch.equal(p, r) for p, r in zip(trainer.policy.parameters(), trainer.ref.parameters(), strict=True)]

    assert not all(same())
    trainer.reset_reference()
    assert all(same())
    assert not trainer.opt.state
    assert trainer.step(2)["kl"] == pytest.approx(0.0, abs=1e-6)  # the rollout's reference is the policy again


def tiny_run(run_dir, *extra):
    return load_config(
        "configs/parity.yaml",
        [
            "env.kwargs={n_bits: 4, style: plain}", "sft.steps=3", "sft.demos=64", "grpo.steps=4",
            "grpo.prompts_per_step=4", "grpo.samples_per_prompt=4", "grpo.minibatch_samples=8",
            "rollout.max_response_tokens=8", "eval.prompts=4", "eval.samples_per_prompt=2", "logging.progress=false",
            "logging.tensorboard=false", f"logging.run_dir={run_dir}", *extra,
        ],
    )  # fmt: skip


def read_metrics(run_dir) -> list[dict]:
    with open(run_dir / "metrics.jsonl", encoding="utf-8") as f:
        records = [json.loads(line) for line in f]
    return [{k: v for k, v in r.items() if not k.startswith("time")} for r in records]


def test_scheduled_resets_are_marked_in_the_metrics(tmp_path):
    train(tiny_run(tmp_path, "reset.every_steps=2", "grpo.steps=3"))
    records = read_metrics(tmp_path)
    resets = [r for r in records if r["phase"] == "reset"]
    assert [(r["step"], r["count"]) for r in resets] == [(2, 1)] and "schedule" in resets[0]["reason"]
    assert [r["resets"] for r in records if r["phase"] == "grpo"] == [0, 0, 1]


# every piece of state a resume must restore: reference (resets), optimiser, KL controller, reset trigger (plateau
# baseline), RNG (sampling), data position (dynamic sampling rounds)
FULL_STATE = [
    "grpo.kl_coef=0.05", "grpo.kl_target=0.001", "grpo.dynamic_sampling=true", "reset.every_steps=3",
    "reset.patience=1", "eval.every_steps=1", "checkpoint.every_steps=1", "checkpoint.keep_last=3",
]  # fmt: skip


@pytest.mark.parametrize("engine", ["hf", pytest.param("vllm", marks=[pytest.mark.vllm, pytest.mark.slow])])
def test_killed_then_resumed_run_equals_a_straight_run(tmp_path, monkeypatch, engine):
    from rlvr.cli import main
    from rlvr.trainer import grpo

    straight, broken = tmp_path / "straight", tmp_path / "broken"
    state = [*FULL_STATE, f"rollout.engine={engine}"]
    train(tiny_run(straight, *state))

    real_step = grpo.GRPO.step

    def dies_in_step_3(self, step):
        if step == 3:
            raise KeyboardInterrupt  # the process dies mid-step, after checkpoint step_2
        return real_step(self, step)

    monkeypatch.setattr(grpo.GRPO, "step", dies_in_step_3)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_run(broken, *state))
    monkeypatch.setattr(grpo.GRPO, "step", real_step)
    with open(broken / "metrics.jsonl", "a", encoding="utf-8") as f:
        f.write('{"phase": "grpo", "step": 3, "rew')  # a record cut short by the kill
    assert main(["train", "--resume", str(broken)]) == 0

    assert read_metrics(broken) == read_metrics(straight)
    a = torch.load(straight / "checkpoints" / "step_4" / "reference.pt")
    b = torch.load(broken / "checkpoints" / "step_4" / "reference.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)
    from transformers import AutoModelForCausalLM

    wa = AutoModelForCausalLM.from_pretrained(straight / "checkpoints" / "step_4").state_dict()
    wb = AutoModelForCausalLM.from_pretrained(broken / "checkpoints" / "step_4").state_dict()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    resets = [r for r in read_metrics(straight) if r["phase"] == "reset"]
    assert resets, "no reset happened: the test would not cover the reference and optimiser state"


def test_resume_without_a_checkpoint_is_a_clear_error(tmp_path, capsys):
    from rlvr.cli import main

    tmp_path.joinpath("config.yaml").write_text("grpo: {steps: 2}\n")
    assert main(["train", "--resume", str(tmp_path)]) == 2
    assert "no complete checkpoint" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path / "missing")]) == 2


def test_step_checker_exceptions_are_counted(make_trainer, monkeypatch):
    trainer = make_trainer(["grpo.step_reward_weight=0.5"], seed=5)
    assert trainer.step(1)["step_check_errors"] == 0

    def broken(self, response, reference):
        raise RuntimeError("a bug in a step checker")

    monkeypatch.setattr(ParityVerifier, "verify_steps", broken)  # the env's verifier computes the steps
    assert trainer.step(2)["step_check_errors"] == P * G  # every response: its steps unscored, and counted


def test_truncated_responses_get_the_scaled_reward(make_trainer):
    trainer = make_trainer(["length.truncated_reward_scale=0", "grpo.advantage=dr_grpo"], seed=6)
    trainer.step(1)
    ro = trainer.last
    verifier = [e.rewards[0] for e in ro.episodes]
    truncated = [e.finish_reason == "length" for e in ro.episodes]
    assert any(r > 0 for r, t in zip(verifier, truncated, strict=True) if t), "pick another seed"
    assert any(r > 0 for r, t in zip(verifier, truncated, strict=True) if not t), "pick another seed"
    expected = [0.0 if t else r for r, t in zip(verifier, truncated, strict=True)]
    assert ro.rewards.tolist() == expected


def test_cycle_on():
    from rlvr.trainer.controls import cycle_on

    assert [cycle_on([2, 3], s) for s in range(1, 12)] == [1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 1]
    assert all(cycle_on([], s) for s in range(1, 5))
