"""Rollout engines: one interface for writing G responses per prompt with their sampling log-probs.

    engine = make_engine("hf", model, tokenizer, add_special_tokens=True)
    samples = engine.generate(prompts, n=8, temperature=1.0, top_p=1.0, max_response_tokens=64)
    engine.sync_weights(model)      # after every optimiser step

`prompts` are texts (tokenized by the engine) or token-id lists, used as given (the history of a multi-turn episode,
see episodes.py). `generate` returns `len(prompts) * n` samples, the n samples of prompt i at `i*n .. i*n+n-1` (the
layout of a GRPO group in the vector env). Each `Sample` holds the prompt's token ids, the response's token ids
(ending with EOS when the model stopped by itself; a matched stop string is kept), the response text (special tokens
removed) and the log-probability of each response token under the distribution it was sampled from (temperature and
top-p applied).

Multi-turn episodes continue a history: `generate(histories, 1, caches=[s.cache ...], keep_cache=True)` with the
`cache` of each history's last sample (kept with `keep_cache=True`) lets the hf engine prefill only the new tokens;
the vllm engine's prefix cache does the same from the token ids alone. Dropping a sample's `cache` frees it.

`sync_weights(model)` is the hook for engines that hold their own copy of the weights (a colocated vLLM
engine reloads them from the trainer's model); engines that sample from the trainer's model
only mark their continuation caches stale.
Engines are named in `ENGINES` ("module:Class") and imported on first use.
"""

from __future__ import annotations

import dataclasses
import importlib

ENGINES: dict[str, str] = {"hf": "rlvr.trainer.rollout.hf:HFEngine", "vllm": "rlvr.trainer.rollout.vllm:VLLMEngine"}


@dataclasses.dataclass
class Sample:
    prompt_ids: list[int]
    response_ids: list[int]
    text: str
    logprobs: list[float]  # one per response token, at the sampling temperature / top-p
    finish_reason: str  # "stop" (EOS or a stop string) | "length" (max_response_tokens reached)
    cache: object = dataclasses.field(default=None, repr=False, compare=False)  # generate(keep_cache=True)'s state


class RolloutEngine:
    """The interface every engine implements."""

    def generate(
        self,
        prompts: list[str] | list[list[int]],
        n: int,
        *,
        temperature: float = 1.0,
        top_p: float = 1.0,
        max_response_tokens: int = 256,
        stop_strings: list[str] | tuple[str, ...] = (),
        caches: list | None = None,
        keep_cache: bool = False,
    ) -> list[Sample]:
        """`keep_cache`: each sample's `cache` holds what the engine needs to continue its history (None where it
        keeps nothing); `caches`: one per prompt, a `cache` of an earlier sample whose history the prompt extends
        (or None). Engines that cache prefixes themselves (vllm) ignore both."""
        raise NotImplementedError

    def sync_weights(self, model) -> None:
        """Make the engine sample from `model`'s current weights."""

    def close(self) -> None:
        """Release what the engine holds (run.py calls it at the end of a run, before leaving the process group)."""


def engine_options(rollout) -> dict:
    """The engine-specific keyword arguments of a `RolloutConfig` (the `rollout.vllm_*` keys for `vllm`)."""
    if rollout.engine != "vllm":
        return {}
    return {
        "gpu_memory_utilization": rollout.vllm_gpu_memory_utilization,
        "max_model_len": rollout.vllm_max_model_len,
        "enforce_eager": rollout.vllm_enforce_eager,
    }


def make_engine(name: str, model, tokenizer, **kwargs) -> RolloutEngine:
    if name not in ENGINES:
        raise ValueError(f"rollout.engine must be one of {sorted(ENGINES)}, got {name!r}")
    module, cls = ENGINES[name].split(":")
    return getattr(importlib.import_module(module), cls)(model, tokenizer, **kwargs)
