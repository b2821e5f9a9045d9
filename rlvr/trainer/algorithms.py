"""The GRPO family as small registered functions: advantages, policy losses, loss aggregation, KL estimators.

The training step calls `ADVANTAGES[cfg.advantage](...)`, `POLICY_LOSSES[cfg.policy_loss](...)`,
`LOSS_AGG[cfg.loss_agg](...)` and `KL[cfg.kl](...)`; adding a variant means adding a function here.

Shapes: P prompts, G samples per prompt (a group), B = P*G samples, T response tokens (padded).
`valid` [P, G] is False for samples whose verdict is `error` (an infrastructure failure): they get
advantage 0 and take no part in any group or batch statistic. `mask` [B, T] is 1 on response tokens of
valid samples and 0 on padding.
"""

from __future__ import annotations

import torch

EPS = 1e-6


def _group_mean(rewards: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean over the valid samples of each group [P, 1], number of valid samples [P, 1])."""
    v = valid.to(rewards.dtype)
    n = v.sum(dim=1, keepdim=True)
    return (rewards * v).sum(dim=1, keepdim=True) / n.clamp(min=1), n


def grpo_advantages(rewards: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """GRPO (Shao et al. 2024): A_i = (r_i - mean_g(r)) / (std_g(r) + 1e-6), std the unbiased std over the group.

    rewards, valid: [P, G] -> [P, G]. Mean and std run over the valid samples of the group; a group with
    fewer than two valid samples gets A = 0 (no baseline to compare with).
    """
    mean, n = _group_mean(rewards, valid)
    v = valid.to(rewards.dtype)
    var = (((rewards - mean) * v) ** 2).sum(dim=1, keepdim=True) / (n - 1).clamp(min=1)
    adv = (rewards - mean) / (var.sqrt() + EPS)
    return torch.where(valid & (n > 1), adv, torch.zeros_like(adv))


def dr_grpo_advantages(rewards: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Dr. GRPO (Liu et al. 2025): A_i = r_i - mean_g(r), no division by the group std (which upweights groups
    whose rewards barely differ). rewards, valid: [P, G] -> [P, G]; groups with < 2 valid samples get 0."""
    mean, n = _group_mean(rewards, valid)
    adv = rewards - mean
    return torch.where(valid & (n > 1), adv, torch.zeros_like(adv))


def reinforce_pp_baseline_advantages(rewards: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """REINFORCE++-baseline (Hu et al. 2025): a_i = r_i - mean_g(r), then normalised over the whole batch:
    A_i = (a_i - mean_B(a)) / (std_B(a) + 1e-6), mean and (unbiased) std over the valid samples of the batch.

    rewards, valid: [P, G] -> [P, G]. Groups with < 2 valid samples contribute a = 0 before the batch
    normalisation (so they do not shift it) and get A = 0. The normalisation is per sample, not per token
    as in OpenRLHF/verl's token-weighted whitening: in a batch of equal-length responses they coincide.
    """
    a = dr_grpo_advantages(rewards, valid)
    _, n = _group_mean(rewards, valid)
    use = valid & (n > 1)
    k = use.sum()
    if k < 2:
        return torch.zeros_like(a)
    mean = a[use].mean()
    std = a[use].std()
    return torch.where(use, (a - mean) / (std + EPS), torch.zeros_like(a))


ADVANTAGES = {
    "grpo": grpo_advantages,
    "dr_grpo": dr_grpo_advantages,
    "reinforce_pp_baseline": reinforce_pp_baseline_advantages,
}


def clip_policy_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    eps_low: float,
    eps_high: float,
    dual_clip: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """PPO's clipped surrogate with decoupled clip range (DAPO's clip-higher), per token.

    ρ_t = exp(logp_t - old_logp_t);  L_t = -min(ρ_t A, clip(ρ_t, 1 - eps_low, 1 + eps_high) A).
    Dual-clip (Ye et al. 2020), when `dual_clip` = c > 1: for A < 0 the loss is also capped, L_t = min(L_t, -c A),
    so a token whose ratio has grown far past 1 cannot push an unbounded negative update.
    logp, old_logp: [B, T]; advantages: [B] (one per sample, broadcast over its tokens) or [B, T] (per token).
    Returns (L [B, T], clipped [B, T] float: 1 where a clipped term was the one taken, i.e. gives no gradient).
    """
    adv = advantages[:, None] if advantages.dim() == 1 else advantages
    ratio = torch.exp(logp - old_logp)
    unclipped = ratio * adv
    clipped = torch.clamp(ratio, 1.0 - eps_low, 1.0 + eps_high) * adv
    loss = -torch.minimum(unclipped, clipped)
    was_clipped = clipped < unclipped
    if dual_clip:
        cap = -dual_clip * adv
        capped = (adv < 0) & (loss > cap)
        loss = torch.where(capped, cap, loss)
        was_clipped = was_clipped | capped
    return loss, was_clipped.to(logp.dtype)


POLICY_LOSSES = {"clip": clip_policy_loss}


def _total(x: torch.Tensor, all_sum) -> torch.Tensor:
    """x summed over the data-parallel ranks (`all_sum`), or x itself in one process."""
    return all_sum(x) if all_sum is not None else x


def token_mean_weights(mask: torch.Tensor, max_response_tokens: int, all_sum=None) -> torch.Tensor:
    """token_mean (DAPO): loss = Σ_{i,t} m_it L_it / Σ_{i,t} m_it: every token of the batch weighs the same.

    mask: [B, T] -> weights w [B, T] with loss = Σ w ⊙ L. 0 weights everywhere when the mask is empty.
    `all_sum` (data-parallel training) sums a count over the ranks, so the weights are those of the global batch.
    """
    return mask / _total(mask.sum(), all_sum).clamp(min=1)


def seq_mean_token_mean_weights(mask: torch.Tensor, max_response_tokens: int, all_sum=None) -> torch.Tensor:
    """seq_mean_token_mean (the original GRPO): loss = (1/N) Σ_i (Σ_t m_it L_it / Σ_t m_it), N = sequences with at
    least one token: a long response's tokens weigh less than a short one's. mask [B, T] -> weights [B, T]."""
    per_seq = mask.sum(dim=1, keepdim=True)
    n = _total((per_seq > 0).sum().to(mask.dtype), all_sum).clamp(min=1)
    return mask / per_seq.clamp(min=1) / n


def seq_mean_token_sum_norm_weights(mask: torch.Tensor, max_response_tokens: int, all_sum=None) -> torch.Tensor:
    """seq_mean_token_sum_norm (Dr. GRPO): loss = (1/N) Σ_i Σ_t m_it L_it / T_max, T_max = max_response_tokens (a
    constant, so no length bias), N = sequences with at least one token. mask [B, T] -> weights [B, T]."""
    n = _total((mask.sum(dim=1) > 0).sum().to(mask.dtype), all_sum).clamp(min=1)
    return mask / (n * max_response_tokens)


# Aggregations are token weights computed on a whole minibatch, so that micro-batches sum to the same loss.
LOSS_AGG = {
    "token_mean": token_mean_weights,
    "seq_mean_token_mean": seq_mean_token_mean_weights,
    "seq_mean_token_sum_norm": seq_mean_token_sum_norm_weights,
}


def kl_k1(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """k1 = log π(y_t) - log π_ref(y_t) (Schulman 2020): unbiased for KL(π || π_ref), high variance, can be < 0.
    logp, ref_logp: [B, T] -> [B, T]."""
    return logp - ref_logp


def kl_k2(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """k2 = ½ (log π(y_t) - log π_ref(y_t))²: biased, low variance, >= 0. [B, T] -> [B, T]."""
    return 0.5 * (logp - ref_logp) ** 2


def kl_k3(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """k3 = r - 1 - log r with r = π_ref(y_t) / π(y_t): unbiased, low variance, >= 0 (verl's "low_var_kl",
    without its clamp). [B, T] -> [B, T]."""
    log_r = ref_logp - logp
    return torch.exp(log_r) - 1.0 - log_r


KL = {"k1": kl_k1, "k2": kl_k2, "k3": kl_k3}


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples with c correct (Chen et al. 2021): 1 - C(n-c, k) / C(n, k)."""
    if k > n:
        raise ValueError(f"pass@k needs k <= n, got k={k}, n={n}")
    if n - c < k:
        return 1.0
    prod = 1.0
    for i in range(n - c + 1, n + 1):  # C(n-c, k) / C(n, k) = Π_{i=n-c+1}^{n} (1 - k/i)
        prod *= 1.0 - k / i
    return 1.0 - prod
