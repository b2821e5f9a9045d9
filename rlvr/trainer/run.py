"""Orchestration of a training run: run directory, SFT, held-out evaluation, the GRPO loop with its validation and
reference resets, checkpoints, resume, the table.

    results = train(load_config("configs/parity.yaml"))
    results = train(load_config("RUN_DIR/config.yaml"), resume=True)      # `rlvr train --resume RUN_DIR`

The run directory (`logging.run_dir`, default `runs/<timestamp>-<name>`) receives `config.yaml` (fully
resolved), `metrics.jsonl` and TensorBoard events (see `metrics.py`), `checkpoints/step_N/` (see
`checkpoint.py`; `step_0` is the policy after SFT) and `results.json` (the evaluations after SFT and after
GRPO, also printed as a table). Metrics phases: `sft`, `grpo` (every step), `eval` (step 0, every
eval.every_steps, the end) and `reset` (a reference reset at that step, with its reason).

Resume loads the newest complete checkpoint (weights, reference, optimiser, scheduler, RNG, controllers), drops
the metrics records written after it (a run killed mid-step) and continues with the next step: with the hf
engine, a resumed run ends with the same weights and metrics as a straight one. (vLLM's own sampler RNG is not
checkpointed: a resumed vLLM run draws different samples from the same prompts.)

Data-parallel (`torchrun --nproc-per-node N ... --set runtime.distributed=ddp|fsdp2`, see distributed.py): every
rank runs SFT on the same data (rank 0's weights are then broadcast), collects prompts_per_step / N prompts per
step and trains through the DDP/FSDP2-wrapped forward. Rank 0 alone writes the run directory, shows the progress
bar and evaluates; the reset decisions it takes are broadcast so that every rank resets its own reference.
A resumed multi-rank run continues from rank 0's RNG state on every rank: it is not bitwise equal to a straight one.
"""

from __future__ import annotations

import json
import os
import sys
import time

import torch

from rlvr.envs.base import derive_seed
from rlvr.trainer.checkpoint import (
    find_checkpoint,
    load_reference,
    load_state,
    load_weights,
    remove_partial,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from rlvr.trainer.config import TrainConfig, save_config
from rlvr.trainer.controls import ResetTrigger, length_limit
from rlvr.trainer.distributed import Dist, init_from_env, load_optimizer_state, optimizer_state, wrap
from rlvr.trainer.evaluate import evaluate, make_venv, split_rows
from rlvr.trainer.grpo import GRPO, check_env
from rlvr.trainer.metrics import MetricsLogger
from rlvr.trainer.model import adamw, compute_precision, frozen_copy, load_model
from rlvr.trainer.rollout import engine_options, make_engine
from rlvr.trainer.samples import FIELDS as SAMPLE_FIELDS
from rlvr.trainer.samples import SampleLog
from rlvr.trainer.sft import run_sft


def make_run_dir(cfg: TrainConfig) -> str:
    run_dir = cfg.logging.run_dir or os.path.join(
        cfg.logging.runs_root, f"{time.strftime('%Y%m%d-%H%M%S')}-{cfg.logging.name}"
    )
    os.makedirs(run_dir, exist_ok=True)
    cfg.logging.run_dir = run_dir
    return run_dir


def refuse_used_run_dir(run_dir: str) -> None:
    """A new run does not write into the directory of an earlier one: its metrics would append to the earlier
    run's, and `--resume` would take the earlier run's newer checkpoints for this run's. A directory left by a run
    that stopped before logging anything (a start-up error) is reused."""
    metrics, root = os.path.join(run_dir, "metrics.jsonl"), os.path.join(run_dir, "checkpoints")
    held = [n for n in sorted(os.listdir(root)) if n.startswith("step_")] if os.path.isdir(root) else []
    if held:
        raise ValueError(f"logging.run_dir {run_dir} already holds a run (checkpoints {', '.join(held)}): continue it "
                         f"with `rlvr train --resume {run_dir}`, or choose another logging.run_dir")  # fmt: skip
    if os.path.isfile(metrics) and os.path.getsize(metrics) > 0:
        raise ValueError(f"logging.run_dir {run_dir} already holds a run (metrics.jsonl, no checkpoint to resume "
                         "from): choose another logging.run_dir, or delete that one")  # fmt: skip


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("runtime.device is 'cuda' but no CUDA device is available")
    return torch.device(name)


def eval_env_kwargs(cfg: TrainConfig) -> dict:
    """The env kwargs evaluation builds its env with: `eval.env_kwargs` merged over `env.kwargs`."""
    return {**cfg.env.kwargs, **cfg.eval.env_kwargs}


DATA_KWARGS = ("dataset", "envs")  # the env kwargs that say which data an env draws from (a file, a mixture's parts)


def eval_holdout(cfg: TrainConfig) -> int:
    """Rows of a dataset env that evaluation holds out of training: eval.prompts when evaluation uses the training
    env's own data, else none (`eval.env_kwargs` names other data: a `dataset`, a mixture's `envs`). Other eval kwargs
    (`max_turns`, `shuffle_seed`, ...) change how the same rows are evaluated, so the rows are still held out."""
    own = eval_env_kwargs(cfg)
    same_data = all(own.get(k) == cfg.env.kwargs.get(k) for k in DATA_KWARGS)
    return cfg.eval.prompts if same_data else 0


def run_eval(
    cfg: TrainConfig, engine, tok, step: int = 0, seed: int | None = None, verifiers_from=None, samples_out=None
) -> dict:
    """The held-out evaluation at GRPO step `step` (its response-length limit from `length.schedule`)."""
    e, r = cfg.eval, cfg.rollout
    return evaluate(
        engine, tok, cfg.env.id, eval_env_kwargs(cfg), prompts=e.prompts, samples_per_prompt=e.samples_per_prompt,
        seed=e.seed if seed is None else seed, temperature=e.temperature, top_p=r.top_p,
        max_response_tokens=length_limit(cfg.length.schedule, r.max_response_tokens, step),
        stop_strings=r.stop_strings, chat_template=cfg.model.chat_template, verifiers_from=verifiers_from,
        holdout=eval_holdout(cfg), holdout_seed=e.seed, samples_out=samples_out, max_turns=r.max_turns,
        turn_reward=r.turn_reward,
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
            f"({first.get('held_out', 'eval.seed stream, disjoint from training')})")  # fmt: skip
    lines = [note, head]
    for s in stages:
        row = results[s]
        lines.append(
            f"{s:<12}{row['accuracy']:>10.3f}"
            + "".join(f"{row[k]:>9.3f}" for k in keys)
            + f"{row['mean_response_tokens']:>22.2f}"
        )
    return "\n".join(lines)


def _log_eval(logger, step: int, cfg: TrainConfig, engine, tok, dist: Dist, venv) -> dict | None:
    """The held-out evaluation, on rank 0 only (None on the others), verified by the training env's verifiers."""
    if not dist.is_main:
        return None
    rows = [] if logger.samples is not None else None
    ev = run_eval(cfg, engine, tok, step, verifiers_from=venv.env, samples_out=rows)
    logger.log("eval", step, ev)
    if rows:  # the first sample of each prompt (a multi-turn episode with its turns)
        first, keep = rows[:: cfg.eval.samples_per_prompt], (*SAMPLE_FIELDS, "turns")
        logger.samples.write("eval", step, [{k: r[k] for k in keep if k in r} for r in first])
    return ev


class _SilentLogger:
    """The metrics logger of ranks other than 0: writes nothing."""

    tensorboard_error = ""
    samples = None

    def __init__(self, run_dir: str) -> None:
        self.run_dir = run_dir

    def log(self, phase: str, step: int, metrics: dict) -> None:
        pass

    def close(self) -> None:
        pass


def resume_point(run_dir: str) -> str:
    """The checkpoint to resume from: the newest that passes its manifest check. Writes cut short are removed and
    each newer checkpoint passed over is reported on stderr with the reason."""
    gone = remove_partial(os.path.join(run_dir, "checkpoints"))
    if gone:
        print(f"resume: removed unfinished checkpoint writes {', '.join(gone)}", file=sys.stderr)
    ckpt, skipped = find_checkpoint(run_dir)
    if ckpt is None:
        why = "".join(f"\n  {line}" for line in skipped)
        raise ValueError(f"cannot resume {run_dir}: it has no complete checkpoint{why}")
    for line in skipped:
        print(f"resume: passing over {line}", file=sys.stderr)
    if skipped:
        print(f"resume: resuming from {os.path.basename(ckpt)}, the newest intact checkpoint", file=sys.stderr)
    return ckpt


def start_distributed(cfg: TrainConfig) -> Dist:
    """Check that the step's prompts split evenly over torchrun's processes, then join its process group (a no-op
    in one process)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if cfg.grpo.prompts_per_step % world:
        raise ValueError(f"grpo.prompts_per_step ({cfg.grpo.prompts_per_step}) must be divisible by the number of "
                         f"processes (WORLD_SIZE = {world}): each collects an equal share")  # fmt: skip
    if cfg.sft.steps and cfg.sft.sequences_per_step < world:
        raise ValueError(f"sft.sequences_per_step ({cfg.sft.sequences_per_step}) must be at least the number of "
                         f"processes (WORLD_SIZE = {world}): each packs a share of a step's sequences")  # fmt: skip
    return init_from_env(cfg.runtime.distributed, cfg.runtime.device)


def train(cfg: TrainConfig, resume: bool = False) -> dict:
    """Run SFT then GRPO as configured (or continue the run in `cfg.logging.run_dir` from its newest checkpoint);
    returns {"after SFT": eval, "after GRPO": eval, "run_dir", "wall_s"}."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # one progress bar: ours (not one per checkpoint write)
    t_start = time.perf_counter()
    if cfg.runtime.threads:
        torch.set_num_threads(cfg.runtime.threads)
    device = pick_device(cfg.runtime.device)
    if cfg.logging.run_dir and not resume:
        refuse_used_run_dir(cfg.logging.run_dir)
    dist = start_distributed(cfg)
    device = device if dist.world_size == 1 else dist.device
    try:
        with compute_precision(cfg.model.dtype, device):  # fp32 master weights, bf16 matmuls when so configured
            return _train(cfg, resume, dist, device, t_start)
    finally:
        dist.close()


def _train(cfg: TrainConfig, resume: bool, dist: Dist, device: torch.device, t_start: float) -> dict:
    from tqdm import tqdm

    # rank 0 samples with runtime.seed (as one process does); the others with seeds derived from it
    torch.manual_seed(cfg.runtime.seed if dist.is_main else derive_seed(cfg.runtime.seed, 1_000_000 + dist.rank))
    ckpt = dist.broadcast_object(resume_point(cfg.logging.run_dir) if resume and dist.is_main else None)
    state = load_state(ckpt) if ckpt else None
    run_dir = dist.broadcast_object(make_run_dir(cfg) if dist.is_main else None)
    cfg.logging.run_dir = run_dir
    if dist.is_main:
        save_config(cfg, os.path.join(run_dir, "config.yaml"))
        resume_step = state["step"] if state else None
        logger = MetricsLogger(run_dir, tensorboard=cfg.logging.tensorboard, resume_step=resume_step)
        lc = cfg.logging
        logger.samples = SampleLog(run_dir, lc.samples_every_steps, lc.samples_groups, resume_step=resume_step)
    else:
        logger = _SilentLogger(run_dir)
    if logger.tensorboard_error:
        print(logger.tensorboard_error, file=sys.stderr)

    model, tok = load_model(cfg.model, device)
    if ckpt:
        load_weights(model, ckpt)
    g, keep = cfg.grpo, cfg.checkpoint.keep_last
    venv = make_venv(cfg.env.id, cfg.env.kwargs, g.prompts_per_step // dist.world_size, g.samples_per_prompt,
                     cfg.env.verifier_backend, step_verdicts=bool(g.step_reward_weight))  # fmt: skip
    # a dataset env trains on the rows evaluation does not hold out, epoch by epoch without replacement
    split_rows(venv, "train", eval_holdout(cfg), cfg.eval.seed, cfg.env.seed)
    check_env(cfg, venv)
    engine = make_engine(
        cfg.rollout.engine, model, tok, add_special_tokens=not cfg.model.chat_template,
        max_batch_sequences=cfg.rollout.max_batch_sequences, **engine_options(cfg.rollout),
        **({"dtype": cfg.model.dtype} if cfg.rollout.engine == "vllm" else {}),  # vLLM samples in the compute dtype
    )  # fmt: skip
    results: dict = {"run_dir": run_dir}
    done = state["step"] if state else 0
    show = cfg.logging.progress and dist.is_main
    progress = tqdm(total=cfg.sft.steps + g.steps, desc="train", disable=not show, dynamic_ncols=True)
    try:
        if state is None:
            if cfg.sft.steps:
                run_sft(model, tok, venv.env, cfg, logger, progress, dist)  # data-parallel over the ranks
                dist.broadcast_params(model)  # rank 0's result, should the ranks' arithmetic have differed
                engine.sync_weights(model)
            if dist.is_main:
                results["after SFT"] = _log_eval(logger, 0, cfg, engine, tok, dist, venv)
            rngs = dist.gather_object(rng_state())  # collective
            if dist.is_main:
                save_checkpoint(run_dir, 0, model, tok, {"results": results, "rng_ranks": rngs}, keep_last=keep)
        else:
            results.update(state["results"], run_dir=run_dir)
            progress.update(cfg.sft.steps + min(done, g.steps))
        if g.steps > done:
            ev = grpo_loop(cfg, model, tok, engine, venv, logger, progress, results, ckpt, state, dist)
            if ev is not None:
                results["after GRPO"] = ev
    finally:
        progress.close()
        logger.close()
        venv.close()
        engine.close()
    results["wall_s"] = time.perf_counter() - t_start
    if dist.is_main:
        with open(os.path.join(run_dir, "results.json"), "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)
    return results


def _rank_rng(state: dict, dist: Dist) -> dict:
    """This rank's RNG state from a checkpoint: its own when the checkpoint has one per rank of this world size, else
    rank 0's (a run resumed on a different number of ranks splits its data differently anyway)."""
    ranks = state.get("rng_ranks")
    return ranks[dist.rank] if ranks and len(ranks) == dist.world_size else state["rng"]


def grpo_loop(cfg: TrainConfig, model, tok, engine, venv, logger, progress, results, ckpt, state, dist=None) -> dict:
    """GRPO steps after the checkpoint `ckpt` (state None: from step 1), with validation every eval.every_steps,
    reference resets and checkpoints; returns the evaluation after the last step (None on ranks other than 0)."""
    g, o, rc, keep = cfg.grpo, cfg.optim, cfg.reset, cfg.checkpoint.keep_last
    dist = dist or Dist()
    ref = frozen_copy(model)
    forward = wrap(model, cfg.runtime.distributed, dist, cfg.model.dtype)  # the parameters the optimiser steps
    opt = adamw(forward.parameters(), o.lr, o)
    warmup = max(o.warmup_steps, 1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warmup))
    trainer = GRPO(cfg, model, ref, tok, engine, venv, opt, sched, dist=dist, forward=forward)
    trainer.sample_log = logger.samples
    resets = ResetTrigger(rc.every_steps, rc.kl_threshold, rc.patience, rc.degrade)
    start = 1
    if state is not None and state["step"] > 0:
        load_reference(ref, ckpt)
        if "optimizer" in state:
            load_optimizer_state(forward, opt, state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        trainer.load_state_dict(state["trainer"])
        resets.load_state_dict(state["resets"])
        start = state["step"] + 1
    if state is not None:
        set_rng_state(_rank_rng(state, dist))
    model.train()
    for step in range(start, g.steps + 1):
        if logger.samples is not None:
            logger.samples.step = step
        metrics = trainer.step(step)
        metrics["resets"] = resets.count
        logger.log("grpo", step, metrics)
        progress.update(1)
        kl = {"kl": f"{metrics['kl']:.3f}"} if "kl" in metrics else {}  # no reference: no KL
        progress.set_postfix(phase="grpo", reward=f"{metrics['reward']:.2f}", len=f"{metrics['response_tokens']:.1f}",
                             **kl)  # fmt: skip
        reason, value = None, None
        if cfg.eval.every_steps and step % cfg.eval.every_steps == 0 and step < g.steps:
            ev = _log_eval(logger, step, cfg, engine, tok, dist, venv)
            value = dist.broadcast_object(ev[rc.metric] if ev else None)  # rank 0 evaluates; all decide alike
            reason = resets.after_eval(value)
        reason = dist.broadcast_object(reason or resets.after_step(step, metrics.get("kl", 0.0)))
        if reason:
            trainer.reset_reference(rc.reset_optimizer)
            resets.fired(value)
            logger.log("reset", step, {"reason": reason, "count": resets.count})
        every = cfg.checkpoint.every_steps
        if step == g.steps or (every and step % every == 0):
            full = {
                "results": results, "scheduler": sched.state_dict(), "trainer": trainer.state_dict(),
                "resets": resets.state_dict(),
            }  # fmt: skip
            if cfg.checkpoint.save_optimizer:
                full["optimizer"] = optimizer_state(forward, opt)  # collective under FSDP2
            full["rng_ranks"] = dist.gather_object(rng_state())  # collective
            if dist.is_main:
                save_checkpoint(logger.run_dir, step, model, tok, full, reference=ref, keep_last=keep)
    return _log_eval(logger, g.steps, cfg, engine, tok, dist, venv)
