"""Orchestration of a training run: run directory, SFT, held-out evaluation, the GRPO loop, checkpoints, the table.

    results = train(load_config("configs/parity.yaml"))

The run directory (`logging.run_dir`, default `runs/<timestamp>-<name>`) receives `config.yaml` (fully
resolved), `metrics.jsonl` and TensorBoard events (see `metrics.py`), `checkpoints/step_N/` (see
`checkpoint.py`; `step_0` is the policy after SFT) and `results.json` (the evaluations after SFT and after
GRPO, also printed as a table).
"""

from __future__ import annotations

import json
import os
import sys
import time

import torch

from rlvr.trainer.checkpoint import save_checkpoint
from rlvr.trainer.config import TrainConfig, save_config
from rlvr.trainer.evaluate import evaluate, make_venv
from rlvr.trainer.grpo import GRPO
from rlvr.trainer.metrics import MetricsLogger
from rlvr.trainer.model import frozen_copy, load_model
from rlvr.trainer.rollout import make_engine
from rlvr.trainer.sft import run_sft


def make_run_dir(cfg: TrainConfig) -> str:
    run_dir = cfg.logging.run_dir or os.path.join(
        cfg.logging.runs_root, f"{time.strftime('%Y%m%d-%H%M%S')}-{cfg.logging.name}"
    )
    os.makedirs(run_dir, exist_ok=True)
    cfg.logging.run_dir = run_dir
    return run_dir


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("runtime.device is 'cuda' but no CUDA device is available")
    return torch.device(name)


def run_eval(cfg: TrainConfig, engine, tok, seed: int | None = None) -> dict:
    e, r = cfg.eval, cfg.rollout
    return evaluate(
        engine, tok, cfg.env.id, cfg.env.kwargs, prompts=e.prompts, samples_per_prompt=e.samples_per_prompt,
        seed=e.seed if seed is None else seed, temperature=e.temperature, top_p=r.top_p,
        max_response_tokens=r.max_response_tokens, stop_strings=r.stop_strings, chat_template=cfg.model.chat_template,
    )  # fmt: skip


def format_table(results: dict) -> str:
    """The results as a fixed-width table: one row per stage, accuracy, pass@k and mean response length."""
    stages = [s for s in ("after SFT", "after GRPO") if s in results]
    if not stages:
        return ""
    first = results[stages[0]]
    keys = [k for k in first if k.startswith("pass@") and k != "pass@1"]
    head = f"{'':<12}{'accuracy':>10}" + "".join(f"{k:>9}" for k in keys) + f"{'mean response tokens':>22}"
    note = (f"held-out problems: {first['prompts']} x {first['samples_per_prompt']} samples "
            "(eval.seed stream, disjoint from training)")  # fmt: skip
    lines = [note, head]
    for s in stages:
        row = results[s]
        lines.append(
            f"{s:<12}{row['accuracy']:>10.3f}"
            + "".join(f"{row[k]:>9.3f}" for k in keys)
            + f"{row['mean_response_tokens']:>22.2f}"
        )
    return "\n".join(lines)


def train(cfg: TrainConfig) -> dict:
    """Run SFT then GRPO as configured; returns {"after SFT": eval, "after GRPO": eval, "run_dir", "wall_s"}."""
    from tqdm import tqdm
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # one progress bar: ours (not one per checkpoint write)
    t_start = time.perf_counter()
    if cfg.runtime.threads:
        torch.set_num_threads(cfg.runtime.threads)
    torch.manual_seed(cfg.runtime.seed)
    device = pick_device(cfg.runtime.device)
    run_dir = make_run_dir(cfg)
    save_config(cfg, os.path.join(run_dir, "config.yaml"))
    logger = MetricsLogger(run_dir, tensorboard=cfg.logging.tensorboard)
    if logger.tensorboard_error:
        print(logger.tensorboard_error, file=sys.stderr)

    model, tok = load_model(cfg.model, device)
    g = cfg.grpo
    venv = make_venv(cfg.env.id, cfg.env.kwargs, g.prompts_per_step, g.samples_per_prompt)
    engine = make_engine(
        cfg.rollout.engine, model, tok, add_special_tokens=not cfg.model.chat_template,
        max_batch_sequences=cfg.rollout.max_batch_sequences,
    )  # fmt: skip
    results: dict = {"run_dir": run_dir}
    progress = tqdm(total=cfg.sft.steps + g.steps, desc="train", disable=not cfg.logging.progress, dynamic_ncols=True)
    try:
        if cfg.sft.steps:
            run_sft(model, tok, venv.env, cfg, logger, progress)
            engine.sync_weights(model)
        results["after SFT"] = run_eval(cfg, engine, tok)
        logger.log("eval", 0, results["after SFT"])
        save_checkpoint(run_dir, 0, model, tok, keep_last=cfg.checkpoint.keep_last)

        if g.steps:
            ref = frozen_copy(model)
            o = cfg.optim
            opt = torch.optim.AdamW(model.parameters(), lr=o.lr, betas=(o.beta1, o.beta2), weight_decay=o.weight_decay)
            warmup = max(o.warmup_steps, 1)
            sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warmup))
            trainer = GRPO(cfg, model, ref, tok, engine, venv, opt, sched)
            model.train()
            for step in range(1, g.steps + 1):
                metrics = trainer.step(step)
                logger.log("grpo", step, metrics)
                progress.update(1)
                progress.set_postfix(
                    phase="grpo", reward=f"{metrics['reward']:.2f}", len=f"{metrics['response_tokens']:.1f}",
                    kl=f"{metrics['kl']:.3f}",
                )  # fmt: skip
                if cfg.eval.every_steps and step % cfg.eval.every_steps == 0 and step < g.steps:
                    logger.log("eval", step, run_eval(cfg, engine, tok))
                every = cfg.checkpoint.every_steps
                if step == g.steps or (every and step % every == 0):
                    state = opt if cfg.checkpoint.save_optimizer else None
                    save_checkpoint(run_dir, step, model, tok, state, keep_last=cfg.checkpoint.keep_last)
            results["after GRPO"] = run_eval(cfg, engine, tok)
            logger.log("eval", g.steps, results["after GRPO"])
    finally:
        progress.close()
        logger.close()
        venv.close()
    results["wall_s"] = time.perf_counter() - t_start
    with open(os.path.join(run_dir, "results.json"), "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2)
    return results
