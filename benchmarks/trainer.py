"""GRPO step throughput: our trainer next to TRL's `GRPOTrainer` at equal work, in one run.

Both trainers get the same tiny Llama (built from a config with the same init seed), the same tokenizer, the
same kind of prompts (rlvr/Parity-v0, plain style), P prompts x G samples per step, exactly T response tokens
per sample, the same reward (our `parity` verifier, in-process `verify_batch`), fp32, no gradient
checkpointing, no KL term (beta 0, so no reference model), clip eps 0.2 / 0.28, token-mean loss
(ours `token_mean`, TRL's `dapo`), AdamW at a constant learning rate, gradient-norm clipping at 1.0 and one
optimiser step per GRPO step over the whole batch (no micro-batching).

Equal length: the tokenizer's EOS id is the last id of its vocabulary and the model's output vocabulary stops
one id short of it, so neither sampler can end a response early; every response is T tokens, and the script
counts them (`tokens_per_step` must be P*G*T for both).

What each side does by default and keeps: both skip the old-log-prob forward pass when there is one optimiser
step per generation (the ratio's denominator is the detached current log-prob) and use torch's fused AdamW.
TRL samples with transformers' `generate` (every row prefilled); ours with the `hf` engine's own decode loop
(one prefill per distinct prompt, an in-place KV cache, finished rows leave the batch), and its update runs
each group's prompt once (`shared_prompt_hidden`). TRL's other settings are its defaults (logging every 10 steps).

Measurement: each trainer runs in its own subprocess (`--worker ours|trl`): W warm-up steps, then N timed
steps. Rounds alternate the order (ours first, then TRL first, ...) so that machine noise hits both; the
summary takes the median step over all rounds and also reports each round's ratio. A step's time is the wall
time between consecutive optimiser-step ends (dataloading, generation, reward, old-log-probs, loss, backward,
optimiser, logging: everything). Phases: generate (tokenise, sample, decode), reward (verifier), score (the
rest of collection: old log-probs for ours; advantages and tensor building for both) and update (loss,
backward, clip, optimiser step). Memory: the worker's peak RSS (`resource.getrusage`, whole process,
imports included) and peak RSS above the RSS just before the first timed step; on a GPU also
`torch.cuda.max_memory_allocated`. Each step's CPU time (`time.process_time` of its worker, all threads) is
recorded next to its wall time: on a shared machine it shows the work done, unaffected by waiting for a core.

    .venv/bin/python benchmarks/trainer.py [--rounds 3] [--warmup 3] [--steps 10] [--prompts 16] [--group 8]
        [--response-tokens 24] [--hidden-size 64] [--layers 2] [--threads 1] [--device auto] [--quick] [--out PATH]
        [--arch llama|qwen2] [--heads H] [--kv-heads K] [--intermediate I] [--vocab V]   # model shape
        [--bits D]   # parity bits per prompt: prompts of D + 1 tokens

The real-vocabulary row (V = 151,936, Qwen2.5's; prompts of 100 tokens, responses of 128; ~6 minutes here):

    .venv/bin/python benchmarks/trainer.py --arch qwen2 --vocab 151936 --hidden-size 256 --layers 4 --bits 99 \
        --response-tokens 128 --prompts 2 --group 4 --rounds 2 --warmup 1 --steps 3 \
        --out benchmarks/results/trainer-cpu-vocab.json

Writes benchmarks/results/trainer-<device>.json (cpu, or the GPU's name).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from common import RESULTS, machine_info, write_result  # noqa: E402

PHASES = ("generate", "reward", "score", "update")
TARGET_RATIO = 1.5


# ---------------------------------------------------------------------------------------------- shared set-up


def tokenizer_and_model(args):
    """A character tokenizer over "01=" whose EOS (the last id) lies outside the model's output vocabulary, and a
    Llama or Qwen2 model of the given shape. `--vocab V` > 5 pads the tokenizer with filler tokens `<fN>` so the
    output layer has a real model's width (Qwen2.5: 151936); EOS stays id V, outside it."""
    import torch
    import transformers
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<unk>": 1, "0": 2, "1": 3, "=": 4}
    vocab.update({f"<f{i}>": i for i in range(5, args.vocab)})
    vocab["<eos>"] = len(vocab)
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    core.decoder = decoders.Fuse()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>", padding_side="left",
        clean_up_tokenization_spaces=False,
    )  # fmt: skip
    heads = args.heads or max(1, args.hidden_size // 32)
    config = {"llama": transformers.LlamaConfig, "qwen2": transformers.Qwen2Config}[args.arch](
        vocab_size=len(vocab) - 1,  # no logit for <eos>: responses always run to max length
        hidden_size=args.hidden_size,
        intermediate_size=args.intermediate or 4 * args.hidden_size,
        num_hidden_layers=args.layers,
        num_attention_heads=heads,
        num_key_value_heads=args.kv_heads or heads,
        head_dim=args.hidden_size // heads,
        max_position_embeddings=max(256, args.bits + 1 + args.response_tokens),
        pad_token_id=tok.pad_token_id,
        eos_token_id=None,  # the samplers take EOS from the tokenizer
        bos_token_id=None,
        tie_word_embeddings=args.tie_embeddings,
    )
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(config)
    return model.to(args.device), tok


def parity_problems(n: int, seed: int, n_bits: int) -> list[dict[str, str]]:
    from rlvr.envs.parity import ParityConfig, ParitySource

    source = ParitySource(ParityConfig(n_bits=n_bits, style="plain"))
    out = []
    for i in range(n):
        problem = source.problem(seed * 1_000_003 + i)
        out.append({"prompt": problem.prompt, "bits": problem.reference["bits"]})
    return out


def _describe(opt) -> str:
    flags = [k for k in ("fused", "foreach") if opt.defaults.get(k)]
    return type(opt).__name__ + (f"({', '.join(flags)})" if flags else "")


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


# --------------------------------------------------------------------------------------------------- ours


def make_our_trainer(args, model, tok):
    """Our GRPO trainer as `rlvr train` builds it (run.py), with this benchmark's settings. The one place that
    knows the GRPO constructor: adapt here when its signature changes."""
    import torch

    from rlvr.trainer.config import TrainConfig, config_from_dict, validate
    from rlvr.trainer.evaluate import make_venv
    from rlvr.trainer.grpo import GRPO
    from rlvr.trainer.model import adamw
    from rlvr.trainer.rollout import make_engine

    cfg: TrainConfig = config_from_dict(
        {
            "env": {"id": "rlvr/Parity-v0", "kwargs": {"n_bits": args.bits, "style": "plain"}, "seed": 0},
            "rollout": {"engine": "hf", "temperature": 1.0, "top_p": 1.0, "max_response_tokens": args.response_tokens,
                        "max_batch_sequences": args.prompts * args.group},
            "grpo": {"steps": args.warmup + args.steps, "prompts_per_step": args.prompts,
                     "samples_per_prompt": args.group, "advantage": "grpo", "loss_agg": "token_mean", "kl_coef": 0.0,
                     "eps_low": 0.2, "eps_high": 0.28, "minibatch_samples": 0, "micro_batch_samples": 0, "epochs": 1},
            "optim": {"lr": args.lr, "max_grad_norm": 1.0, "warmup_steps": 0, "weight_decay": 0.0},
            "runtime": {"device": args.device, "threads": args.threads},
        }
    )  # fmt: skip
    validate(cfg)
    g, o = cfg.grpo, cfg.optim
    venv = make_venv(cfg.env.id, cfg.env.kwargs, g.prompts_per_step, g.samples_per_prompt)
    engine = make_engine("hf", model, tok, add_special_tokens=True, max_batch_sequences=cfg.rollout.max_batch_sequences)
    opt = adamw(model.parameters(), o.lr, o)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    model.train()
    return GRPO(cfg, model, None, tok, engine, venv, opt, sched), venv, _describe(opt)


def run_ours(args, turn: Turn) -> dict[str, Any]:
    from rlvr.trainer.metrics import MetricsLogger

    model, tok = tokenizer_and_model(args)
    trainer, venv, optimizer = make_our_trainer(args, model, tok)
    logger = MetricsLogger(tempfile.mkdtemp(prefix="rlvr-bench-"), tensorboard=False)  # as `rlvr train` logs a step
    clock = PhaseClock()

    def count(samples):
        clock.samples += len(samples)
        clock.tokens += sum(len(s.response_ids) for s in samples)

    # instance attributes shadow the methods: the trainer's own calls go through the clock
    trainer.engine.generate = clock.wrap("generate", trainer.engine.generate, count)
    venv.step = clock.wrap("reward", venv.step)
    trainer.collect = clock.wrap("collect", trainer.collect)
    steps, rss_start = [], None
    try:
        for step in range(1, args.warmup + args.steps + 1):
            if step == args.warmup + 1:
                rss_start = rss_mib()
                _reset_cuda_peak(args)
            turn.wait()
            clock.start()
            metrics = trainer.step(step)
            logger.log("grpo", step, metrics)
            clock.step_end(steps if step > args.warmup else [], metrics.get("reward", float("nan")))
            turn.done()
    finally:
        logger.close()
        venv.close()
    return {"steps": steps, "rss_start_mib": rss_start, "optimizer": optimizer}


class Turn:
    """Lock-step with the parent: wait for a go byte on stdin before a step, write a done byte after it, so
    that the two trainers' steps alternate one by one and machine noise hits both alike."""

    def __init__(self, done_fd: int) -> None:
        self.done_fd = done_fd

    def wait(self) -> bool:
        return bool(sys.stdin.buffer.read(1))  # b"" when the parent closed stdin (no more steps)

    def done(self) -> None:
        os.write(self.done_fd, b"d")


class PhaseClock:
    """Per-step phase times from wrapped methods; a step's time runs from the previous step's end to this one's."""

    def __init__(self) -> None:
        self.t_prev: float | None = None
        self.phases = dict.fromkeys(("generate", "reward", "collect"), 0.0)
        self.samples = self.tokens = 0

    def wrap(self, name, fn, after=None):
        def timed(*a, **k):
            t = time.perf_counter()
            out = fn(*a, **k)
            self.phases[name] += time.perf_counter() - t
            if after is not None:
                after(out)
            return out

        return timed

    def start(self) -> None:
        self.t_prev = time.perf_counter()
        self.cpu_prev = time.process_time()
        self.phases = dict.fromkeys(self.phases, 0.0)
        self.samples = self.tokens = 0

    def step_end(self, steps: list[dict], reward: float) -> None:
        """Append the step that started at `start()` to `steps`."""
        t, cpu = time.perf_counter(), time.process_time()
        p = self.phases
        if self.t_prev is not None:
            step_s = t - self.t_prev
            steps.append(
                {
                    "step_s": step_s,
                    "cpu_s": cpu - self.cpu_prev,
                    "generate_s": p["generate"],
                    "reward_s": p["reward"],
                    "score_s": p["collect"] - p["generate"] - p["reward"],
                    "update_s": step_s - p["collect"],
                    "samples": self.samples,
                    "tokens": self.tokens,
                    "reward": reward,
                }
            )
        self.t_prev = None


# ---------------------------------------------------------------------------------------------------- TRL


def run_trl(args, turn: Turn) -> dict[str, Any]:
    import datasets
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from rlvr.verifiers import get_verifier

    model, tok = tokenizer_and_model(args)
    verifier = get_verifier("parity")

    def parity_reward(prompts, completions, bits, **kwargs):
        pairs = [(c, {"bits": b}) for c, b in zip(completions, bits, strict=True)]
        return [v.reward for v in verifier.verify_batch(pairs)]

    total = args.warmup + args.steps
    data = datasets.Dataset.from_list(parity_problems(args.prompts * total, seed=1, n_bits=args.bits))
    out_dir = tempfile.mkdtemp(prefix="trl-bench-")
    config = GRPOConfig(
        output_dir=out_dir,
        per_device_train_batch_size=args.prompts * args.group,
        gradient_accumulation_steps=1,  # one optimiser step per generation batch
        num_generations=args.group,
        max_completion_length=args.response_tokens,
        temperature=1.0,
        top_p=1.0,
        top_k=0,
        beta=0.0,
        epsilon=0.2,
        epsilon_high=0.28,
        loss_type="dapo",
        num_iterations=1,
        learning_rate=args.lr,
        lr_scheduler_type="constant",
        warmup_steps=0,
        weight_decay=0.0,
        max_grad_norm=1.0,
        max_steps=total,
        bf16=False,
        gradient_checkpointing=False,
        use_cpu=args.device == "cpu",
        report_to="none",
        save_strategy="no",
        disable_tqdm=True,
        seed=0,
    )
    trainer = GRPOTrainer(
        model=model, reward_funcs=parity_reward, args=config, train_dataset=data, processing_class=tok
    )
    clock = PhaseClock()

    def count(out):
        clock.tokens += int(out["completion_mask"].sum().item())
        clock.samples += int(out["completion_mask"].shape[0])

    trainer._generate = clock.wrap("generate", trainer._generate)
    trainer._calculate_rewards = clock.wrap("reward", trainer._calculate_rewards)
    trainer._generate_and_score_completions = clock.wrap("collect", trainer._generate_and_score_completions, count)
    steps: list[dict] = []
    state = {"rss_start": None}

    class Timer(TrainerCallback):
        """A step runs from the parent's go (waited for at the end of the previous step, so TRL's logging after
        `on_step_end` falls inside the next step) to `on_step_end`."""

        def on_train_begin(self, _args, st, control, **kwargs):
            turn.wait()
            clock.start()

        def on_step_end(self, _args, st, control, **kwargs):
            reward = (trainer._metrics["train"].get("reward") or [float("nan")])[-1]
            clock.step_end(steps if st.global_step > args.warmup else [], reward)
            turn.done()
            if st.global_step == args.warmup:
                state["rss_start"] = rss_mib()
                _reset_cuda_peak(args)
            if turn.wait():
                clock.start()

    trainer.add_callback(Timer())
    trainer.train()
    return {"steps": steps, "rss_start_mib": state["rss_start"], "optimizer": _describe(trainer.optimizer.optimizer)}


# ------------------------------------------------------------------------------------------------ workers


def _reset_cuda_peak(args) -> None:
    if args.device == "cuda":
        import torch

        torch.cuda.reset_peak_memory_stats()


def worker(args) -> int:
    import torch

    torch.set_num_threads(args.threads)
    turn = Turn(args.done_fd)
    result = run_ours(args, turn) if args.worker == "ours" else run_trl(args, turn)
    result["peak_rss_mib"] = peak_rss_mib()
    if result["rss_start_mib"] is not None:
        result["peak_rss_above_start_mib"] = result["peak_rss_mib"] - result["rss_start_mib"]
    if args.device == "cuda":
        result["cuda_max_allocated_mib"] = torch.cuda.max_memory_allocated() / 2**20
    Path(args.worker_out).write_text(json.dumps(result))
    return 0


class Worker:
    """One trainer in its own subprocess, stepped by `step()` (see `Turn`)."""

    def __init__(self, args, which: str, log_dir: Path) -> None:
        self.which = which
        self.out = log_dir / f"{which}.json"
        self.log = open(log_dir / f"{which}.log", "w")  # noqa: SIM115 - closed in finish()
        self.read_fd, write_fd = os.pipe()
        argv = [sys.executable, str(Path(__file__).resolve()), "--worker", which, "--worker-out", str(self.out),
                "--done-fd", str(write_fd), "--device", args.device]  # fmt: skip
        for key in ("warmup", "steps", "prompts", "group", "response_tokens", "hidden_size", "layers", "threads", "lr",
                    "arch", "heads", "kv_heads", "intermediate", "vocab", "bits"):  # fmt: skip
            argv += [f"--{key.replace('_', '-')}", str(getattr(args, key))]
        argv += ["--tie-embeddings"] if args.tie_embeddings else []
        env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": str(args.threads)}
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=self.log, stderr=subprocess.STDOUT, env=env,
                                     pass_fds=(write_fd,))  # fmt: skip
        os.close(write_fd)

    def step(self) -> None:
        self.proc.stdin.write(b"g")
        self.proc.stdin.flush()
        if os.read(self.read_fd, 1) != b"d":
            self.proc.wait()
            raise RuntimeError(f"{self.which} worker died ({self.proc.returncode}); see {self.log.name}")

    def finish(self) -> dict[str, Any]:
        self.proc.stdin.close()
        code = self.proc.wait()
        self.log.close()
        os.close(self.read_fd)
        if code != 0:
            raise RuntimeError(f"{self.which} worker failed ({code}):\n{Path(self.log.name).read_text()[-4000:]}")
        return json.loads(self.out.read_text())


def run_round(args, log_dir: Path, first: str) -> dict[str, dict[str, Any]]:
    """Both workers started (their set-up overlaps, untimed), then W + N steps each, alternating one by one."""
    order = (first, "trl" if first == "ours" else "ours")
    workers = {w: Worker(args, w, log_dir) for w in order}
    try:
        for _ in range(args.warmup + args.steps):
            for w in order:
                workers[w].step()
        return {w: workers[w].finish() for w in order}
    finally:
        for w in workers.values():
            if w.proc.poll() is None:
                w.proc.kill()


def summarise(runs: list[dict[str, Any]], expected_tokens: int) -> dict[str, Any]:
    steps = [s for r in runs for s in r["steps"]]
    med = {f"{p}_s": statistics.median(s[f"{p}_s"] for s in steps) for p in PHASES}
    step_s = statistics.median(s["step_s"] for s in steps)
    samples, tokens = steps[0]["samples"], steps[0]["tokens"]
    cpu_s = statistics.median(s["cpu_s"] for s in steps)
    out = {
        "timed_steps": len(steps),
        "cpu_s_median": cpu_s,
        "samples_per_cpu_s": samples / cpu_s,
        "step_s_median": step_s,
        "step_s_min": min(s["step_s"] for s in steps),
        "step_s_max": max(s["step_s"] for s in steps),
        "samples_per_s": samples / step_s,
        "tokens_per_s": tokens / step_s,
        "samples_per_step": samples,
        "tokens_per_step": tokens,
        "every_step_full_length": all(s["tokens"] == expected_tokens for s in steps),
        "phases_s_median": med,
        "peak_rss_mib": max(r["peak_rss_mib"] for r in runs),
        "peak_rss_above_start_mib": max(r.get("peak_rss_above_start_mib", float("nan")) for r in runs),
        "optimizer": runs[0]["optimizer"],
        "mean_reward": statistics.fmean(s["reward"] for s in steps),
    }
    if "cuda_max_allocated_mib" in runs[0]:
        out["cuda_max_allocated_mib"] = max(r["cuda_max_allocated_mib"] for r in runs)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3, help="alternating (ours, TRL) subprocess pairs")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps per worker")
    ap.add_argument("--steps", type=int, default=10, help="timed steps per worker")
    ap.add_argument("--prompts", type=int, default=16, help="prompts per step (P)")
    ap.add_argument("--group", type=int, default=8, help="samples per prompt (G)")
    ap.add_argument("--response-tokens", type=int, default=24, help="tokens generated per sample (T)")
    ap.add_argument("--hidden-size", type=int, default=64, help="model width (heads of 32; MLP 4x)")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--bits", type=int, default=16, help="parity bits per prompt (the prompt is bits + 1 tokens)")
    ap.add_argument("--arch", default="llama", choices=("llama", "qwen2"), help="model family built from a config")
    ap.add_argument("--heads", type=int, default=0, help="attention heads (default: hidden size / 32)")
    ap.add_argument("--kv-heads", type=int, default=0, help="key/value heads (default: --heads)")
    ap.add_argument("--intermediate", type=int, default=0, help="MLP width (default: 4x hidden size)")
    ap.add_argument("--vocab", type=int, default=5, help="output vocabulary (filler tokens beyond 01=; EOS outside)")
    ap.add_argument("--tie-embeddings", action="store_true", help="share the input embedding and the output layer")
    ap.add_argument("--lr", type=float, default=1e-5)
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads in each worker")
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    ap.add_argument("--quick", action="store_true", help="1 round, 1 warm-up and 2 timed steps, P=4")
    ap.add_argument("--out", type=Path, default=None, help="default benchmarks/results/trainer-<device>.json")
    ap.add_argument("--worker", choices=("ours", "trl"), help=argparse.SUPPRESS)
    ap.add_argument("--worker-out", help=argparse.SUPPRESS)
    ap.add_argument("--done-fd", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.device == "auto":
        import torch

        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.worker:
        return worker(args)
    if args.quick:
        args.rounds, args.warmup, args.steps, args.prompts = 1, 1, 2, 4
    for key in ("rounds", "warmup", "steps", "prompts", "group", "response_tokens", "threads"):
        if getattr(args, key) < 1:
            raise SystemExit(f"--{key.replace('_', '-')} must be at least 1")
    if args.group < 2:
        raise SystemExit("--group must be at least 2 (GRPO compares samples within a group)")

    runs: dict[str, list] = {"ours": [], "trl": []}
    round_ratios = []
    log_dir = Path(tempfile.mkdtemp(prefix="rlvr-bench-trainer-"))
    for r in range(args.rounds):
        got = run_round(args, log_dir, "ours" if r % 2 == 0 else "trl")
        med = {w: statistics.median(s["step_s"] for s in got[w]["steps"]) for w in got}
        for w in got:
            runs[w].append(got[w])
        round_ratios.append(med["trl"] / med["ours"])
        print(f"round {r + 1}/{args.rounds}: median step ours {med['ours'] * 1e3:.1f} ms, TRL {med['trl'] * 1e3:.1f} ms"
              f" ({round_ratios[-1]:.2f}x); worker logs in {log_dir}", flush=True)  # fmt: skip
    expected = args.prompts * args.group * args.response_tokens
    ours, trl = summarise(runs["ours"], expected), summarise(runs["trl"], expected)
    ratios = {
        "samples_per_s": ours["samples_per_s"] / trl["samples_per_s"],
        "tokens_per_s": ours["tokens_per_s"] / trl["tokens_per_s"],
        "samples_per_cpu_s": ours["samples_per_cpu_s"] / trl["samples_per_cpu_s"],
        **{f"{p}_s": trl["phases_s_median"][f"{p}_s"] / max(ours["phases_s_median"][f"{p}_s"], 1e-9) for p in PHASES},
        "peak_rss": ours["peak_rss_mib"] / trl["peak_rss_mib"],
        "peak_rss_above_start": ours["peak_rss_above_start_mib"] / trl["peak_rss_above_start_mib"],
        "throughput_per_round": round_ratios,
    }
    device_name = "cpu"
    if args.device == "cuda":
        import torch

        device_name = torch.cuda.get_device_name()
    slug = "cpu" if args.device == "cpu" else re.sub(r"[^a-z0-9]+", "-", device_name.lower()).strip("-")
    result = {
        "benchmark": "trainer",
        "command": " ".join(["benchmarks/trainer.py", *(sys.argv[1:] if argv is None else argv)]),
        "machine": machine_info(("torch", "transformers", "trl", "accelerate")),
        "device": device_name,
        "quick": args.quick,
        "settings": {
            "prompts_per_step": args.prompts,
            "samples_per_prompt": args.group,
            "response_tokens": args.response_tokens,
            "prompt_tokens": args.bits + 1,
            "model": {
                "arch": args.arch,
                "hidden_size": args.hidden_size,
                "layers": args.layers,
                "heads": args.heads or max(1, args.hidden_size // 32),
                "kv_heads": args.kv_heads or None,
                "intermediate": args.intermediate or 4 * args.hidden_size,
                "vocab": args.vocab,
                "tied_embeddings": args.tie_embeddings,
                "dtype": "float32",
            },  # fmt: skip
            "threads": args.threads,
            "rounds": args.rounds,
            "warmup_steps": args.warmup,
            "timed_steps_per_round": args.steps,
            "lr": args.lr,
            "memory": "peak RSS of each trainer's own subprocess (resource.getrusage), imports included",
        },
        "target_ratio": TARGET_RATIO,
        "ours": ours,
        "trl": trl,
        "ratios": ratios,
    }
    out = write_result(args.out or RESULTS / f"trainer-{slug}.json", result)
    print(format_table(result))
    print(f"wrote {out}")
    return 0


def format_table(result: dict[str, Any]) -> str:
    ours, trl, ratio = result["ours"], result["trl"], result["ratios"]
    lines = [f"{'':<26}{'ours':>12}{'TRL':>12}{'ratio':>10}"]

    def row(name, a, b, r, spec=".1f"):
        lines.append(f"{name:<26}{format(a, spec):>12}{format(b, spec):>12}{r:>9.2f}x")

    row("samples/s", ours["samples_per_s"], trl["samples_per_s"], ratio["samples_per_s"])
    row("tokens/s", ours["tokens_per_s"], trl["tokens_per_s"], ratio["tokens_per_s"])
    row("step ms (median)", 1e3 * ours["step_s_median"], 1e3 * trl["step_s_median"], ratio["samples_per_s"])
    row("step CPU ms (median)", 1e3 * ours["cpu_s_median"], 1e3 * trl["cpu_s_median"], ratio["samples_per_cpu_s"])
    for p in PHASES:
        row(f"  {p} ms", 1e3 * ours["phases_s_median"][f"{p}_s"], 1e3 * trl["phases_s_median"][f"{p}_s"],
            ratio[f"{p}_s"])  # fmt: skip
    row("peak RSS MiB", ours["peak_rss_mib"], trl["peak_rss_mib"], ratio["peak_rss"], ".0f")
    row("  above start MiB", ours["peak_rss_above_start_mib"], trl["peak_rss_above_start_mib"],
        ratio["peak_rss_above_start"], ".0f")  # fmt: skip
    lines.append("ratio: ours/TRL for rates and memory, TRL/ours for times (above 1: we are faster)")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
