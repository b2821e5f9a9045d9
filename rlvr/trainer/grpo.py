"""One GRPO step, written to read like the math.

For P prompts with G samples each (B = P*G), T response tokens per sample:

    y_i ~ π_old(· | x)                                  rollout engine, log-probs at the sampling temperature τ
    r_i = verifier(x, y_i);  valid_i = status_i != "error"
    keep the groups whose rewards differ               (grpo.dynamic_sampling; sample more prompts to refill)
    r_i = shaped by length and KL                       (controls.py: length.*, grpo.kl_in = reward)
    A_i = ADVANTAGES[advantage](r, valid)               [P, G] -> [B]; + step verdicts per token (dual reward: the
                                                        verdicts' steps, scored where verified, via the env's info)
    old_t = log π_old(y_t) at τ, recomputed by the trainer (the ratio's denominator; not the sampler's log-probs)
    μ_t = the sampler's log-prob of y_t (the engine's; vLLM's kernels make it differ slightly from old_t)
    for each epoch, for each minibatch (one optimiser step): loss = policy_loss(...) (algorithms.py), i.e.
        ρ_t = exp(log π_θ(y_t) - old_t)
        w^IS_t = IS_CORRECTIONS[is_correction](old_t - μ_t)       (grpo.is_bounds, grpo.is_level; none: 1)
        L_t = w^IS_t · POLICY_LOSSES[policy_loss](ρ_t, A)  + β KL_t(π_θ || π_ref) - c_H H_t
              clip: -min(ρ_t A_i, clip(ρ_t, 1-eps_low, 1+eps_high) A_i) [dual-clip]; gspo; cispo
        loss = Σ_{i,t} w_it L_t,   w = LOSS_AGG[loss_agg](mask)    (mask: response tokens of valid samples)

The mismatch is logged every step: mean |μ_t - old_t| (`mismatch`), mean and max of π_old/μ (`is_ratio_mean`,
`is_ratio_max`) and the share of tokens a correction dropped (`is_masked_fraction`).
Log-probs and entropies come from `fused_logprobs` on the final hidden states (`response_logprobs`), at the
sampling temperature. `engine.sync_weights(policy)` runs after every optimiser step. An optimiser step whose
loss or gradient is not finite is skipped (counted in `nonfinite_updates`); `TrainingStopped` is raised after
`grpo.max_nonfinite_steps` in a row, or when a step's share of `error` verdicts passes `grpo.max_error_fraction`.

Data-parallel training (`dist`, `forward`; see distributed.py): each rank collects prompts_per_step / N prompts;
the loss weights are those of the global batch (counts summed over ranks, times N because DDP/FSDP2 average the
gradients); the step's minibatch count is global (each rank splits its own samples into that many parts) and every
rank makes the same number of micro-batch passes (zero-weight padding), as DDP/FSDP2 collectives require. A step
where some rank kept no group (dynamic sampling) makes no update on any rank. Skip decisions (non-finite) and the
KL controller use values reduced over the ranks, so every rank takes the same decisions.

Multi-turn envs: a sample is an episode (episodes.py): reset -> (response -> step)* until the env ends it or
rollout.max_turns; the env's tokens are context, outside the mask (no loss, no KL); the episode's reward is the sum
of its turns' (or the last turn's: rollout.turn_reward); a group is G episodes from one reset seed.

Not handled yet: sequence packing of rollouts (they are right-padded; micro-batching bounds the memory); step
verdicts and per-response length shaping (length.cosine, overlong_buffer_tokens, kimi_coef) in multi-turn episodes
(refused at start-up).
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import torch

from rlvr.envs.base import derive_seed
from rlvr.trainer.algorithms import ADVANTAGES, KL, LOSS_AGG, policy_loss
from rlvr.trainer.config import TrainConfig
from rlvr.trainer.controls import (
    KLController,
    cosine_length_reward,
    cycle_on,
    kimi_length_reward,
    length_limit,
    overlong_penalty,
    process_advantages,
    step_token_scores,
)
from rlvr.trainer.distributed import Dist, PolicyForward, publish
from rlvr.trainer.episodes import collect_episodes, episode_batch, trained_logprobs, turn_metrics
from rlvr.trainer.evaluate import dataset_source
from rlvr.trainer.model import TokenBatch, response_logprobs


def mismatch(sampler_logp: torch.Tensor, logp: torch.Tensor, mask: torch.Tensor) -> float:
    """Mean |sampler - trainer| log-prob over the response tokens `mask` (the train/inference mismatch)."""
    return ((sampler_logp - logp).abs() * mask).sum().item() / mask.sum().clamp(min=1).item()


def _sample_problems(venv, n: int = 64) -> list:
    """Up to `n` problems of an rlvr env's source (seeds 0..n-1), or [] for another kind of env."""
    source = getattr(getattr(venv, "env", None), "source", None)
    return [source.problem(s) for s in range(n)] if hasattr(source, "problem") else []


def check_env(cfg: TrainConfig, venv) -> None:
    """Refuse, naming the key, what cannot act with this env (run at start-up and when a GRPO is built):
    grpo.step_reward_weight without step verdicts from the env or without a verifier that has a step checker;
    rollout.max_turns > 1 on a single-turn env; step verdicts and per-response length shaping on multi-turn episodes;
    prompt characters outside model.vocab_chars for a built model (they would read as <unk>)."""
    from rlvr.verifiers import get_verifier

    r, c, env = cfg.rollout, cfg.length, venv.env
    env_max_turns = getattr(env, "max_turns", 0)  # 0: a plain text env, its limit unknown
    problems = _sample_problems(venv)
    if cfg.grpo.step_reward_weight:
        names = sorted({p.verifier for p in problems})
        if not any(get_verifier(n).step_checker for n in names):
            raise ValueError(f"grpo.step_reward_weight = {cfg.grpo.step_reward_weight}: {cfg.env.id}'s verifiers "
                             f"({', '.join(names) or 'none: not an rlvr ReasoningEnv'}) have no step checker "
                             "(verify_steps); set it to 0")  # fmt: skip
        if not getattr(env, "step_verdicts", False):
            raise ValueError("grpo.step_reward_weight needs step verdicts from the env: make the vector env with "
                             "step_verdicts=True (make_venv(..., step_verdicts=True))")  # fmt: skip
    if env_max_turns == 1 and r.max_turns > 1:
        raise ValueError(f"rollout.max_turns={r.max_turns} but {cfg.env.id} is single-turn (every episode ends after "
                         "one step); multi-turn envs take max_turns in env.kwargs")  # fmt: skip
    if env_max_turns > 1 and r.max_turns != 1:
        shaped = {
            "grpo.step_reward_weight": cfg.grpo.step_reward_weight,
            "length.cosine": c.cosine,
            "length.overlong_buffer_tokens": c.overlong_buffer_tokens,
            "length.kimi_coef": c.kimi_coef,
        }
        for key, value in shaped.items():
            if value:
                raise ValueError(f"{key} scores single responses; {cfg.env.id} plays multi-turn episodes (up to "
                                 f"{env_max_turns} turns): unset it, or set rollout.max_turns=1")  # fmt: skip
    if not cfg.model.path:
        prompts = [p.prompt for p in problems] or list(venv.reset(seed=cfg.env.seed)[0])
        missing = sorted({ch for text in prompts for ch in text} - set(cfg.model.vocab_chars))
        if missing:
            raise ValueError(f"model.vocab_chars {cfg.model.vocab_chars!r} lacks characters that the prompts of "
                             f"{cfg.env.id} use: {''.join(missing)!r} (read as <unk>); add them")  # fmt: skip


class TrainingStopped(RuntimeError):
    """The run cannot go on (too many infrastructure errors, non-finite updates); the message says why."""


@dataclasses.dataclass
class Group:
    """The G episodes of one prompt with their verdicts: rewards [G] (the episodes'), status [G], steps: G lists of
    (target column in the batch, step score) (empty unless the dual reward is on)."""

    episodes: list
    rewards: list[float]
    status: list[str]
    steps: list[list[tuple[int, float]]]

    @property
    def uniform(self) -> bool:
        """All valid rewards equal (or fewer than two valid samples): no advantage signal."""
        r = [x for x, s in zip(self.rewards, self.status, strict=True) if s != "error"]
        return len(r) < 2 or max(r) == min(r)


@dataclasses.dataclass
class Rollout:
    """One step's data. batch: [B, L] token ids; mask, old_logp, ref_logp, sampler_logp: [B, L-1]; advantages:
    [B] or [B, L-1] (per token, with the dual reward); rewards (shaped), valid: [B]; B = kept groups x G."""

    batch: TokenBatch
    mask: torch.Tensor
    advantages: torch.Tensor
    rewards: torch.Tensor
    valid: torch.Tensor
    old_logp: torch.Tensor | None  # None on-policy (see GRPO.on_policy)
    ref_logp: torch.Tensor | None
    sampler_logp: torch.Tensor
    status: list[str]
    lengths: list[int]
    episodes: list  # the `Episode`s (texts, verdicts, turns), one per row


class GRPO:
    """Holds what a step needs: the policy, its optimiser, the reference, the engine and the vector env, and the
    controllers' state (the KL coefficient, the count of non-finite updates in a row)."""

    def __init__(
        self, cfg: TrainConfig, policy, ref, tok, engine, venv, optimizer, scheduler, dist=None, forward=None
    ) -> None:
        """`forward`: the differentiable forward the optimiser's parameters sit behind (`distributed.wrap`);
        default: `response_logprobs` on `policy` itself."""
        self.cfg, self.policy, self.ref, self.tok = cfg, policy, ref, tok
        self.engine, self.venv, self.opt, self.sched = engine, venv, optimizer, scheduler
        self.dist = dist or Dist()
        self.forward = forward if forward is not None else PolicyForward(policy)
        self.device = next(policy.parameters()).device
        g = cfg.grpo
        self.kl_ctl = KLController(g.kl_coef, g.kl_target, g.kl_horizon_steps)
        self.nonfinite_run = 0
        self.times: dict[str, float] = {}
        self.last: Rollout | None = None  # the latest step's rollout (inspection, tests)
        self.sample_log = None  # a samples.SampleLog (run.py sets it): some of each step's samples to samples.jsonl
        if venv is not None:  # (None: a trainer that only updates, as distributed tests build)
            check_env(cfg, venv)

    @property
    def on_policy(self) -> bool:
        """One optimiser step per rollout: the policy being trained is the one that sampled, so old log-probs are
        the update's own (detached) log-probs and the separate scoring pass is skipped (ρ = 1 exactly). Not when the
        KL goes into the reward: that needs the old log-probs before the advantages."""
        g = self.cfg.grpo
        one_minibatch = not g.minibatch_samples or g.minibatch_samples >= g.prompts_per_step * g.samples_per_prompt
        return g.epochs == 1 and one_minibatch and not (g.kl_in == "reward" and self.needs_ref)

    @property
    def needs_ref(self) -> bool:
        return self.cfg.grpo.kl_coef > 0 or self.cfg.reset.kl_threshold > 0

    @torch.no_grad()
    def score(self, model, batch: TokenBatch) -> torch.Tensor:
        """log π(y_t) at the sampling temperature, [B, L-1], in micro-batches."""
        out = torch.zeros(batch.targets.shape, device=self.device)
        for idx in self._micro(torch.arange(batch.input_ids.shape[0])):
            out[idx] = response_logprobs(model, batch.rows(idx), self.cfg.rollout.temperature)[0]
        return out

    def _micro(self, idx: torch.Tensor) -> list[torch.Tensor]:
        size = self.cfg.grpo.micro_batch_samples or len(idx)
        return list(idx.split(size))

    def sample_groups(self, seed: int, max_tokens: int, seeds: list[int] | None = None) -> list[Group]:
        """Reset the vector env with `seed` (or the problem seeds `seeds`, one per group), play G episodes per prompt
        (episodes.py), with their verdicts (and the steps of single-turn responses)."""
        r, G = self.cfg.rollout, self.cfg.grpo.samples_per_prompt
        sampling = dict(temperature=r.temperature, top_p=r.top_p, max_response_tokens=max_tokens,
                        stop_strings=r.stop_strings)  # fmt: skip
        episodes = collect_episodes(self.engine, self.venv, self.tok, seed, n=G, sampling=sampling,
                                    max_turns=r.max_turns, chat_template=self.cfg.model.chat_template,
                                    times=self.times, options=None if seeds is None else {"seeds": seeds})  # fmt: skip
        rewards = [e.reward(r.turn_reward) for e in episodes]
        status = [e.status for e in episodes]
        t0 = time.perf_counter()
        if self.sample_log is not None:
            prompts = [p.prompt for p in self.venv.problems[::G]]
            self.sample_log.add(prompts, episodes, rewards, status, self.venv.problems)
        steps = [self._steps(e) for e in episodes] if self.cfg.grpo.step_reward_weight else None
        self.times["time_verify_s"] += time.perf_counter() - t0
        return [
            Group(episodes[k : k + G], rewards[k : k + G], status[k : k + G],
                  steps[k : k + G] if steps else [[] for _ in range(G)])
            for k in range(0, len(episodes), G)
        ]  # fmt: skip

    def _steps(self, episode) -> list[tuple[int, float]]:
        """The step verdicts of a (single-turn) episode's response as (target column in the batch, score): those its
        verdict brought back through the env (`Verdict.steps`, scored where the verdict was made); [] for none. A
        step checker that failed on the response (`Verdict.step_error`) is counted in `step_check_errors`."""
        verdict = episode.verdicts[0] if episode.verdicts else None
        if verdict and verdict.get("step_error"):
            self.times["step_check_errors"] += 1
        if not verdict or not verdict.get("steps"):
            return []
        first = len(episode.prompt_ids) - 1  # response token k is predicted at target column first + k
        return [(first + k, s) for k, s in step_token_scores(self.tok, episode.response_ids, verdict["steps"])]

    def shaped_rewards(self, groups: list[Group], max_tokens: int, step: int) -> torch.Tensor:
        """The verifier rewards with the length controls applied (see controls.py), [P, G]."""
        c = self.cfg.length
        rewards = torch.tensor([grp.rewards for grp in groups], dtype=torch.float32)
        lengths = torch.tensor([[e.model_tokens for e in grp.episodes] for grp in groups])
        correct = torch.tensor([[s == "correct" for s in grp.status] for grp in groups])
        valid = torch.tensor([[s != "error" for s in grp.status] for grp in groups])
        truncated = torch.tensor([[e.finish_reason == "length" for e in grp.episodes] for grp in groups])
        if c.truncated_reward_scale != 1.0:
            rewards = torch.where(truncated, rewards * c.truncated_reward_scale, rewards)
        if c.cosine and cycle_on(c.cosine_cycle_steps, step):
            rewards = cosine_length_reward(
                lengths, correct, truncated, max_tokens, c.cosine_correct, c.cosine_wrong, c.cosine_exceed
            )
        if c.overlong_buffer_tokens:
            rewards = rewards + overlong_penalty(lengths, max_tokens, c.overlong_buffer_tokens, c.overlong_penalty)
        if c.kimi_coef:
            rewards = rewards + c.kimi_coef * kimi_length_reward(lengths, correct, valid)
        return rewards

    def collect(self, step: int) -> tuple[Rollout | None, dict]:
        """Sample (more rounds with dynamic sampling), verify, shape rewards, compute advantages and the old and
        reference log-probs for one step. The rollout is None when dynamic sampling kept no group."""
        g, P = self.cfg.grpo, self.cfg.grpo.prompts_per_step // self.dist.world_size  # this rank's prompts
        max_tokens = length_limit(self.cfg.length.schedule, self.cfg.rollout.max_response_tokens, step)
        self.times = {"time_generate_s": 0.0, "time_verify_s": 0.0}
        if g.step_reward_weight:
            self.times["step_check_errors"] = 0  # step checkers that raised on a response (its steps go unscored)
        base = derive_seed(self.cfg.env.seed, step)
        if self.dist.world_size > 1:
            base = derive_seed(base, 1_000_000 + self.dist.rank)  # each rank draws its own prompts
        generated: list[Group] = []
        kept: list[Group] = []
        # a dataset env (split_rows): the step's first round takes the next rows of the epoch order, by position
        rows = None
        if dataset_source(self.venv) is not None:
            first = ((step - 1) * self.dist.world_size + self.dist.rank) * P
            rows = list(range(first, first + P))
        for rnd in range(g.max_sampling_rounds if g.dynamic_sampling else 1):
            seeds = rows if rnd == 0 else None  # refills (dynamic sampling) draw rows at random
            groups = self.sample_groups(base if rnd == 0 else derive_seed(base, rnd), max_tokens, seeds)
            generated += groups
            kept += [grp for grp in groups if not (g.dynamic_sampling and grp.uniform)]
            if len(kept) >= P:
                break
        kept = kept[:P]

        status = [s for grp in generated for s in grp.status]
        rewards = [r for grp in generated for r in grp.rewards]
        episodes = [e for grp in generated for e in grp.episodes]
        ok = [i for i, s in enumerate(status) if s != "error"]
        metrics = {
            "reward": float(np.mean([rewards[i] for i in ok] or [0.0])),
            "accuracy": float(np.mean([status[i] == "correct" for i in ok] or [0.0])),
            "error_fraction": 1.0 - len(ok) / len(status),
            "response_tokens": float(np.mean([e.model_tokens for e in episodes])),
            "max_response_tokens": max_tokens,
            "truncated_fraction": float(np.mean([e.finish_reason == "length" for e in episodes])),
            **turn_metrics(episodes),
            "zero_adv_groups": float(np.mean([grp.uniform for grp in generated])),
            "kept_fraction": len(kept) / len(generated),
            "sampling_rounds": len(generated) // P,
            **self.times,
        }
        if metrics["error_fraction"] > g.max_error_fraction:
            raise TrainingStopped(
                f"step {step}: {metrics['error_fraction']:.0%} of the verdicts are `error` (infrastructure failures), "
                f"more than grpo.max_error_fraction = {g.max_error_fraction}; first: {self._first_error(generated)}"
            )
        if not kept:
            return None, metrics
        return self._rollout(kept, max_tokens, metrics, step), metrics

    @staticmethod
    def _first_error(groups: list[Group]) -> str:
        pairs = ((s, st) for grp in groups for s, st in zip(grp.episodes, grp.status, strict=True))
        return next((f"response {s.text[:80]!r}" for s, st in pairs if st == "error"), "")

    def _rollout(self, groups: list[Group], max_tokens: int, metrics: dict, step: int) -> Rollout:
        g, c = self.cfg.grpo, self.cfg.length
        t0 = time.perf_counter()
        P, G = len(groups), g.samples_per_prompt
        episodes = [e for grp in groups for e in grp.episodes]
        status = [s for grp in groups for s in grp.status]
        valid = torch.tensor([s != "error" for s in status])
        batch = episode_batch(episodes, self.tok.pad_token_id)
        batch = batch.to(self.device)
        keep = valid.clone()
        if c.overlong_filter:
            keep &= torch.tensor([e.finish_reason != "length" for e in episodes])
        mask = batch.response_mask * keep.to(self.device, torch.float32)[:, None]
        old_logp = None if self.on_policy else self.score(self.policy, batch)
        ref_logp = self.score(self.ref, batch) if self.needs_ref else None

        rewards = self.shaped_rewards(groups, max_tokens, step)
        if g.kl_in == "reward" and ref_logp is not None:
            seq_kl = (KL[g.kl](old_logp, ref_logp) * batch.response_mask).sum(dim=1).cpu()
            rewards = rewards - self.kl_ctl.coef * seq_kl.view(P, G)
        advantages = ADVANTAGES[g.advantage](rewards, valid.view(P, G)).flatten().to(self.device)
        if g.step_reward_weight:
            steps = [st for grp in groups for st in grp.steps]
            proc = process_advantages(steps, valid, G, batch.targets.shape[1]).to(self.device)
            advantages = advantages[:, None] + g.step_reward_weight * proc * batch.response_mask  # not on the prompt
        sampler_logp = torch.zeros(batch.targets.shape, device=self.device)
        sampler_logp[batch.targets != -100] = torch.tensor(trained_logprobs(episodes), device=self.device)
        metrics["shaped_reward"] = rewards.flatten()[valid].mean().item() if valid.any() else 0.0
        if old_logp is not None:  # (on-policy, `update` measures it on its own forward)
            metrics["mismatch"] = mismatch(sampler_logp, old_logp, batch.response_mask)
        metrics["time_score_s"] = time.perf_counter() - t0
        lengths = [e.model_tokens for e in episodes]
        return Rollout(batch, mask, advantages, rewards.flatten(), valid, old_logp, ref_logp, sampler_logp, status,
                       lengths, episodes)  # fmt: skip

    def update(self, ro: Rollout, idx: torch.Tensor, max_tokens: int) -> dict:
        """One optimiser step on the samples `idx` of the rollout; returns the minibatch's aggregated statistics.
        A non-finite loss or gradient skips the step (no parameter or optimiser change)."""
        g = self.cfg.grpo
        all_sum = self.dist.all_sum if self.dist.world_size > 1 else None
        weights = LOSS_AGG[g.loss_agg](ro.mask[idx], max_tokens, all_sum) * self.dist.world_size
        # loss, pg_loss: this rank's share x N (its gradient's scale), so their mean over the ranks is the global loss
        sums: dict[str, float] = {"loss": 0.0, "is_ratio_max": 0.0}
        beta = self.kl_ctl.coef if g.kl_in == "loss" else 0.0
        micros = self._micro(torch.arange(len(idx))) if len(idx) else []
        micros += [None] * (self.dist.all_max(len(micros)) - len(micros))  # same number of passes on every rank
        self.opt.zero_grad(set_to_none=True)
        mismatch_sum = 0.0
        for pos in micros:
            # padding: a zero-weight pass over one row, for the collectives of DDP/FSDP2
            micro = idx[pos] if pos is not None else torch.zeros(1, dtype=torch.long, device=ro.mask.device)
            w = weights[pos] if pos is not None else torch.zeros_like(ro.mask[micro])
            b = ro.batch.rows(micro)
            logp, entropy = self.forward(b.input_ids, b.attention_mask, b.targets, b.position_ids,
                                         self.cfg.rollout.temperature)  # fmt: skip
            old = ro.old_logp[micro] if ro.old_logp is not None else logp.detach()
            ref = ro.ref_logp[micro] if ro.ref_logp is not None else None
            loss, st = policy_loss(logp, old, ro.sampler_logp[micro], ref, ro.advantages[micro], w, g,
                                   mask=ro.mask[micro], entropy=entropy, beta=beta)  # fmt: skip
            loss.backward()
            if pos is None:
                continue
            sums["loss"] += loss.item()
            for key, value in st.items():
                sums[key] = max(sums[key], value.item()) if key == "is_ratio_max" else sums.get(key, 0.0) + value.item()
            if ro.old_logp is None:  # on-policy: the mismatch against this forward's log-probs
                resp = ro.batch.response_mask[micro]
                mismatch_sum += ((ro.sampler_logp[micro] - logp.detach()).abs() * resp).sum().item()
        n_tok = max(sums.get("tokens", 0.0), 1.0)
        stats = {"loss": sums["loss"], "pg_loss": sums.get("pg_loss", 0.0)}
        for key in ("kl", "entropy", "is_ratio"):
            stats[key if key != "is_ratio" else "is_ratio_mean"] = sums.get(key, 0.0) / n_tok
        stats["clip_fraction"] = sums.get("clipped", 0.0) / n_tok
        stats["is_masked_fraction"] = sums.get("is_masked", 0.0) / n_tok
        stats["is_ratio_max"] = sums["is_ratio_max"]
        if ro.old_logp is None:
            stats["mismatch"] = mismatch_sum / ro.batch.response_mask[idx].sum().clamp(min=1).item()
        if ro.ref_logp is None:  # no reference, no KL: left out of the metrics rather than logged as 0
            del stats["kl"]
        max_norm = self.cfg.optim.max_grad_norm or float("inf")
        norm = torch.nn.utils.clip_grad_norm_(self.forward.parameters(), max_norm)
        stats["grad_norm"] = float(norm.full_tensor() if hasattr(norm, "full_tensor") else norm)  # FSDP2: a DTensor
        bad = not (math.isfinite(stats["loss"]) and math.isfinite(stats["grad_norm"]))
        stats["nonfinite_updates"] = float(self.dist.all_sum(torch.tensor(float(bad))).item() > 0)  # any rank
        if stats["nonfinite_updates"]:
            self.opt.zero_grad(set_to_none=True)
            self.nonfinite_run += 1
            if self.nonfinite_run >= g.max_nonfinite_steps:
                raise TrainingStopped(
                    f"{self.nonfinite_run} optimiser steps in a row had a non-finite loss or gradient "
                    f"(loss {stats['loss']}, grad norm {stats['grad_norm']}); grpo.max_nonfinite_steps = "
                    f"{g.max_nonfinite_steps}. Lower optim.lr, or check the model's dtype."
                )
            return stats
        self.nonfinite_run = 0
        self.opt.step()
        self.sched.step()
        publish(self.forward, self.policy)
        self.engine.sync_weights(self.policy)
        return stats

    def step(self, step: int) -> dict:
        """Collect a rollout, then `epochs` passes of minibatch updates over it; returns the step's metrics."""
        ro, metrics = self.collect(step)
        t0 = time.perf_counter()
        max_tokens = int(metrics["max_response_tokens"])
        updates = []
        if self.dist.world_size > 1 and self.dist.all_sum(torch.tensor(float(ro is None))).item() > 0:
            ro = None  # some rank has nothing to train on: no rank updates (their passes must match)
        if ro is not None:
            for _ in range(self.cfg.grpo.epochs):
                for idx in self._minibatches(len(ro.status)):
                    updates.append(self.update(ro, idx.sort().values, max_tokens))
        for key in updates[0] if updates else ():
            values = [u[key] for u in updates]
            reduce = {"nonfinite_updates": np.sum, "is_ratio_max": np.max}.get(key, np.mean)
            metrics[key] = float(reduce(values))
        if updates:
            metrics["first_loss"] = updates[0]["loss"]
        metrics["time_update_s"] = time.perf_counter() - t0
        metrics = self.dist.mean_metrics(metrics)  # before the controller: the same KL on every rank
        if "kl" in metrics:
            self.kl_ctl.update(metrics["kl"])
        metrics["kl_coef"] = self.kl_ctl.coef
        metrics["lr"] = self.sched.get_last_lr()[0]
        metrics["time_step_s"] = sum(v for k, v in metrics.items() if k.startswith("time_") and k != "time_step_s")
        self.last = ro
        return metrics

    def _minibatches(self, B: int) -> list[torch.Tensor]:
        """A random partition of this rank's B samples into minibatches of grpo.minibatch_samples (all: one).
        With N ranks the count comes from the global batch and is the same on every rank; a rank's part may be
        empty."""
        perm = torch.randperm(B)
        size = self.cfg.grpo.minibatch_samples
        if self.dist.world_size == 1:
            return list(perm.split(size or B))
        total = int(self.dist.all_sum(torch.tensor(B)).item())
        return list(perm.tensor_split(math.ceil(total / size) if size else 1))

    def reset_reference(self, reset_optimizer: bool = True) -> None:
        """Reference-policy reset: the reference becomes a copy of the current policy; the optimiser's moments
        are cleared (the learning-rate schedule goes on)."""
        with torch.no_grad():
            for r, p in zip(self.ref.parameters(), self.policy.parameters(), strict=True):
                r.copy_(p)
        if reset_optimizer:
            self.opt.state.clear()

    def state_dict(self) -> dict:
        return {"kl": self.kl_ctl.state_dict(), "nonfinite_run": self.nonfinite_run}

    def load_state_dict(self, state: dict) -> None:
        self.kl_ctl.load_state_dict(state["kl"])
        self.nonfinite_run = state["nonfinite_run"]
