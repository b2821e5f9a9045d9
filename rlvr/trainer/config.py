"""The training config: one flat dataclass per part, loaded from YAML, overridden with `--set part.field=value`.

    cfg = load_config("configs/parity.yaml", ["grpo.kl_coef=0.001", "env.kwargs={n_bits: 12}"])
    save_config(cfg, run_dir / "config.yaml")          # the fully resolved config

Parts: `model`, `env`, `sft`, `rollout`, `grpo`, `length`, `reset`, `optim`, `eval`, `checkpoint`, `logging`,
`runtime`.
Every field has a default; a YAML file lists only what it changes. Values given with `--set` are parsed
by the field's type (`true`/`false` for bools; YAML for lists and dicts). `validate` runs once at
start-up and raises a `ValueError` that names the field and what is allowed; unknown keys are errors.
Units are in the names (`max_response_tokens`, `prompts_per_step`, `every_steps`).

Not here on purpose: executable configs, nesting deeper than part.field, and keys for features that do
not exist yet. The prolonged-training controls (`grpo.*` clipping, KL, dynamic sampling, dual reward, error and
non-finite guards; `length.*`; `reset.*`) are listed with the ProRL technique they implement in the README's
"Prolonged training" section.
"""

from __future__ import annotations

import dataclasses
import math
import os
import typing
from typing import Any

import yaml

DTYPES = ("float32", "bfloat16")
DEVICES = ("auto", "cpu", "cuda")
OPTIMIZERS = ("adamw",)
KL_IN = ("loss", "reward")
IS_LEVELS = ("token", "sequence")


@dataclasses.dataclass
class ModelConfig:
    """A local Hugging Face directory (`path`), or a tiny Llama built from the fields below when `path` is empty."""

    path: str = ""
    vocab_chars: str = "01="  # built models: a character-level tokenizer over these characters (+ <pad>, <eos>)
    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 2
    head_dim: int = 32
    intermediate_size: int = 256
    max_position_tokens: int = 256
    dtype: str = "float32"
    gradient_checkpointing: bool = False
    dropout: bool = False  # keep the model's dropout (off by default: the sampler runs without it, so the update's
    # log-probs would not be the sampling policy's, and ρ = 1 would not hold on-policy)
    chat_template: bool = False  # wrap prompts with the tokenizer's chat template (needs one)
    init_seed: int = 0


@dataclasses.dataclass
class EnvConfig:
    """The Gymnasium env the run trains and evaluates on; `kwargs` go to `gym.make_vec` / `gym.make`."""

    id: str = "rlvr/Parity-v0"
    kwargs: dict = dataclasses.field(default_factory=dict)
    seed: int = 0  # training problems: reset seeds derived from (seed, step)
    verifier_backend: str = ""  # "": verify in this process; bwrap | process | ray: isolated VerifierPool workers


@dataclasses.dataclass
class SFTConfig:
    """Next-token training before RL on `demos` env demonstrations (or `dataset`: a JSONL of prompt/response)."""

    steps: int = 0
    dataset: str = ""
    demos: int = 4096
    long_fraction: float = 0.25  # env demonstrations only: the share of long (chain-of-thought) demos
    seed: int = 0
    sequences_per_step: int = 64
    row_tokens: int = 512  # sequences are packed into rows of at most this many tokens
    lr: float = 1e-3
    warmup_steps: int = 0


@dataclasses.dataclass
class RolloutConfig:
    engine: str = "hf"
    temperature: float = 1.0
    top_p: float = 1.0
    max_response_tokens: int = 64
    stop_strings: list = dataclasses.field(default_factory=list)
    max_batch_sequences: int = 256  # sequences generated at once (memory), not a training batch size
    vllm_gpu_memory_utilization: float = 0.3  # vllm on CUDA: the share of GPU memory vLLM takes (the trainer: the rest)
    vllm_max_model_len: int = 0  # vllm: prompt + response tokens per sequence (sizes the KV cache); 0: the model's
    vllm_enforce_eager: bool = True  # vllm: no torch.compile / CUDA graphs (fast start-up); false on a GPU for speed
    max_turns: int = 0  # turns of a multi-turn episode at most (0: until the env ends it); see episodes.py
    turn_reward: str = "sum"  # an episode's reward: the sum of its turns' rewards, or the last turn's


@dataclasses.dataclass
class GRPOConfig:
    """GRPO: `prompts_per_step` groups of `samples_per_prompt`; the policy is updated `epochs` times over them in
    minibatches of `minibatch_samples` (one optimiser step each), in micro-batches of `micro_batch_samples`."""

    steps: int = 0
    prompts_per_step: int = 16
    samples_per_prompt: int = 8
    advantage: str = "grpo"
    policy_loss: str = "clip"
    loss_agg: str = "token_mean"
    kl: str = "k3"
    kl_coef: float = 0.0
    entropy_coef: float = 0.0
    eps_low: float = 0.2
    eps_high: float = 0.28  # > eps_low: clip-higher (DAPO)
    dual_clip: float = 0.0  # c > 1: a negative-advantage token's loss is capped at c * |A| (dual-clip PPO); 0: off
    kl_in: str = "loss"  # loss: + β KL_t per token; reward: r_i -= β Σ_t KL_t before the advantages
    kl_target: float = 0.0  # > 0: an adaptive controller steers kl_coef (its start value) toward this KL
    kl_horizon_steps: int = 10  # the controller changes kl_coef by at most 20% / kl_horizon_steps per step
    dynamic_sampling: bool = False  # drop groups whose rewards are all equal; sample more prompts to refill
    max_sampling_rounds: int = 4  # dynamic sampling: generation rounds per step at most (then train on what is kept)
    step_reward_weight: float = 0.0  # dual reward: weight of the verifier's step verdicts as per-token advantages
    is_correction: str = "none"  # off-policy correction for the sampler/trainer mismatch: none | tis | mis | icepop
    is_bounds: list = dataclasses.field(default_factory=lambda: [0.5, 5.0])  # [lo, hi] of π_old/μ (tis: hi only)
    is_level: str = "token"  # token: a ratio per token; sequence: the product over the response's tokens
    max_error_fraction: float = 0.5  # stop when a step's share of `error` verdicts passes this
    max_nonfinite_steps: int = 3  # stop after this many optimiser steps in a row skipped for a non-finite loss/grad
    epochs: int = 1
    minibatch_samples: int = 0  # 0: the whole step's batch is one minibatch
    micro_batch_samples: int = 0  # 0: no micro-batching


@dataclasses.dataclass
class LengthConfig:
    """Response-length controls: overlong filtering and DAPO's soft penalty, a maximum-length schedule, Kimi k1.5's
    length reward and the cosine length-scaled reward."""

    overlong_filter: bool = False  # truncated responses take no part in the loss
    overlong_buffer_tokens: int = 0  # DAPO soft overlong penalty: 0 .. -overlong_penalty over the last N tokens
    overlong_penalty: float = 1.0
    schedule: list = dataclasses.field(default_factory=list)  # [[from_step, max_response_tokens], ...]
    kimi_coef: float = 0.0  # weight of Kimi k1.5's group length reward
    cosine: bool = False  # replace the reward by the cosine length-scaled one
    cosine_correct: list = dataclasses.field(default_factory=lambda: [2.0, 1.0])  # reward at length 0 and at max
    cosine_wrong: list = dataclasses.field(default_factory=lambda: [-10.0, 0.0])
    cosine_exceed: float = -10.0  # a truncated response
    cosine_cycle_steps: list = dataclasses.field(default_factory=list)  # [on, off]: cosine on for `on` steps of each
    # on+off cycle (ProRL v2's scheduled length penalty); []: on at every step
    truncated_reward_scale: float = 1.0  # a truncated response's verifier reward times this (ProRL v2: 0; 1: off)


@dataclasses.dataclass
class ResetConfig:
    """Reference-policy resets: copy the policy into the reference (and reset the optimiser state) when a trigger
    fires. Validation triggers (`patience`, `degrade`) look at `metric` from the evaluation every eval.every_steps."""

    every_steps: int = 0
    kl_threshold: float = 0.0  # reset when a step's mean KL to the reference passes this
    patience: int = 0  # reset after this many validations without a new best `metric`
    degrade: float = 0.0  # reset when `metric` falls more than this below its best
    metric: str = "pass@1"
    reset_optimizer: bool = True


@dataclasses.dataclass
class OptimConfig:
    """The GRPO optimiser (SFT uses the same one with `sft.lr`)."""

    name: str = "adamw"
    lr: float = 1e-6
    beta1: float = 0.9
    beta2: float = 0.999
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    warmup_steps: int = 0


@dataclasses.dataclass
class EvalConfig:
    """Held-out evaluation after SFT and after GRPO: `prompts` problems never trained on: generated problems from a seed
    stream disjoint from training's; for a dataset env, `env_kwargs`' dataset or `prompts` rows held out of training."""

    prompts: int = 128
    samples_per_prompt: int = 4
    seed: int = 1
    temperature: float = 1.0
    every_steps: int = 0  # also evaluate during GRPO every N steps (0: only before and after)
    env_kwargs: dict = dataclasses.field(default_factory=dict)  # merged over env.kwargs for evaluation, e.g.
    # {dataset: test.jsonl}; without an eval dataset a dataset env holds `prompts` rows out of training


@dataclasses.dataclass
class CheckpointConfig:
    every_steps: int = 0  # 0: only at the end of training
    keep_last: int = 2
    save_optimizer: bool = True


@dataclasses.dataclass
class LoggingConfig:
    name: str = "run"
    runs_root: str = "runs"
    run_dir: str = ""  # empty: <runs_root>/<timestamp>-<name>
    tensorboard: bool = True
    progress: bool = True
    samples_every_steps: int = 1  # samples.jsonl: record GRPO samples every N steps (0: only at evaluations)
    samples_groups: int = 2  # ... the first N groups of such a step, every sample of each


@dataclasses.dataclass
class RuntimeConfig:
    device: str = "auto"
    threads: int = 0  # torch intra-op threads; 0: leave torch's default
    seed: int = 0  # torch sampling and shuffling
    distributed: str = "none"  # none | ddp | fsdp2: data-parallel training under torchrun (distributed.py)


@dataclasses.dataclass
class TrainConfig:
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    env: EnvConfig = dataclasses.field(default_factory=EnvConfig)
    sft: SFTConfig = dataclasses.field(default_factory=SFTConfig)
    rollout: RolloutConfig = dataclasses.field(default_factory=RolloutConfig)
    grpo: GRPOConfig = dataclasses.field(default_factory=GRPOConfig)
    length: LengthConfig = dataclasses.field(default_factory=LengthConfig)
    reset: ResetConfig = dataclasses.field(default_factory=ResetConfig)
    optim: OptimConfig = dataclasses.field(default_factory=OptimConfig)
    eval: EvalConfig = dataclasses.field(default_factory=EvalConfig)
    checkpoint: CheckpointConfig = dataclasses.field(default_factory=CheckpointConfig)
    logging: LoggingConfig = dataclasses.field(default_factory=LoggingConfig)
    runtime: RuntimeConfig = dataclasses.field(default_factory=RuntimeConfig)


PARTS = tuple(f.name for f in dataclasses.fields(TrainConfig))


def _field_types(part_cls: type) -> dict[str, Any]:
    return typing.get_type_hints(part_cls)


def parse_value(text: str, kind: Any, key: str) -> Any:
    """`text` (from `--set`) as a value of `kind`."""
    if kind is bool:
        low = text.strip().lower()
        if low in ("true", "1", "yes", "on"):
            return True
        if low in ("false", "0", "no", "off"):
            return False
        raise ValueError(f"{key} must be a bool (true/false), got {text!r}")
    if kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            raise ValueError(f"{key} must be {kind.__name__}, got {text!r}") from None
    if kind is str:
        return text
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ValueError(f"{key}: cannot parse {text!r} as YAML: {e}") from None


def _coerce(value: Any, kind: Any, key: str) -> Any:
    """A YAML value checked against the field type (ints are accepted where floats are expected)."""
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is float and isinstance(value, str):  # YAML reads 1e-6 (no dot) as a string
        return parse_value(value, float, key)
    expected = {list: list, dict: dict}.get(typing.get_origin(kind) or kind, kind)
    if isinstance(value, bool) and expected is not bool:
        raise ValueError(f"{key} must be {expected.__name__}, got {value!r}")
    if not isinstance(value, expected):
        raise ValueError(f"{key} must be {expected.__name__}, got {value!r}")
    return value


def _set(cfg: TrainConfig, key: str, value: Any, from_text: bool) -> None:
    part, _, name = key.partition(".")
    if part not in PARTS or not name:
        raise ValueError(f"unknown key {key}; keys are part.field with part one of {PARTS}")
    section = getattr(cfg, part)
    types = _field_types(type(section))
    if name not in types:
        raise ValueError(f"unknown key {key}; known: {', '.join(f'{part}.{n}' for n in types)}")
    kind = types[name]
    value = parse_value(value, kind, key) if from_text else value
    setattr(section, name, _coerce(value, kind, key))


def config_from_dict(data: dict[str, Any] | None) -> TrainConfig:
    cfg = TrainConfig()
    for part, fields in (data or {}).items():
        if part not in PARTS:
            raise ValueError(f"unknown config part {part!r}; known: {', '.join(PARTS)}")
        if not isinstance(fields, dict):
            raise ValueError(f"config part {part!r} must be a mapping of field: value, got {fields!r}")
        for name, value in fields.items():
            _set(cfg, f"{part}.{name}", value, from_text=False)
    return cfg


def load_config(path: str | os.PathLike | None = None, overrides: list[str] = ()) -> TrainConfig:
    """Defaults, then the YAML file at `path` (if any), then each `part.field=value` override; then `validate`."""
    data = {}
    if path is not None:
        try:
            with open(path, encoding="utf-8") as f:
                data = yaml.safe_load(f) or {}
        except OSError as e:
            raise ValueError(f"cannot read config {path}: {e.strerror}") from None
        if not isinstance(data, dict):
            raise ValueError(f"config {path} must be a YAML mapping of parts")
    cfg = config_from_dict(data)
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"override {item!r} must look like part.field=value")
        _set(cfg, key.strip(), value, from_text=True)
    validate(cfg)
    return cfg


def to_dict(cfg: TrainConfig) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def save_config(cfg: TrainConfig, path: str | os.PathLike) -> None:
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(to_dict(cfg), f, sort_keys=False)


def _choice(key: str, value: Any, allowed) -> None:
    if value not in allowed:
        raise ValueError(f"{key} must be one of {sorted(allowed)}, got {value!r}")


def _at_least(key: str, value: float, low: float) -> None:
    if value < low:
        raise ValueError(f"{key} must be >= {low}, got {value!r}")


def _number_pair(key: str, value: Any) -> None:
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(x, (int, float)) for x in value)):
        raise ValueError(f"{key} must be a list of two numbers [at length 0, at the maximum length], got {value!r}")


def _validate_length(c: LengthConfig, max_response_tokens: int) -> None:
    _at_least("length.overlong_buffer_tokens", c.overlong_buffer_tokens, 0)
    _at_least("length.overlong_penalty", c.overlong_penalty, 0.0)
    _at_least("length.kimi_coef", c.kimi_coef, 0.0)
    last = -1
    for entry in c.schedule:
        ok = isinstance(entry, list) and len(entry) == 2 and all(type(x) is int for x in entry)
        if not ok or entry[0] <= last or entry[1] < 1:
            raise ValueError(f"length.schedule must be [[from_step, max_response_tokens], ...] with from_step "
                             f"increasing and tokens >= 1, got {c.schedule!r}")  # fmt: skip
        last = entry[0]
    limits = [max_response_tokens] + [t for _, t in c.schedule]
    if c.overlong_buffer_tokens and c.overlong_buffer_tokens >= min(limits):
        raise ValueError(f"length.overlong_buffer_tokens ({c.overlong_buffer_tokens}) must be below every maximum "
                         f"response length ({min(limits)})")  # fmt: skip
    cyc = c.cosine_cycle_steps
    if cyc and not (len(cyc) == 2 and all(type(x) is int and x >= 1 for x in cyc)):
        raise ValueError(f"length.cosine_cycle_steps must be [on_steps, off_steps] (ints >= 1) or [], got {cyc!r}")
    if cyc and not c.cosine:
        raise ValueError("length.cosine_cycle_steps schedules the cosine length reward: set length.cosine=true")
    if not 0.0 <= c.truncated_reward_scale <= 1.0:
        raise ValueError(f"length.truncated_reward_scale must be in [0, 1], got {c.truncated_reward_scale}")
    _number_pair("length.cosine_correct", c.cosine_correct)
    _number_pair("length.cosine_wrong", c.cosine_wrong)


def _validate_reset(c: ResetConfig, eval_every: int, eval_samples: int) -> None:
    for key in ("every_steps", "patience"):
        _at_least(f"reset.{key}", getattr(c, key), 0)
    for key in ("kl_threshold", "degrade"):
        _at_least(f"reset.{key}", getattr(c, key), 0.0)
    # the evaluation reports pass@k for k = 1, 2, 4, ... <= eval.samples_per_prompt (evaluate._pass_at)
    ks = [2**i for i in range(eval_samples.bit_length())]
    if c.metric != "accuracy" and c.metric not in [f"pass@{k}" for k in ks]:
        raise ValueError(f"reset.metric must be accuracy or pass@k with k a power of two <= eval.samples_per_prompt "
                         f"({', '.join(f'pass@{k}' for k in ks)}), got {c.metric!r}")  # fmt: skip
    if (c.patience or c.degrade) and not eval_every:
        raise ValueError("reset.patience and reset.degrade watch the validation: set eval.every_steps > 0")


def _check_env_id(env_id: str) -> None:
    """Any id Gymnasium can make: rlvr's, one a user registered with `gym.register`, or "module:Name-v0" (the module
    is imported and registers it). Whether the env speaks the text protocol is checked when it is built."""
    import rlvr  # noqa: F401 - registers the rlvr ids
    from rlvr.envs.registration import env_spec

    env_spec(env_id)


def _validate_finite(cfg: TrainConfig) -> None:
    """Every float field (and every number in a list field) must be finite: NaN passes every `<` check below and
    would reach torch, or silently score 0 (eval.temperature=nan). Checked by field type, so a new key is covered."""
    for part in PARTS:
        section = getattr(cfg, part)
        for name, kind in _field_types(type(section)).items():
            value = getattr(section, name)
            numbers = [value] if kind is float else _numbers(value) if (typing.get_origin(kind) or kind) is list else []
            if not all(math.isfinite(x) for x in numbers):
                raise ValueError(f"{part}.{name} must be finite (not nan or inf), got {value!r}")


def _numbers(value: list) -> list[float]:
    """The numbers in a list field, nested lists included (length.schedule)."""
    out = []
    for x in value:
        if isinstance(x, list):
            out += _numbers(x)
        elif isinstance(x, (int, float)) and not isinstance(x, bool):
            out.append(x)
    return out


def validate(cfg: TrainConfig) -> None:
    """Check every value once, at start-up; the error names the field and the allowed values."""
    from rlvr.trainer.algorithms import ADVANTAGES, IS_CORRECTIONS, KL, LOSS_AGG, POLICY_LOSSES
    from rlvr.trainer.distributed import STRATEGIES
    from rlvr.trainer.episodes import TURN_REWARDS
    from rlvr.trainer.rollout import ENGINES

    _validate_finite(cfg)
    m, e, s, r, g, o = cfg.model, cfg.env, cfg.sft, cfg.rollout, cfg.grpo, cfg.optim
    _choice("model.dtype", m.dtype, DTYPES)
    if not m.path:
        if len(set(m.vocab_chars)) != len(m.vocab_chars) or not m.vocab_chars:
            raise ValueError(f"model.vocab_chars must be non-empty distinct characters, got {m.vocab_chars!r}")
        for key in ("hidden_size", "num_layers", "num_heads", "head_dim", "intermediate_size", "max_position_tokens"):
            _at_least(f"model.{key}", getattr(m, key), 1)
        if m.head_dim < 32:
            raise ValueError(f"model.head_dim must be >= 32 (vLLM's CPU attention rejects smaller), got {m.head_dim}")
    _check_env_id(e.id)
    _at_least("sft.steps", s.steps, 0)
    _at_least("sft.demos", s.demos, 1)
    _at_least("sft.sequences_per_step", s.sequences_per_step, 1)
    _at_least("sft.row_tokens", s.row_tokens, 2)
    _at_least("sft.warmup_steps", s.warmup_steps, 0)
    if not 0.0 <= s.long_fraction <= 1.0:
        raise ValueError(f"sft.long_fraction must be in [0, 1], got {s.long_fraction}")
    if s.lr <= 0:
        raise ValueError(f"sft.lr must be > 0, got {s.lr}")
    if s.dataset and not os.path.isfile(s.dataset):
        raise ValueError(f"sft.dataset {s.dataset!r} is not a file (a JSONL of prompt/response objects)")
    _choice("rollout.engine", r.engine, ENGINES)
    if r.temperature <= 0:
        raise ValueError(f"rollout.temperature must be > 0, got {r.temperature}")
    if not 0.0 < r.top_p <= 1.0:
        raise ValueError(f"rollout.top_p must be in (0, 1], got {r.top_p}")
    _at_least("rollout.max_response_tokens", r.max_response_tokens, 1)
    _at_least("rollout.max_batch_sequences", r.max_batch_sequences, 1)
    if not 0.0 < r.vllm_gpu_memory_utilization <= 1.0:
        raise ValueError(f"rollout.vllm_gpu_memory_utilization must be in (0, 1], got {r.vllm_gpu_memory_utilization}")
    _at_least("rollout.vllm_max_model_len", r.vllm_max_model_len, 0)
    if not all(isinstance(x, str) and x for x in r.stop_strings):
        raise ValueError(f"rollout.stop_strings must be a list of non-empty strings, got {r.stop_strings!r}")
    _at_least("rollout.max_turns", r.max_turns, 0)
    _choice("rollout.turn_reward", r.turn_reward, TURN_REWARDS)
    _choice("grpo.advantage", g.advantage, ADVANTAGES)
    _choice("grpo.policy_loss", g.policy_loss, POLICY_LOSSES)
    _choice("grpo.loss_agg", g.loss_agg, LOSS_AGG)
    _choice("grpo.kl", g.kl, KL)
    for key in ("steps", "minibatch_samples", "micro_batch_samples"):
        _at_least(f"grpo.{key}", getattr(g, key), 0)
    for key in ("prompts_per_step", "epochs"):
        _at_least(f"grpo.{key}", getattr(g, key), 1)
    if g.samples_per_prompt < 2:
        raise ValueError(f"grpo.samples_per_prompt must be >= 2, got {g.samples_per_prompt}: every advantage "
                         f"({', '.join(ADVANTAGES)}) compares a sample with the others of its group, so a group of "
                         "one has advantage 0 and the policy never changes")  # fmt: skip
    for key in ("kl_coef", "eps_low", "eps_high", "entropy_coef"):
        _at_least(f"grpo.{key}", getattr(g, key), 0.0)
    if g.eps_low >= 1:
        raise ValueError(f"grpo.eps_low must be in [0, 1), got {g.eps_low}")
    batch = g.prompts_per_step * g.samples_per_prompt
    if g.minibatch_samples and batch % g.minibatch_samples:
        raise ValueError(f"grpo.minibatch_samples ({g.minibatch_samples}) must divide the step's batch "
                         f"(prompts_per_step * samples_per_prompt = {batch})")  # fmt: skip
    _choice("grpo.kl_in", g.kl_in, KL_IN)
    for key in ("dual_clip", "kl_target", "step_reward_weight"):
        _at_least(f"grpo.{key}", getattr(g, key), 0.0)
    if 0 < g.dual_clip <= 1:
        raise ValueError(f"grpo.dual_clip must be > 1 (or 0: off), got {g.dual_clip}")
    _choice("grpo.is_correction", g.is_correction, IS_CORRECTIONS)
    _choice("grpo.is_level", g.is_level, IS_LEVELS)
    lo_hi = g.is_bounds
    if not (isinstance(lo_hi, list) and len(lo_hi) == 2 and all(isinstance(x, (int, float)) for x in lo_hi)
            and 0 <= lo_hi[0] < 1 < lo_hi[1]):  # fmt: skip
        raise ValueError(f"grpo.is_bounds must be [lo, hi] with 0 <= lo < 1 < hi, got {lo_hi!r}")
    if g.is_correction == "none" and g.is_level != "token":
        raise ValueError("grpo.is_level applies to an off-policy correction: set grpo.is_correction (tis|mis|icepop)")
    if g.dual_clip and g.policy_loss != "clip":
        raise ValueError(f"grpo.dual_clip applies to policy_loss=clip only, got policy_loss={g.policy_loss!r}")
    if g.kl_target > 0 and g.kl_coef <= 0:
        raise ValueError("grpo.kl_target needs a starting grpo.kl_coef > 0 (the controller scales it)")
    for key in ("kl_horizon_steps", "max_sampling_rounds", "max_nonfinite_steps"):
        _at_least(f"grpo.{key}", getattr(g, key), 1)
    if not 0.0 < g.max_error_fraction <= 1.0:
        raise ValueError(f"grpo.max_error_fraction must be in (0, 1], got {g.max_error_fraction}")
    _validate_length(cfg.length, r.max_response_tokens)
    longest = max([r.max_response_tokens] + [t for _, t in cfg.length.schedule])
    if r.vllm_max_model_len and r.vllm_max_model_len <= longest:
        raise ValueError(f"rollout.vllm_max_model_len ({r.vllm_max_model_len}) must exceed the longest response "
                         f"({longest} tokens): it counts prompt and response (0: the model's maximum)")  # fmt: skip
    _choice("env.verifier_backend", e.verifier_backend, ("", "bwrap", "process", "ray"))
    _choice("optim.name", o.name, OPTIMIZERS)
    if o.lr <= 0:
        raise ValueError(f"optim.lr must be > 0, got {o.lr}")
    for key in ("beta1", "beta2"):
        if not 0.0 <= getattr(o, key) < 1.0:
            raise ValueError(f"optim.{key} must be in [0, 1), got {getattr(o, key)}")
    _at_least("optim.weight_decay", o.weight_decay, 0.0)
    _at_least("optim.max_grad_norm", o.max_grad_norm, 0.0)
    _at_least("optim.warmup_steps", o.warmup_steps, 0)
    _at_least("eval.prompts", cfg.eval.prompts, 1)  # evaluations run after SFT and after GRPO in every run
    _at_least("eval.samples_per_prompt", cfg.eval.samples_per_prompt, 1)
    _validate_reset(cfg.reset, cfg.eval.every_steps, cfg.eval.samples_per_prompt)
    _at_least("eval.every_steps", cfg.eval.every_steps, 0)
    if cfg.eval.temperature <= 0:
        raise ValueError(f"eval.temperature must be > 0, got {cfg.eval.temperature}")
    if cfg.eval.seed == e.seed:
        raise ValueError(f"eval.seed must differ from env.seed (held-out problems), both are {e.seed}")
    _at_least("checkpoint.every_steps", cfg.checkpoint.every_steps, 0)
    _at_least("checkpoint.keep_last", cfg.checkpoint.keep_last, 1)
    _choice("runtime.device", cfg.runtime.device, DEVICES)
    _at_least("runtime.threads", cfg.runtime.threads, 0)
    _choice("runtime.distributed", cfg.runtime.distributed, STRATEGIES)
    if cfg.runtime.distributed == "fsdp2" and r.engine != "hf":
        raise ValueError(f"runtime.distributed=fsdp2 needs rollout.engine=hf, got {r.engine!r}")
    _at_least("logging.samples_every_steps", cfg.logging.samples_every_steps, 0)
    _at_least("logging.samples_groups", cfg.logging.samples_groups, 1)
    if not cfg.logging.name or "/" in cfg.logging.name:
        raise ValueError(f"logging.name must be a non-empty name without '/', got {cfg.logging.name!r}")
