"""Each registered algorithm function against a slow loop written from its docstring formula."""

from __future__ import annotations

import math

import pytest
import torch

from rlvr.trainer.algorithms import ADVANTAGES, KL, LOSS_AGG, POLICY_LOSSES, pass_at_k


def _inputs(seed: int, p: int = 5, g: int = 4):
    gen = torch.Generator().manual_seed(seed)
    rewards = torch.randint(0, 3, (p, g), generator=gen).float() / 2  # ties and all-equal groups happen
    valid = torch.rand((p, g), generator=gen) > 0.2
    valid[0] = True
    rewards[1] = 1.0  # an all-equal group
    valid[2] = False
    valid[2, 0] = True  # a group with one valid sample
    return rewards, valid


def _mean_std(xs: list[float]) -> tuple[float, float]:
    m = sum(xs) / len(xs)
    return m, math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def _loop_group(rewards, valid, divide_by_std: bool):
    out = torch.zeros_like(rewards)
    for i in range(rewards.shape[0]):
        xs = [rewards[i, j].item() for j in range(rewards.shape[1]) if valid[i, j]]
        if len(xs) < 2:
            continue
        m, s = _mean_std(xs)
        for j in range(rewards.shape[1]):
            if valid[i, j]:
                a = rewards[i, j].item() - m
                out[i, j] = a / (s + 1e-6) if divide_by_std else a
    return out


@pytest.mark.parametrize("seed", range(5))
def test_grpo_and_dr_grpo_match_the_formula(seed):
    rewards, valid = _inputs(seed)
    torch.testing.assert_close(ADVANTAGES["grpo"](rewards, valid), _loop_group(rewards, valid, True))
    torch.testing.assert_close(ADVANTAGES["dr_grpo"](rewards, valid), _loop_group(rewards, valid, False))


@pytest.mark.parametrize("seed", range(5))
def test_reinforce_pp_baseline_matches_the_formula(seed):
    rewards, valid = _inputs(seed)
    a = _loop_group(rewards, valid, False)
    used = [
        (i, j) for i in range(rewards.shape[0]) for j in range(rewards.shape[1]) if valid[i, j] and valid[i].sum() >= 2
    ]
    m, s = _mean_std([a[i, j].item() for i, j in used])
    expected = torch.zeros_like(a)
    for i, j in used:
        expected[i, j] = (a[i, j] - m) / (s + 1e-6)
    torch.testing.assert_close(ADVANTAGES["reinforce_pp_baseline"](rewards, valid), expected)


def test_masked_samples_get_zero_advantage_and_do_not_move_the_baseline():
    rewards = torch.tensor([[1.0, 0.0, 0.0, 1.0]])
    valid = torch.tensor([[True, True, True, False]])
    for name, fn in ADVANTAGES.items():
        adv = fn(rewards, valid)
        assert adv[0, 3] == 0, name
    torch.testing.assert_close(ADVANTAGES["dr_grpo"](rewards, valid), torch.tensor([[2 / 3, -1 / 3, -1 / 3, 0.0]]))


def _loss_inputs(seed: int, b: int = 6, t: int = 7):
    gen = torch.Generator().manual_seed(seed)
    loss = torch.randn((b, t), generator=gen)
    mask = (torch.rand((b, t), generator=gen) > 0.3).float()
    mask[1] = 0  # a masked (error) sample
    return loss, mask


@pytest.mark.parametrize("seed", range(3))
def test_loss_aggregations_match_the_formulas(seed):
    loss, mask = _loss_inputs(seed)
    b, t = loss.shape
    t_max = 10
    rows = [i for i in range(b) if mask[i].sum() > 0]
    tok_sum = sum(loss[i, j] * mask[i, j] for i in range(b) for j in range(t))
    expected = {
        "token_mean": tok_sum / mask.sum(),
        "seq_mean_token_mean": sum(
            sum(loss[i, j] * mask[i, j] for j in range(t)) / mask[i].sum() for i in rows
        ) / len(rows),
        "seq_mean_token_sum_norm": sum(sum(loss[i, j] * mask[i, j] for j in range(t)) / t_max for i in rows)
        / len(rows),
    }  # fmt: skip
    for name, fn in LOSS_AGG.items():
        w = fn(mask, t_max)
        torch.testing.assert_close((w * loss).sum(), torch.as_tensor(expected[name]), msg=name)


def test_loss_aggregation_splits_exactly_over_micro_batches():
    loss, mask = _loss_inputs(0)
    for name, fn in LOSS_AGG.items():
        w = fn(mask, 10)
        whole = (w * loss).sum()
        parts = (w[:2] * loss[:2]).sum() + (w[2:] * loss[2:]).sum()
        torch.testing.assert_close(parts, whole, msg=name)


@pytest.mark.parametrize("eps", [(0.2, 0.2), (0.2, 0.28), (0.1, 0.4)])
def test_clip_loss_matches_the_formula(eps):
    gen = torch.Generator().manual_seed(1)
    logp, old = -torch.rand((4, 5), generator=gen) * 2, -torch.rand((4, 5), generator=gen) * 2
    adv = torch.randn(4, generator=gen)
    loss, clipped = POLICY_LOSSES["clip"](logp, old, adv, *eps)
    for i in range(4):
        for j in range(5):
            r = math.exp(logp[i, j].item() - old[i, j].item())
            a = adv[i].item()
            c = min(max(r, 1 - eps[0]), 1 + eps[1])
            assert loss[i, j].item() == pytest.approx(-min(r * a, c * a), rel=1e-5)
            assert clipped[i, j].item() == float(c * a < r * a)


def test_clip_loss_at_ratio_one_is_minus_the_advantage_and_has_its_gradient():
    logp = torch.tensor([[-1.0, -2.0]], requires_grad=True)
    loss, clipped = POLICY_LOSSES["clip"](logp, logp.detach(), torch.tensor([0.5]), 0.2, 0.28)
    torch.testing.assert_close(loss, torch.tensor([[-0.5, -0.5]]))
    loss.sum().backward()
    torch.testing.assert_close(logp.grad, torch.tensor([[-0.5, -0.5]]))
    assert clipped.sum() == 0


def test_kl_estimators_match_schulman():
    gen = torch.Generator().manual_seed(2)
    logp, ref = -torch.rand((3, 4), generator=gen) * 3, -torch.rand((3, 4), generator=gen) * 3
    for i in range(3):
        for j in range(4):
            lr = ref[i, j].item() - logp[i, j].item()  # log r, r = π_ref / π
            assert KL["k1"](logp, ref)[i, j].item() == pytest.approx(-lr, rel=1e-5)
            assert KL["k2"](logp, ref)[i, j].item() == pytest.approx(0.5 * lr**2, rel=1e-5)
            assert KL["k3"](logp, ref)[i, j].item() == pytest.approx(math.exp(lr) - 1 - lr, rel=1e-4, abs=1e-7)
    for name in KL:
        assert torch.all(KL[name](logp, logp) == 0), name


def test_k3_is_an_unbiased_estimate_of_the_kl():
    p = torch.tensor([0.5, 0.3, 0.2])
    q = torch.tensor([0.2, 0.5, 0.3])
    exact = (p * (p / q).log()).sum()
    for name in ("k1", "k3"):
        est = (p * KL[name](p.log(), q.log())).sum()  # E_{y~p}[k(y)]
        torch.testing.assert_close(est, exact, msg=name)


def test_pass_at_k():
    assert pass_at_k(8, 0, 1) == 0.0
    assert pass_at_k(8, 8, 4) == 1.0
    assert pass_at_k(8, 2, 1) == pytest.approx(2 / 8)
    assert pass_at_k(8, 2, 2) == pytest.approx(1 - math.comb(6, 2) / math.comb(8, 2))
    assert pass_at_k(5, 1, 3) == pytest.approx(1 - math.comb(4, 3) / math.comb(5, 3))
    with pytest.raises(ValueError, match="k <= n"):
        pass_at_k(2, 1, 4)
