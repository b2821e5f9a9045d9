"""The SFT stage: next-token prediction on (prompt, response) demonstrations, the loss on response tokens only.

Demonstrations come from the env (`env.unwrapped.demonstrations(n, long_fraction, seed)`, e.g. Parity-v0's
mix of short and long answers) or from `sft.dataset`, a JSONL file of {"prompt": ..., "response": ...}.
Each example is tokenised as prompt ids + response ids + EOS; the loss is

    L = - Σ_{i,t} m_it log π(y_it | y_i,<t) / Σ_{i,t} m_it,     m_it = 1 on response tokens (EOS included)

(a token mean over the batch), with log-probs from `fused_logprobs` (no [N, V] logits).

Each step draws `sequences_per_step` examples (shuffled epochs) and packs them into rows of at most
`row_tokens` tokens: position ids restart at 0 for each sequence and no attention mask is passed, so
transformers (>= 4.54, `find_packed_sequence_indices`) builds a block-diagonal causal mask and no token
attends across a sequence boundary (tested). Packing keeps every batch a random mix of short and long
demonstrations; length bucketing would have made parity's batches all-short or all-long, and the loss
swung between the two. The learning rate warms up linearly for `sft.warmup_steps` and then follows a
cosine to 0 at `sft.steps`.

Data-parallel (under `torchrun`): every rank draws the same sequences and packs every N-th; the loss is divided by
the step's token count over all ranks and the gradients are summed over the ranks, so N ranks make the update of
one process (up to float rounding) in 1/N of the time.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import torch

from rlvr.envs.datasets import load_jsonl
from rlvr.trainer.config import TrainConfig
from rlvr.trainer.distributed import Dist
from rlvr.trainer.model import TokenBatch, adamw, format_prompt, response_logprobs


def load_demonstrations(cfg: TrainConfig, env) -> list[dict]:
    """[{"prompt", "response"}] from `cfg.sft.dataset` or from the env's `demonstrations`; refused when there are
    none (SFT would wait forever for a step's sequences). A built model's character tokenizer must know every
    character of them (`model.vocab_chars`): others would be trained on as <unk>."""
    demos = _read_dataset(cfg.sft.dataset) if cfg.sft.dataset else _env_demonstrations(cfg, env)
    where = f"sft.dataset {cfg.sft.dataset}" if cfg.sft.dataset else f"{cfg.env.id}'s demonstrations"
    if not demos:
        raise ValueError(f"{where}: no demonstrations to train on (sft.steps = {cfg.sft.steps}); add some, or set "
                         "sft.steps=0")  # fmt: skip
    if not cfg.model.path:
        texts = (t for d in demos for t in (d["prompt"], d["response"], *(x for h in d.get("history", ()) for x in h)))
        missing = sorted({ch for text in texts for ch in text} - set(cfg.model.vocab_chars))
        if missing:
            raise ValueError(f"model.vocab_chars {cfg.model.vocab_chars!r} lacks characters that {where} use: "
                             f"{''.join(missing)!r} (read as <unk>); add them")  # fmt: skip
    return demos


def _read_dataset(path: str) -> list[dict]:
    """The {"prompt": str, "response": str} objects of a JSONL file (numbers are taken as their text); an error names
    the line."""
    try:
        rows = load_jsonl(Path(path))
    except ValueError as e:
        raise ValueError(f"sft.dataset {e}") from None
    out = []
    for lineno, item in rows:
        for key in ("prompt", "response"):
            value = item.get(key)
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                raise ValueError(f"sft.dataset {path}:{lineno}: {key!r} must be a string, got "
                                 f"{'nothing' if value is None else type(value).__name__}")  # fmt: skip
        out.append({"prompt": str(item["prompt"]), "response": str(item["response"])})
    return out


def _env_demonstrations(cfg: TrainConfig, env) -> list[dict]:
    demos = getattr(env.unwrapped, "demonstrations", None)
    if demos is None:
        raise ValueError(f"env {cfg.env.id} has no demonstrations(); set sft.dataset to a JSONL file or sft.steps=0")
    return demos(cfg.sft.demos, cfg.sft.long_fraction, cfg.sft.seed)


def tokenize(demos: list[dict], tok, chat_template: bool) -> list[tuple[list[int], list[int]]]:
    """(prompt ids, response ids + EOS) per demonstration. A turn of a multi-turn demonstration also has `history`,
    the earlier [response, env reply] pairs: they join the prompt as a rollout builds them (each response + EOS,
    then the reply's tokens, `episodes.env_ids`), so SFT sees the contexts that RL's episodes will."""
    from rlvr.trainer.episodes import env_ids

    out = []
    for d in demos:
        prompt = tok(format_prompt(tok, d["prompt"], chat_template), add_special_tokens=not chat_template).input_ids
        for response, observation in d.get("history", ()):
            prompt = prompt + tok(response, add_special_tokens=False).input_ids + [tok.eos_token_id]
            prompt = prompt + env_ids(tok, observation, chat_template)
        response = tok(d["response"], add_special_tokens=False).input_ids + [tok.eos_token_id]
        out.append((prompt, response))
    return out


def pack_batch(examples: list[tuple[list[int], list[int]]], row_tokens: int, pad_id: int) -> TokenBatch:
    """Pack (prompt ids, response ids) pairs greedily, in order, into rows of at most `row_tokens` tokens (a longer
    sequence gets a row of its own). Padding at the end of a row gets its own positions 0, 1, … (a sequence of
    its own, never a target). Returns input_ids, position_ids [R, W], targets [R, W-1], attention_mask None."""
    rows: list[list[tuple[list[int], list[int]]]] = [[]]
    used = 0
    for p, r in examples:
        if rows[-1] and used + len(p) + len(r) > row_tokens:
            rows.append([])
            used = 0
        rows[-1].append((p, r))
        used += len(p) + len(r)
    width = max(sum(len(p) + len(r) for p, r in row) for row in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    pos = torch.zeros((len(rows), width), dtype=torch.long)
    targets = torch.full((len(rows), width - 1), -100, dtype=torch.long)
    for i, row in enumerate(rows):
        at = 0
        for p, r in row:
            n = len(p) + len(r)
            ids[i, at : at + n] = torch.tensor(p + r)
            pos[i, at : at + n] = torch.arange(n)
            targets[i, at + len(p) - 1 : at + n - 1] = torch.tensor(r)
            at += n
        pos[i, at:] = torch.arange(width - at)
    return TokenBatch(ids, None, targets, pos)


def sft_loss(model, batch) -> tuple[torch.Tensor, int]:
    """(mean negative log-likelihood over the response tokens of `batch`, number of those tokens)."""
    logp, _ = response_logprobs(model, batch, temperature=1.0)
    n = int((batch.targets != -100).sum())
    return -logp.sum() / max(n, 1), n


def cosine_lr(step: int, warmup_steps: int, total_steps: int) -> float:
    """Multiplier of the base lr: linear warm-up, then cosine from 1 to 0 at `total_steps`."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(total_steps - warmup_steps, 1)
    return 0.5 * (1.0 + math.cos(math.pi * min(step - warmup_steps, span) / span))


def run_sft(model, tok, env, cfg: TrainConfig, logger, progress=None, dist: Dist | None = None) -> dict:
    """Train `model` in place for `cfg.sft.steps` steps; log per-step loss to `logger`; return the last metrics.
    With `dist`, this rank's share of each step (see the module docstring); every rank ends with the same weights."""
    dist = dist or Dist()
    examples = tokenize(load_demonstrations(cfg, env), tok, cfg.model.chat_template)
    device = next(model.parameters()).device
    opt = adamw(model.parameters(), cfg.sft.lr, cfg.optim)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: cosine_lr(s, cfg.sft.warmup_steps, cfg.sft.steps))
    gen = torch.Generator().manual_seed(cfg.sft.seed)
    model.train()
    order: list[int] = []
    metrics: dict = {}
    for step in range(1, cfg.sft.steps + 1):
        t0 = time.perf_counter()
        while len(order) < cfg.sft.sequences_per_step:  # epochs of shuffled examples, batches may straddle two
            order += torch.randperm(len(examples), generator=gen).tolist()
        idx, order = order[: cfg.sft.sequences_per_step], order[cfg.sft.sequences_per_step :]
        mine = idx[dist.rank :: dist.world_size]
        batch = pack_batch([examples[i] for i in mine], cfg.sft.row_tokens, tok.pad_token_id).to(device)
        loss, n_local = sft_loss(model, batch)
        n_tokens = int(dist.all_sum(torch.tensor(n_local)).item())
        loss = loss * (n_local / max(n_tokens, 1))  # this rank's share of the global token mean
        opt.zero_grad(set_to_none=True)
        loss.backward()
        dist.all_sum_grads(model.parameters())
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.max_grad_norm or float("inf"))
        opt.step()
        sched.step()
        metrics = {
            "loss": dist.all_sum(loss.detach()).item(),
            "grad_norm": float(grad_norm),
            "lr": sched.get_last_lr()[0],
            "tokens": n_tokens,
            "time_step_s": time.perf_counter() - t0,
        }
        logger.log("sft", step, metrics)
        if progress is not None:
            progress.update(1)
            progress.set_postfix(phase="sft", loss=f"{metrics['loss']:.3f}")
    return metrics
