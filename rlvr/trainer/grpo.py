"""One GRPO step, written to read like the math.

For P prompts with G samples each (B = P*G), T response tokens per sample:

    y_i ~ π_old(· | x)                                  rollout engine, log-probs at the sampling temperature τ
    r_i = verifier(x, y_i);  valid_i = status_i != "error"
    A_i = ADVANTAGES[advantage](r, valid)               [P, G] -> [B]
    old_t = log π_old(y_t) at τ, recomputed by the trainer (the ratio's denominator; not the sampler's log-probs)
    for each epoch, for each minibatch (one optimiser step):
        ρ_t = exp(log π_θ(y_t) - old_t)
        L_t = -min(ρ_t A_i, clip(ρ_t, 1-eps_low, 1+eps_high) A_i) + β KL_t(π_θ || π_ref) - c_H H_t
        loss = Σ_{i,t} w_it L_t,   w = LOSS_AGG[loss_agg](mask)    (mask: response tokens of valid samples)

The sampler's own log-probs are used only to measure the train/inference mismatch: mean |sampler - old_t|.
Log-probs and entropies come from `fused_logprobs` on the final hidden states (`response_logprobs`), at the
sampling temperature. `engine.sync_weights(policy)` runs after every optimiser step.

Not handled yet: multi-turn episodes (one `venv.step` per rollout: single-turn envs only), dynamic sampling,
reference-policy resets and other prolonged-training controllers (their own issue), sequence packing of
rollouts (they are right-padded; micro-batching bounds the memory).
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import torch

from rlvr.envs.base import derive_seed
from rlvr.trainer.algorithms import ADVANTAGES, KL, LOSS_AGG, POLICY_LOSSES
from rlvr.trainer.config import TrainConfig
from rlvr.trainer.evaluate import response_tokens
from rlvr.trainer.model import TokenBatch, format_prompt, make_batch, response_logprobs


@dataclasses.dataclass
class Rollout:
    """One step's data. batch: [B, L] token ids; mask, old_logp, ref_logp, sampler_logp: [B, L-1]; advantages,
    rewards: [B]; valid: [B] bool (False for `error` verdicts)."""

    batch: TokenBatch
    mask: torch.Tensor
    advantages: torch.Tensor
    rewards: torch.Tensor
    valid: torch.Tensor
    old_logp: torch.Tensor
    ref_logp: torch.Tensor | None
    sampler_logp: torch.Tensor
    status: list[str]
    lengths: list[int]


class GRPO:
    """Holds what a step needs: the policy, its optimiser, the frozen reference, the engine and the vector env."""

    def __init__(self, cfg: TrainConfig, policy, ref, tok, engine, venv, optimizer, scheduler) -> None:
        self.cfg, self.policy, self.ref, self.tok = cfg, policy, ref, tok
        self.engine, self.venv, self.opt, self.sched = engine, venv, optimizer, scheduler
        self.device = next(policy.parameters()).device
        self.last: Rollout | None = None  # the latest step's rollout (inspection, tests)

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

    def collect(self, step: int) -> tuple[Rollout, dict]:
        """Sample, verify, compute advantages and the old/reference log-probs for one step."""
        g, r = self.cfg.grpo, self.cfg.rollout
        G, P = g.samples_per_prompt, g.prompts_per_step
        t0 = time.perf_counter()
        prompts, _ = self.venv.reset(seed=derive_seed(self.cfg.env.seed, step))
        texts = [format_prompt(self.tok, p, self.cfg.model.chat_template) for p in prompts[::G]]
        samples = self.engine.generate(
            texts, G, temperature=r.temperature, top_p=r.top_p, max_response_tokens=r.max_response_tokens,
            stop_strings=r.stop_strings,
        )  # fmt: skip
        t1 = time.perf_counter()
        _, rewards, _, _, infos = self.venv.step([s.text for s in samples])
        status = [v["status"] if v else "error" for v in infos["verdict"]]
        t2 = time.perf_counter()

        rewards = torch.as_tensor(np.asarray(rewards, dtype=np.float32))
        valid = torch.tensor([s != "error" for s in status])
        advantages = ADVANTAGES[g.advantage](rewards.view(P, G), valid.view(P, G)).flatten()
        batch = make_batch([s.prompt_ids for s in samples], [s.response_ids for s in samples], self.tok.pad_token_id)
        batch = batch.to(self.device)
        mask = batch.response_mask * valid.to(self.device, torch.float32)[:, None]
        old_logp = self.score(self.policy, batch)
        ref_logp = self.score(self.ref, batch) if g.kl_coef > 0 else None
        sampler_logp = torch.zeros_like(old_logp)
        sampler_logp[batch.targets != -100] = torch.tensor([x for s in samples for x in s.logprobs], device=self.device)
        t3 = time.perf_counter()

        lengths = [response_tokens(s, self.tok.eos_token_id) for s in samples]
        n_tok = batch.response_mask.sum().clamp(min=1)
        grouped = rewards.view(P, G)
        metrics = {
            "reward": rewards[valid].mean().item() if valid.any() else 0.0,
            "accuracy": float(
                np.mean([s == "correct" for s, ok in zip(status, valid.tolist(), strict=True) if ok] or [0.0])
            ),
            "error_fraction": 1.0 - valid.float().mean().item(),
            "response_tokens": float(np.mean(lengths)),
            "truncated_fraction": float(np.mean([s.finish_reason == "length" for s in samples])),
            "zero_adv_groups": (grouped.max(1).values == grouped.min(1).values).float().mean().item(),
            "mismatch": ((sampler_logp - old_logp).abs() * batch.response_mask).sum().item() / n_tok.item(),
            "time_generate_s": t1 - t0,
            "time_verify_s": t2 - t1,
            "time_score_s": t3 - t2,
        }
        rollout = Rollout(batch, mask, advantages.to(self.device), rewards, valid, old_logp, ref_logp, sampler_logp,
                          status, lengths)  # fmt: skip
        return rollout, metrics

    def update(self, ro: Rollout, idx: torch.Tensor) -> dict:
        """One optimiser step on the samples `idx` of the rollout; returns the minibatch's aggregated statistics."""
        g = self.cfg.grpo
        weights = LOSS_AGG[g.loss_agg](ro.mask[idx], self.cfg.rollout.max_response_tokens)
        stats = {"loss": 0.0, "pg_loss": 0.0, "kl": 0.0, "entropy": 0.0, "clip_fraction": 0.0}
        n_tok = ro.mask[idx].sum().clamp(min=1).item()
        self.opt.zero_grad(set_to_none=True)
        for pos in self._micro(torch.arange(len(idx))):
            micro, w = idx[pos], weights[pos]
            m = ro.mask[micro]
            logp, entropy = response_logprobs(self.policy, ro.batch.rows(micro), self.cfg.rollout.temperature)
            pg, clipped = POLICY_LOSSES[g.policy_loss](
                logp, ro.old_logp[micro], ro.advantages[micro], g.eps_low, g.eps_high
            )
            kl = KL[g.kl](logp, ro.ref_logp[micro]) if ro.ref_logp is not None else torch.zeros_like(logp)
            per_token = pg + g.kl_coef * kl - g.entropy_coef * entropy
            loss = (w * per_token).sum()
            loss.backward()
            stats["loss"] += loss.item()
            stats["pg_loss"] += (w * pg).sum().item()
            stats["kl"] += (kl * m).sum().item() / n_tok
            stats["entropy"] += (entropy.detach() * m).sum().item() / n_tok
            stats["clip_fraction"] += (clipped * m).sum().item() / n_tok
        max_norm = self.cfg.optim.max_grad_norm or float("inf")
        stats["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(self.policy.parameters(), max_norm))
        self.opt.step()
        self.sched.step()
        self.engine.sync_weights(self.policy)
        return stats

    def step(self, step: int) -> dict:
        """Collect a rollout, then `epochs` passes of minibatch updates over it; returns the step's metrics."""
        ro, metrics = self.collect(step)
        t0 = time.perf_counter()
        B = len(ro.status)
        size = self.cfg.grpo.minibatch_samples or B
        updates = []
        for _ in range(self.cfg.grpo.epochs):
            for idx in torch.randperm(B).split(size):
                updates.append(self.update(ro, idx.sort().values))
        for key in updates[0]:
            metrics[key] = float(np.mean([u[key] for u in updates]))
        metrics["first_loss"] = updates[0]["loss"]
        metrics["lr"] = self.sched.get_last_lr()[0]
        metrics["time_update_s"] = time.perf_counter() - t0
        metrics["time_step_s"] = sum(v for k, v in metrics.items() if k.startswith("time_") and k != "time_step_s")
        self.last = ro
        return metrics
