"""The prolonged-training controls as functions: values worked out by hand from their papers' formulas."""

from __future__ import annotations

import math

import pytest
import torch

from rlvr.trainer.algorithms import clip_policy_loss
from rlvr.trainer.controls import (
    KLController,
    ResetTrigger,
    cosine_length_reward,
    kimi_length_reward,
    length_limit,
    overlong_penalty,
    process_advantages,
    step_token_scores,
)
from rlvr.trainer.model import char_tokenizer


def test_length_schedule_picks_the_last_entry_started():
    schedule = [[0, 8192], [300, 16384]]
    assert [length_limit(schedule, 64, s) for s in (1, 299, 300, 5000)] == [8192, 8192, 16384, 16384]
    assert length_limit([], 64, 10) == 64
    assert length_limit([[5, 128]], 64, 4) == 64


def test_overlong_penalty_is_zero_then_linear_to_minus_factor():
    # max 20 tokens, buffer 4: no penalty up to 16, then -1/4 per token, -factor at 20
    got = overlong_penalty(torch.tensor([3, 16, 17, 18, 20]), max_tokens=20, buffer=4, factor=2.0)
    torch.testing.assert_close(got, torch.tensor([0.0, 0.0, -0.5, -1.0, -2.0]))


def test_kimi_length_reward_by_hand():
    lengths = torch.tensor([[10, 20, 30, 40], [5, 5, 5, 5]])
    correct = torch.tensor([[True, True, False, False], [True, False, True, False]])
    valid = torch.tensor([[True, True, True, False], [True, True, True, True]])
    got = kimi_length_reward(lengths, correct, valid)
    # group 0: min 10, max 30 over the valid samples; λ = 0.5 - (len - 10) / 20 = 0.5, 0, -0.5, (invalid) 0
    # correct keep λ, wrong get min(0, λ); group 1: equal lengths -> 0
    torch.testing.assert_close(got, torch.tensor([[0.5, 0.0, -0.5, 0.0], [0.0, 0.0, 0.0, 0.0]]))


def test_cosine_length_reward_by_hand():
    lengths = torch.tensor([0, 10, 20, 10, 20, 7])
    correct = torch.tensor([True, True, True, False, False, True])
    truncated = torch.tensor([False, False, False, False, False, True])
    got = cosine_length_reward(lengths, correct, truncated, 20, (2.0, 1.0), (-10.0, 0.0), -10.0)
    # r = r_T + (r_0 - r_T)(1 + cos(π t / T)) / 2: correct at 0 -> 2, half -> 1.5, full -> 1; wrong half -> -5
    torch.testing.assert_close(got, torch.tensor([2.0, 1.5, 1.0, -5.0, 0.0, -10.0]))


def test_dual_clip_caps_the_loss_of_negative_advantages():
    old = torch.zeros(1, 3)
    logp = torch.log(torch.tensor([[0.5, 2.0, 10.0]])).requires_grad_()
    adv = torch.tensor([-1.0])
    plain, _ = clip_policy_loss(logp, old, adv, 0.2, 0.28)
    dual, clipped = clip_policy_loss(logp, old, adv, 0.2, 0.28, dual_clip=3.0)
    # PPO: -min(ρA, clip(ρ)A) = max(ρ, clip(ρ)) for A = -1 -> 0.8, 2, 10; dual-clip caps at c|A| = 3
    torch.testing.assert_close(plain.detach(), torch.tensor([[0.8, 2.0, 10.0]]))
    torch.testing.assert_close(dual.detach(), torch.tensor([[0.8, 2.0, 3.0]]))
    assert clipped.tolist() == [[1.0, 0.0, 1.0]]
    dual.sum().backward()
    assert logp.grad[0, 2] == 0 and logp.grad[0, 1] != 0  # the capped token gives no gradient
    pos, _ = clip_policy_loss(logp.detach(), old, torch.tensor([1.0]), 0.2, 0.28, dual_clip=3.0)
    torch.testing.assert_close(pos, torch.tensor([[-0.5, -1.28, -1.28]]))  # positive advantages: plain PPO


def test_per_token_advantages_broadcast_as_given():
    logp = torch.zeros(2, 3)
    adv = torch.tensor([[1.0, 2.0, 3.0], [-1.0, 0.0, 1.0]])
    loss, _ = clip_policy_loss(logp, logp, adv, 0.2, 0.2)
    torch.testing.assert_close(loss, -adv)


def test_step_token_scores_map_character_spans_to_tokens():
    tok = char_tokenizer("01=")
    ids = tok("0=1=1", add_special_tokens=False).input_ids + [tok.eos_token_id]
    steps = [(0, 1, 1.0), (2, 3, 0.0), (4, 5, 1.0)]
    assert step_token_scores(tok, ids, steps) == [(0, 1.0), (2, 0.0), (4, 1.0)]


def test_process_advantages_by_hand():
    # one group of G = 2: sample 0 has steps ending at tokens 0 and 2 scored 1, 0; sample 1 one step at 1 scored 1
    scores = [[(0, 1.0), (2, 0.0)], [(1, 1.0)]]
    got = process_advantages(scores, torch.tensor([True, True]), G=2, T=4)
    mean, std = 2 / 3, math.sqrt(((1 / 3) ** 2 * 2 + (2 / 3) ** 2) / 3)
    hi, lo = (1 - mean) / (std + 1e-6), (0 - mean) / (std + 1e-6)
    expected = torch.tensor([[hi + lo, lo, lo, 0.0], [hi, hi, 0.0, 0.0]])
    torch.testing.assert_close(got, expected)
    invalid = process_advantages(scores, torch.tensor([True, False]), G=2, T=4)
    assert invalid[1].abs().sum() == 0 and invalid[0, 2] != 0  # left out of the statistics and of the result


def test_kl_controller_moves_toward_the_target_at_a_bounded_rate():
    ctl = KLController(0.1, target=0.01, horizon_steps=10)
    ctl.update(0.02)  # twice the target: the error clips at +0.2 -> x1.02
    assert ctl.coef == pytest.approx(0.102)
    ctl.update(0.009)  # 10% under: x0.99
    assert ctl.coef == pytest.approx(0.102 * 0.99)
    fixed = KLController(0.1)
    fixed.update(5.0)
    assert fixed.coef == 0.1
    fresh = KLController(0.5, 0.01)
    fresh.load_state_dict(ctl.state_dict())
    assert fresh.coef == ctl.coef


def test_reset_trigger_schedule_kl_plateau_and_degrade():
    t = ResetTrigger(every_steps=3, kl_threshold=0.5)
    assert [t.after_step(s, 0.1) is not None for s in (1, 2, 3, 4, 6)] == [False, False, True, False, True]
    assert "kl" in t.after_step(1, 0.7)

    t = ResetTrigger(patience=2)
    assert [t.after_eval(v) for v in (0.5, 0.6)] == [None, None]
    assert t.after_eval(0.6) is None  # one evaluation without a new best
    assert "plateau" in t.after_eval(0.55)  # two
    t.fired(0.55)
    assert t.best == 0.55 and t.stale == 0 and t.count == 1
    assert t.after_eval(0.56) is None

    t = ResetTrigger(degrade=0.1)
    assert t.after_eval(0.8) is None and t.after_eval(0.75) is None
    assert "degraded" in t.after_eval(0.65)
    saved = t.state_dict()
    other = ResetTrigger(degrade=0.1)
    other.load_state_dict(saved)
    assert other.state_dict() == saved
