"""Prolonged-training controls: reward shaping by length, step verdicts as per-token advantages, the KL
coefficient controller and the reference-reset trigger.

Each control is a config key (see `config.py`: `grpo.*`, `length.*`, `reset.*`) and a small function or class
here; `grpo.py` calls them in this order for every sample i of a group g (P groups of G, B = P*G):

    r_i  = verifier reward                                   in [0, 1]
    r_i *= truncated_reward_scale if truncated  (length.truncated_reward_scale: ProRL v2's 0)
    r_i  = cosine_length_reward(...)            (length.cosine; in the on-part of length.cosine_cycle_steps)
    r_i += overlong_penalty(...)                (length.overlong_buffer_tokens)
    r_i += kimi_coef * kimi_length_reward(...)  (length.kimi_coef)
    r_i -= β Σ_t KL_t                           (grpo.kl_in = reward)
    A_i  = ADVANTAGES[grpo.advantage](r)
    A_it = A_i + w * process_advantages(...)_it (grpo.step_reward_weight: the verifier's step verdicts)

Controllers keep their state in `state_dict()` / `load_state_dict()`, which checkpoints carry.
"""

from __future__ import annotations

import math

import torch

EPS = 1e-6


def length_limit(schedule: list, default: int, step: int) -> int:
    """The maximum response length at `step`: the last `[from_step, tokens]` entry of `schedule` whose from_step
    is <= step (entries sorted by from_step), else `default`. E.g. [[0, 8192], [300, 16384]]."""
    limit = default
    for start, tokens in schedule:
        if step >= start:
            limit = tokens
    return int(limit)


def overlong_penalty(lengths: torch.Tensor, max_tokens: int, buffer: int, factor: float = 1.0) -> torch.Tensor:
    """DAPO's soft overlong punishment (Yu et al. 2025, eq. 13), added to the reward: 0 up to max - buffer tokens,
    then falling linearly to -factor at max tokens (and below, for longer). lengths: [B] -> [B]."""
    start = max_tokens - buffer
    return -factor * ((lengths.float() - start) / buffer).clamp(min=0.0)


def kimi_length_reward(lengths: torch.Tensor, correct: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Kimi k1.5's length reward (Kimi Team 2025, §2.3.3), per group: λ_i = 0.5 - (len_i - min) / (max - min) over
    the group's valid samples; a correct response gets λ_i, an incorrect one min(0, λ_i) (long wrong answers are
    penalised, short wrong ones not rewarded). 0 when every length in the group is equal.
    lengths, correct, valid: [P, G] -> [P, G]; invalid samples get 0."""
    x = lengths.float()
    big = torch.finfo(x.dtype).max
    lo = torch.where(valid, x, torch.full_like(x, big)).min(dim=1, keepdim=True).values
    hi = torch.where(valid, x, torch.full_like(x, -big)).max(dim=1, keepdim=True).values
    span = hi - lo
    lam = torch.where(span > 0, 0.5 - (x - lo) / span.clamp(min=EPS), torch.zeros_like(x))
    out = torch.where(correct, lam, lam.clamp(max=0.0))
    return torch.where(valid, out, torch.zeros_like(out))


def cosine_length_reward(
    lengths: torch.Tensor,
    correct: torch.Tensor,
    truncated: torch.Tensor,
    max_tokens: int,
    correct_range: tuple[float, float],
    wrong_range: tuple[float, float],
    exceed: float,
) -> torch.Tensor:
    """The cosine length-scaled reward (Yeo et al. 2025, "Demystifying Long Chain-of-Thought Reasoning"):
    r = r_T + ½ (r_0 - r_T)(1 + cos(π t / T)) for a response of t tokens, T = max_tokens, with (r_0, r_T) =
    `correct_range` for a correct response (shorter is better) and `wrong_range` for a wrong one (longer is
    better: more thinking before giving up); a truncated response gets `exceed`. lengths, correct, truncated: [B]."""
    t = lengths.float().clamp(max=max_tokens)
    shape = 0.5 * (1.0 + torch.cos(math.pi * t / max_tokens))
    r0 = torch.where(correct, correct_range[0], wrong_range[0])
    rT = torch.where(correct, correct_range[1], wrong_range[1])
    return torch.where(truncated, torch.full_like(t, exceed), rT + (r0 - rT) * shape)


def cycle_on(cycle: list, step: int) -> bool:
    """Whether a cyclic control is on at `step` (from 1): `cycle` = [on_steps, off_steps] repeats on_steps on, then
    off_steps off (ProRL v2's scheduled length penalty); an empty cycle is always on."""
    if not cycle:
        return True
    on, off = cycle
    return (step - 1) % (on + off) < on


def token_offsets(tok, response_ids: list[int]) -> list[int]:
    """The character offset in the response text at which each response token ends (special tokens add none)."""
    ends, n = [], 0
    for i in response_ids:
        n += len(tok.decode([i], skip_special_tokens=True))
        ends.append(n)
    return ends


def step_token_scores(tok, response_ids: list[int], steps) -> list[tuple[int, float]]:
    """(token index, score) for each scored step, (start, end, score) with a character span (`Verdict.steps`): the
    token where it ends."""
    ends = token_offsets(tok, response_ids)
    out = []
    for _, end, score in steps:
        k = next((j for j, e in enumerate(ends) if e >= end), len(ends) - 1)
        if k >= 0:
            out.append((k, float(score)))
    return out


def process_advantages(scores: list[list[tuple[int, float]]], valid: torch.Tensor, G: int, T: int) -> torch.Tensor:
    """Step verdicts as per-token advantages, as in DeepSeekMath's process supervision (Shao et al. 2024, §4.1.3):
    the scores of all steps in a group are normalised by the group's mean and std, r̃ = (r - mean) / (std + 1e-6),
    and token t gets the sum of r̃ over the steps that end at or after it.
    scores: B lists of (token position, score), positions < T; valid: [B] -> [B, T] (0 for invalid samples)."""
    B = len(scores)
    out = torch.zeros(B, T)
    for g in range(0, B, G):
        rows = [i for i in range(g, g + G) if valid[i]]
        flat = torch.tensor([s for i in rows for _, s in scores[i]], dtype=torch.float32)
        if flat.numel() == 0:
            continue
        mean, std = flat.mean(), flat.std(unbiased=False)
        for i in rows:
            for k, s in scores[i]:
                if k < T:
                    out[i, : k + 1] += (s - mean) / (std + EPS)
    return out


class KLController:
    """The KL coefficient β: fixed (`target` 0), or steered toward a target KL by the adaptive controller of
    Ziegler et al. 2019: β <- β (1 + clip(KL / target - 1, -0.2, 0.2) / horizon_steps) after every step."""

    def __init__(self, coef: float, target: float = 0.0, horizon_steps: int = 10) -> None:
        self.coef, self.target, self.horizon = coef, target, horizon_steps

    def update(self, kl: float) -> None:
        if self.target > 0 and math.isfinite(kl):
            err = min(max(kl / self.target - 1.0, -0.2), 0.2)
            self.coef *= 1.0 + err / self.horizon

    def state_dict(self) -> dict:
        return {"coef": self.coef}

    def load_state_dict(self, state: dict) -> None:
        self.coef = state["coef"]


class ResetTrigger:
    """When to reset the reference policy (and the optimiser): every `every_steps`; when the step's KL passes
    `kl_threshold`; when the validation metric has not improved for `patience` validations, or fell more than
    `degrade` below its best. After a reset the validation baseline restarts from the current value, so the
    triggers compare against the run since the last reset. Zero turns a trigger off."""

    def __init__(self, every_steps=0, kl_threshold=0.0, patience=0, degrade=0.0) -> None:
        self.every, self.kl_threshold, self.patience, self.degrade = every_steps, kl_threshold, patience, degrade
        self.best: float | None = None
        self.stale = 0  # validations since the best one
        self.count = 0

    def after_step(self, step: int, kl: float) -> str | None:
        if self.kl_threshold and kl > self.kl_threshold:
            return f"kl {kl:.4g} > {self.kl_threshold:g}"
        if self.every and step % self.every == 0:
            return f"schedule (every {self.every} steps)"
        return None

    def after_eval(self, value: float) -> str | None:
        if self.best is None or value > self.best:
            self.best, self.stale = value, 0
            return None
        self.stale += 1
        if self.degrade and value < self.best - self.degrade:
            return f"validation degraded: {value:.4f} < best {self.best:.4f} - {self.degrade:g}"
        if self.patience and self.stale >= self.patience:
            return f"validation plateau: no improvement on {self.best:.4f} for {self.stale} evaluations"
        return None

    def fired(self, value: float | None = None) -> None:
        """Record a reset; `value` (the latest validation, if any) becomes the new baseline."""
        self.count += 1
        self.stale = 0
        if value is not None:
            self.best = value

    def state_dict(self) -> dict:
        return {"best": self.best, "stale": self.stale, "count": self.count}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.stale, self.count = state["best"], state["stale"], state["count"]
