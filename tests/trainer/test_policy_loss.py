"""GSPO, CISPO, the off-policy corrections and `policy_loss` against values computed by hand from their formulas."""

from __future__ import annotations

import math
import types

import pytest
import torch

from rlvr.trainer.algorithms import IS_CORRECTIONS, POLICY_LOSSES, is_log_ratio, policy_loss


def test_gspo_uses_the_length_normalised_sequence_ratio():
    # sequence 0: two tokens with log-ratios 0.1 and 0.3 (mean 0.2); sequence 1: one token, log-ratio -0.5, padding
    old = torch.tensor([[-1.0, -2.0], [-1.0, 0.0]])
    logp = (old + torch.tensor([[0.1, 0.3], [-0.5, 7.0]])).requires_grad_()
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    adv = torch.tensor([1.0, -2.0])
    loss, clipped = POLICY_LOSSES["gspo"](logp, old, adv, 0.2, 0.28, mask=mask)
    s0, s1 = math.exp(0.2), math.exp(-0.5)  # 1.2214 (inside 1.28), 0.6065 (below 0.8)
    assert s1 < 0.8
    # A > 0, s0 inside the range: -s0 A on both tokens. A = -2, s1 below 1 - eps_low: -min(-2 s1, -2 * 0.8) = 1.6,
    # the clipped term (no gradient)
    assert loss[0].tolist() == pytest.approx([-s0, -s0], rel=1e-6)
    assert loss[1, 0].item() == pytest.approx(1.6, rel=1e-6)
    assert clipped[0].tolist() == [0.0, 0.0] and clipped[1, 0].item() == 1.0
    (loss * mask).sum().backward()
    # GSPO-token: d L_0t / d logp_0t = -A s0 (the sequence's ratio, not the token's)
    assert logp.grad[0].tolist() == pytest.approx([-s0, -s0], rel=1e-6)
    assert logp.grad[1, 0].item() == 0.0


def test_gspo_with_seq_mean_token_mean_is_the_sequence_gradient():
    gen = torch.Generator().manual_seed(0)
    old = -torch.rand((3, 4), generator=gen)
    logp = (old + 0.05 * torch.randn((3, 4), generator=gen)).requires_grad_()
    mask = torch.tensor([[1.0, 1, 1, 1], [1, 1, 0, 0], [1, 1, 1, 0]])
    adv = torch.tensor([0.7, -0.3, 1.1])
    loss, _ = POLICY_LOSSES["gspo"](logp, old, adv, 10.0, 10.0, mask=mask)  # no clipping
    n = mask.sum(dim=1, keepdim=True)
    (loss * mask / n).sum().backward()
    # the sequence objective -Σ_i A_i s_i(θ), s_i = exp(mean_t (logp - old))
    ref = logp.detach().clone().requires_grad_()
    s = torch.exp(((ref - old) * mask).sum(dim=1) / n[:, 0])
    (-(adv * s).sum()).backward()
    torch.testing.assert_close(logp.grad, ref.grad * mask)


def test_cispo_weights_reinforce_by_the_clipped_stopped_ratio():
    old = torch.tensor([[0.0, 0.0, 0.0]])
    logp = torch.tensor([[0.1, 0.9, -0.9]], requires_grad=True)  # ratios 1.105, 2.46, 0.41
    adv = torch.tensor([2.0])
    loss, clipped = POLICY_LOSSES["cispo"](logp, old, adv, 0.5, 0.28)
    weights = [math.exp(0.1), 1.28, 0.5]  # clip(ρ, 0.5, 1.28)
    assert loss[0].tolist() == pytest.approx([-2.0 * w for w in weights], rel=1e-6)
    assert clipped[0].tolist() == [0.0, 1.0, 1.0]
    loss.sum().backward()
    # every token keeps a gradient: -ŵ A ∇log π (PPO's clip would give the second token none)
    assert logp.grad[0].tolist() == pytest.approx([-2.0 * w for w in weights], rel=1e-6)


def test_is_corrections_by_hand():
    ratio = torch.tensor([[0.25, 0.5, 1.0, 3.0, 5.0, 9.0]])
    log_ratio = ratio.log()
    lo, hi = 0.5, 5.0
    expected = {
        "none": [1, 1, 1, 1, 1, 1],
        "tis": [0.25, 0.5, 1.0, 3.0, 5.0, 5.0],
        "mis": [0, 1, 1, 1, 1, 0],
        "icepop": [0, 0.5, 1.0, 3.0, 5.0, 0],
    }
    for name, want in expected.items():
        got = IS_CORRECTIONS[name](log_ratio, lo, hi)
        assert got[0].tolist() == pytest.approx(want, rel=1e-5), name


def test_sequence_level_ratio_is_the_product_over_the_response():
    old = torch.tensor([[-1.0, -1.0, -1.0], [-2.0, -2.0, 0.0]])
    sampler = torch.tensor([[-1.5, -0.5, -1.2], [-2.1, -2.1, -9.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    seq = is_log_ratio(old, sampler, mask, "sequence")
    assert seq[0].tolist() == pytest.approx([0.2, 0.2, 0.2], abs=1e-6)  # 0.5 - 0.5 + 0.2
    assert seq[1].tolist() == pytest.approx([0.2, 0.2, 0.0], abs=1e-6)  # the padding token takes no part
    assert is_log_ratio(old, sampler, mask, "token")[0].tolist() == pytest.approx([0.5, -0.5, 0.2], abs=1e-6)


def _cfg(**kw):
    base = dict(policy_loss="clip", eps_low=0.2, eps_high=0.28, dual_clip=0.0, is_bounds=[0.5, 5.0],
                is_correction="none", is_level="token", kl="k1", entropy_coef=0.0)  # fmt: skip
    return types.SimpleNamespace(**{**base, **kw})


def test_policy_loss_by_hand_with_icepop_kl_and_entropy():
    # one sequence of three tokens, on-policy (ρ = 1), sampler ratios π_old/μ = 1, 4, 8 (the last one masked)
    old = torch.tensor([[-1.0, -1.0, -1.0]])
    logp = old.clone().requires_grad_()
    sampler = old - torch.tensor([[0.0, math.log(4.0), math.log(8.0)]])
    ref = old - 0.5  # k1 = 0.5 per token
    entropy = torch.tensor([[2.0, 2.0, 2.0]])
    mask = torch.ones(1, 3)
    weights = mask / 3
    cfg = _cfg(is_correction="icepop", entropy_coef=0.1)
    loss, stats = policy_loss(logp, old, sampler, ref, torch.tensor([1.5]), weights, cfg, mask=mask,
                              entropy=entropy, beta=0.2)  # fmt: skip
    # L_t = w_t (-A) + β k1 - c_H H = w_t (-1.5) + 0.1 - 0.2, w = (1, 4, 0)
    expected = sum(w * -1.5 + 0.2 * 0.5 - 0.1 * 2.0 for w in (1.0, 4.0, 0.0)) / 3
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    assert stats["pg_loss"].item() == pytest.approx((-1.5 - 6.0) / 3, rel=1e-6)
    assert stats["is_ratio"].item() == pytest.approx(13.0, rel=1e-6)  # sums: mean = 13 / 3
    assert stats["is_ratio_max"].item() == pytest.approx(8.0, rel=1e-6)
    assert stats["is_masked"].item() == 1.0 and stats["tokens"].item() == 3.0
    assert stats["kl"].item() == pytest.approx(1.5, rel=1e-6)
    loss.backward()
    # d/dlogp: -A w_t / 3 from the surrogate, + β / 3 from k1
    assert logp.grad[0].tolist() == pytest.approx([(-1.5 * w + 0.2) / 3 for w in (1.0, 4.0, 0.0)], rel=1e-5)


def test_policy_loss_without_correction_is_the_plain_clip_loss():
    gen = torch.Generator().manual_seed(3)
    old = -torch.rand((2, 4), generator=gen)
    logp = old + 0.3 * torch.randn((2, 4), generator=gen)
    sampler = old + 0.2 * torch.randn((2, 4), generator=gen)
    mask = torch.tensor([[1.0, 1, 1, 0], [1, 1, 1, 1]])
    adv = torch.tensor([1.0, -0.5])
    loss, _ = policy_loss(logp, old, sampler, None, adv, mask / 7, _cfg(), mask=mask, entropy=torch.zeros(2, 4),
                          beta=0.0)  # fmt: skip
    pg, _ = POLICY_LOSSES["clip"](logp, old, adv, 0.2, 0.28)
    assert loss.item() == (mask / 7 * pg).sum().item()  # bitwise: the none correction changes nothing


def test_the_trainer_logs_and_applies_the_correction(make_trainer):
    """A sampler whose log-probs are off (as vLLM's can be): the step's IS metrics and masked share are those of
    π_old/μ computed from the rollout (two epochs over one minibatch: the old log-probs are the scorer's)."""
    trainer = make_trainer(["grpo.is_correction=icepop", "grpo.is_bounds=[0.8, 1.25]", "grpo.epochs=2"])
    generate = trainer.engine.generate
    gen = torch.Generator().manual_seed(0)

    def noisy(*args, **kwargs):
        samples = generate(*args, **kwargs)
        for s in samples:
            s.logprobs = [x + 0.4 * torch.randn(1, generator=gen).item() for x in s.logprobs]
        return samples

    trainer.engine.generate = noisy
    metrics = trainer.step(1)
    ro = trainer.last
    ratio = torch.exp(ro.old_logp - ro.sampler_logp)[ro.mask > 0]
    assert metrics["is_ratio_mean"] == pytest.approx(ratio.mean().item(), rel=1e-4)
    assert metrics["is_ratio_max"] == pytest.approx(ratio.max().item(), rel=1e-4)
    outside = ((ratio < 0.8) | (ratio > 1.25)).float().mean().item()
    assert 0 < metrics["is_masked_fraction"] == pytest.approx(outside, rel=1e-4)


def test_no_correction_still_measures_the_ratio(make_trainer):
    metrics = make_trainer().step(1)  # on-policy, the hf engine samples from the trainer's model: ratio ~ 1
    assert metrics["is_ratio_mean"] == pytest.approx(1.0, abs=1e-3)
    assert metrics["is_ratio_max"] >= 1.0 - 1e-3 and metrics["is_masked_fraction"] == 0.0


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ("grpo.is_correction=clamp", "grpo.is_correction must be one of"),
        ("grpo.is_bounds=[2, 5]", "grpo.is_bounds"),
        ("grpo.is_bounds=[0.5]", "grpo.is_bounds"),
        ("grpo.is_level=sequence", "grpo.is_level applies"),
        ("grpo.policy_loss=gspo,grpo.dual_clip=3", "grpo.dual_clip applies to policy_loss=clip"),
    ],
)
def test_correction_keys_are_validated(override, match):
    from rlvr.trainer.config import load_config

    with pytest.raises(ValueError, match=match):
        load_config(None, override.split(","))
