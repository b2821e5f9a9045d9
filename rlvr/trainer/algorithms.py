"""The GRPO family as small registered functions: advantages, policy losses, loss aggregation, KL estimators.

The training step calls `ADVANTAGES[cfg.advantage](...)`, `LOSS_AGG[cfg.loss_agg](...)` and `policy_loss`, the
loss as one pure function of tensors and config, which calls `POLICY_LOSSES[cfg.policy_loss](...)`,
`IS_CORRECTIONS[cfg.is_correction](...)` and `KL[cfg.kl](...)`; adding a variant means adding a function here.

Shapes: P prompts, G samples per prompt (a group), B = P*G samples, T response tokens (padded).
`valid` [P, G] is False for samples whose verdict is `error` (an infrastructure failure): they get
advantage 0 and take no part in any group or batch statistic. `mask` [B, T] is 1 on response tokens of
valid samples and 0 on padding.
"""

from __future__ import annotations

import math

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
    *,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """PPO's clipped surrogate with decoupled clip range (DAPO's clip-higher), per token.

    ρ_t = exp(logp_t - old_logp_t);  L_t = -min(ρ_t A, clip(ρ_t, 1 - eps_low, 1 + eps_high) A).
    Dual-clip (Ye et al. 2020), when `dual_clip` = c > 1: for A < 0 the loss is also capped, L_t = min(L_t, -c A),
    so a token whose ratio has grown far past 1 cannot push an unbounded negative update.
    logp, old_logp: [B, T]; advantages: [B] (one per sample, broadcast over its tokens) or [B, T] (per token);
    `mask` is unused (per-token loss; the signature every POLICY_LOSSES entry shares).
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


def gspo_policy_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    eps_low: float,
    eps_high: float,
    dual_clip: float = 0.0,
    *,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """GSPO (Zheng et al. 2025): PPO's clip on the sequence-level, length-normalised ratio

        s_i = (π_θ(y_i|x) / π_old(y_i|x))^(1/|y_i|) = exp(Σ_t m_it (logp_it - old_it) / Σ_t m_it)
        L_it = -min(s_it A, clip(s_it, 1 - eps_low, 1 + eps_high) A),   s_it = sg(s_i) · exp(logp_it - sg(logp_it))

    s_it (GSPO-token) has the value s_i on every token of sequence i, so the whole sequence is clipped or not, and
    gradient s_i ∇log π_θ(y_t); summed with loss_agg=seq_mean_token_mean it is GSPO's sequence gradient
    s_i (1/|y_i|) Σ_t ∇log π_θ(y_t). GSPO's paper clips at 3e-4 / 4e-4 (set grpo.eps_low / eps_high).
    mask [B, T]: the sequence's tokens (default: all); dual_clip is not defined for GSPO (config refuses it).
    Returns (L [B, T], clipped [B, T]).
    """
    adv = advantages[:, None] if advantages.dim() == 1 else advantages
    m = torch.ones_like(logp) if mask is None else mask
    seq_log_ratio = ((logp.detach() - old_logp) * m).sum(dim=1, keepdim=True) / m.sum(dim=1, keepdim=True).clamp(min=1)
    ratio = torch.exp(seq_log_ratio + logp - logp.detach())
    unclipped = ratio * adv
    clipped = torch.clamp(ratio, 1.0 - eps_low, 1.0 + eps_high) * adv
    return -torch.minimum(unclipped, clipped), (clipped < unclipped).to(logp.dtype)


def cispo_policy_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    eps_low: float,
    eps_high: float,
    dual_clip: float = 0.0,
    *,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """CISPO (MiniMax-M1, 2025): REINFORCE weighted by the clipped, stop-gradient IS ratio

        ŵ_t = clip(ρ_t, 1 - eps_low, 1 + eps_high),  ρ_t = exp(logp_t - old_t)
        L_t = -sg(ŵ_t) A log π_θ(y_t)

    Unlike PPO's clip no token loses its gradient (only its weight is bounded). Computed as
    -sg(ŵ_t) A exp(logp_t - sg(logp_t)): the same gradient, -ŵ_t A ∇log π_θ(y_t), and the value -ŵ_t A, comparable
    with clip's loss. MiniMax-M1 bounds only the top (a large eps_low). `clipped` marks the tokens whose ratio left
    the range (their weight was bounded). dual_clip is not defined for CISPO (config refuses it). Returns
    (L [B, T], clipped [B, T]).
    """
    adv = advantages[:, None] if advantages.dim() == 1 else advantages
    ratio = torch.exp(logp.detach() - old_logp)
    weight = torch.clamp(ratio, 1.0 - eps_low, 1.0 + eps_high)
    loss = -weight * adv * torch.exp(logp - logp.detach())
    return loss, (weight != ratio).to(logp.dtype)


POLICY_LOSSES = {"clip": clip_policy_loss, "gspo": gspo_policy_loss, "cispo": cispo_policy_loss}


# Off-policy correction: the rollout engine samples from μ (vLLM's kernels, another precision), the trainer's
# π_old differs slightly. Each correction maps log(π_old/μ) [B, T] (per token, or the sequence's sum broadcast over
# its tokens: grpo.is_level) and the bounds [lo, hi] (grpo.is_bounds) to weights w [B, T] (no gradient) that
# multiply the policy loss. Tokens with w = 0 are "masked" (is_masked_fraction).


def no_is_weights(log_ratio: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    """none: w = 1 (the mismatch is only measured)."""
    return torch.ones_like(log_ratio)


def tis_weights(log_ratio: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    """tis, truncated IS (Yao et al. 2025, "Your efficient RL framework secretly brings you off-policy RL"):
    w = min(π_old/μ, hi). `lo` is unused."""
    return torch.exp(log_ratio.clamp(max=math.log(hi)))


def mis_weights(log_ratio: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    """mis, masked IS as rejection: w = 1 if lo <= π_old/μ <= hi else 0; the tokens (or sequences) the sampler
    got too wrong leave the loss, the others keep the plain policy gradient (verl's rollout rejection sampling)."""
    return _inside(log_ratio, lo, hi).to(log_ratio.dtype)


def icepop_weights(log_ratio: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    """icepop (Ling team 2025, IcePop; NeMo-RL's truncated_importance_sampling_type "icepop", ProRL v2 with
    [0.5, 5]): w = π_old/μ if lo <= π_old/μ <= hi else 0: IS weights, with the outliers zeroed."""
    return torch.where(_inside(log_ratio, lo, hi), torch.exp(log_ratio.clamp(max=math.log(hi))), 0.0)


def _inside(log_ratio: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    low = math.log(lo) if lo > 0 else -math.inf
    return (log_ratio >= low) & (log_ratio <= math.log(hi))


IS_CORRECTIONS = {"none": no_is_weights, "tis": tis_weights, "mis": mis_weights, "icepop": icepop_weights}


def is_log_ratio(old_logp: torch.Tensor, sampler_logp: torch.Tensor, mask: torch.Tensor, level: str) -> torch.Tensor:
    """log(π_old/μ) [B, T]: per token (`token`), or Σ_t m_t log(π_old(y_t)/μ(y_t)) of the whole sequence on each of
    its tokens (`sequence`). 0 off the mask."""
    log_ratio = (old_logp - sampler_logp) * mask
    if level == "sequence":
        return log_ratio.sum(dim=1, keepdim=True) * mask
    return log_ratio


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


def policy_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    sampler_logp: torch.Tensor,
    ref_logp: torch.Tensor | None,
    adv: torch.Tensor,
    weights: torch.Tensor,
    cfg,
    *,
    mask: torch.Tensor,
    entropy: torch.Tensor,
    beta: float,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The loss of one micro-batch, the formula of grpo.py's docstring (`cfg`: the run's GRPOConfig):

        ρ_t    = exp(logp_t - old_t)
        w^IS_t = IS_CORRECTIONS[is_correction](log π_old(y_t)/μ(y_t), is_bounds)   (token or sequence level)
        L_t    = w^IS_t · POLICY_LOSSES[policy_loss](ρ_t, A) + β KL[kl](logp_t, ref_t) - c_H H_t
        loss   = Σ_{i,t} weights_it L_t

    logp (differentiable), old_logp, sampler_logp (μ), ref_logp (None: no KL term), entropy, weights, mask: [B, T];
    adv: [B] or [B, T]; beta: the KL coefficient in the loss (0 when the KL goes into the reward).
    Returns (loss, stats): stats are detached sums over the mask's tokens (pg_loss: weighted like the loss) and
    is_ratio_max, for the caller to aggregate over micro-batches: pg_loss, kl, entropy, clipped, is_ratio,
    is_ratio_max, is_masked, tokens.
    """
    pg, clipped = POLICY_LOSSES[cfg.policy_loss](
        logp, old_logp, adv, cfg.eps_low, cfg.eps_high, cfg.dual_clip, mask=mask
    )
    lo, hi = cfg.is_bounds
    w_is = IS_CORRECTIONS[cfg.is_correction](is_log_ratio(old_logp, sampler_logp, mask, cfg.is_level), lo, hi)
    pg = w_is * pg
    kl = KL[cfg.kl](logp, ref_logp) if ref_logp is not None else torch.zeros_like(logp)
    loss = (weights * (pg + beta * kl - cfg.entropy_coef * entropy)).sum()
    ratio = torch.exp(old_logp - sampler_logp) * mask  # π_old/μ per token, whatever the correction
    stats = {
        "pg_loss": (weights * pg).sum(),
        "kl": (kl * mask).sum(),
        "entropy": (entropy * mask).sum(),
        "clipped": (clipped * mask).sum(),
        "is_ratio": ratio.sum(),
        "is_ratio_max": ratio.max() if ratio.numel() else ratio.new_zeros(()),
        "is_masked": ((w_is == 0) * mask).sum(),
        "tokens": mask.sum(),
    }
    return loss, {k: v.detach() for k, v in stats.items()}


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
