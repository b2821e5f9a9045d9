"""rlvr/Mixture-v0: a weighted mixture of other env ids, for multi-domain training (ProRL mixes math, code, STEM,
instruction following and puzzles).

    gym.make("rlvr/Mixture-v0", envs={"rlvr/Math-v0": 0.5, "rlvr/STEM-v0": 0.5},
             env_kwargs={"rlvr/Math-v0": {"difficulty": 6}})

`problem(seed)` draws the component with `problem_rng(seed)` by weight (weights are normalised), then asks that
component's source for problem `derive_seed(seed, 1)`. Each problem keeps its own verifier name, so one batch mixes
verifiers and the vector env verifies each group with its own; `meta["component"]` records the id it came from,
and multi-turn feedback (`next_turn`) and `negative_responses` are the component's own. `max_turns` is the largest
of the components'.

Not handled: nested mixtures (give the flattened weights instead), per-component curricula or reweighting during
training (the weights are fixed for a given env; build a new env to change them).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import gymnasium as gym
import numpy as np

from rlvr.envs.base import Problem, ReasoningEnv, derive_seed, problem_rng
from rlvr.verifiers import Verdict, Verifier

SELF_ID = "rlvr/Mixture-v0"
DEFAULT_ENVS = {"rlvr/Math-v0": 0.5, "rlvr/STEM-v0": 0.25, "rlvr/Instruction-v0": 0.25}


def _component(env_id: str, kwargs: dict[str, Any]) -> ReasoningEnv:
    """The bare (unwrapped) env of a registered id, built with the spec's kwargs plus `kwargs`."""
    spec = gym.spec(env_id)
    creator = spec.entry_point
    if isinstance(creator, str):
        creator = gym.envs.registration.load_env_creator(creator)
    env = creator(**{**spec.kwargs, **kwargs})
    if not isinstance(env, ReasoningEnv):
        raise ValueError(f"envs: {env_id!r} is not an rlvr reasoning env (got {type(env).__name__})")
    return env


class MixtureSource:
    """Draws a component by weight, then that component's problem for `derive_seed(seed, 1)`."""

    def __init__(self, ids: list[str], weights: np.ndarray, envs: list[ReasoningEnv]) -> None:
        self.ids, self.weights, self.envs = ids, weights, envs

    def problem(self, seed: int) -> Problem:
        k = int(problem_rng(seed).choice(len(self.ids), p=self.weights))
        p = self.envs[k].source.problem(derive_seed(seed, 1))
        return dataclasses.replace(p, meta={**p.meta, "component": self.ids[k]})


class MixtureEnv(ReasoningEnv):
    """rlvr/Mixture-v0 (see module docstring). `envs`: id -> positive weight; `env_kwargs`: id -> constructor kwargs."""

    def __init__(
        self,
        envs: dict[str, float] | None = None,
        env_kwargs: dict[str, dict[str, Any]] | None = None,
        verifier: Verifier | None = None,
        render_mode: str | None = None,
    ) -> None:
        envs = dict(DEFAULT_ENVS if envs is None else envs)
        env_kwargs = dict(env_kwargs or {})
        if not envs:
            raise ValueError("envs must map at least one env id to a weight")
        for env_id, w in envs.items():
            if env_id == SELF_ID:
                raise ValueError(f"envs: {SELF_ID} cannot be a component of itself; give the flattened weights")
            if env_id not in gym.registry:
                rlvr_ids = sorted(i for i in gym.registry if i.startswith("rlvr/") and i != SELF_ID)
                raise ValueError(f"envs: unknown env id {env_id!r}; registered rlvr ids: {', '.join(rlvr_ids)}")
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w <= 0:
                raise ValueError(f"envs: the weight of {env_id!r} must be a positive number, got {w!r}")
        extra = sorted(set(env_kwargs) - set(envs))
        if extra:
            raise ValueError(f"env_kwargs: id(s) {extra} are not in envs ({', '.join(envs)})")
        for env_id, kw in env_kwargs.items():
            if not isinstance(kw, dict):
                raise ValueError(f"env_kwargs[{env_id!r}] must be a dict of constructor arguments, got {kw!r}")
        ids = list(envs)
        weights = np.array([float(envs[i]) for i in ids])
        self.components = {i: _component(i, env_kwargs.get(i, {})) for i in ids}
        source = MixtureSource(ids, weights / weights.sum(), [self.components[i] for i in ids])
        max_turns = max(env.max_turns for env in self.components.values())
        super().__init__(source, verifier=verifier, max_turns=max_turns, render_mode=render_mode)

    def _owner(self, problem: Problem) -> ReasoningEnv:
        return self.components[problem.meta["component"]]

    def next_turn(self, problem: Problem, response: str, verdict: Verdict) -> str | None:
        return self._owner(problem).next_turn(problem, response, verdict)

    def negative_responses(self) -> list[str]:
        if self.problem is None:
            raise RuntimeError("call reset() before negative_responses()")
        owner = self._owner(self.problem)
        owner.problem = self.problem
        return owner.negative_responses()

    def close(self) -> None:
        for env in self.components.values():
            env.close()
        super().close()
