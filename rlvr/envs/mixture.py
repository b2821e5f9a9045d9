"""rlvr/Mixture-v0: a weighted mixture of other env ids, for multi-domain training (ProRL mixes math, code, STEM,
instruction following and puzzles).

    gym.make("rlvr/Mixture-v0", envs={"rlvr/Math-v0": 0.5, "rlvr/STEM-v0": 0.5},
             env_kwargs={"rlvr/Math-v0": {"difficulty": 6}})
    gym.make("rlvr/Mixture-v0", envs=[                   # the list form: one env id several times, other settings
        {"id": "rlvr/ReasoningGym-v0", "kwargs": {"task": "gcd"}, "weight": 1},
        {"id": "rlvr/ReasoningGym-v0", "kwargs": {"task": "maze"}, "weight": 2, "name": "maze"},
    ])

A component's name (`meta["component"]`, the prefix of per-env evaluation numbers) is its `name`, else its id, else,
for an id listed more than once, the id with its kwargs: `rlvr/ReasoningGym-v0[task=gcd]`.

`problem(seed)` draws the component with `problem_rng(seed)` by weight (weights are normalised), then asks that
component's source for problem `derive_seed(seed, 1)`. Each problem keeps its own verifier name, so one batch mixes
verifiers and the vector env verifies each group with its own; `meta["component"]` records the id it came from,
and multi-turn feedback (`next_turn`), the turn limit (`turn_limit`: the component's `max_turns`) and
`negative_responses` are the component's own. `max_turns` is the largest of the components' (the longest episode).

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
    """Draws a component by weight, then that component's problem for `derive_seed(seed, 1)`; `ids` are the
    components' names."""

    def __init__(self, ids: list[str], weights: np.ndarray, envs: list[ReasoningEnv]) -> None:
        self.ids, self.weights, self.envs = ids, weights, envs

    def problem(self, seed: int) -> Problem:
        k = int(problem_rng(seed).choice(len(self.ids), p=self.weights))
        p = self.envs[k].source.problem(derive_seed(seed, 1))
        return dataclasses.replace(p, meta={**p.meta, "component": self.ids[k]})


def _parse_components(envs, env_kwargs: dict) -> list[tuple[str, str, dict, float]]:
    """(name, id, kwargs, weight) per component, from the mapping form (id -> weight, kwargs in `env_kwargs`) or the
    list form ({id, kwargs, weight, name}); every error names what is wrong."""
    if isinstance(envs, dict):
        extra = sorted(set(env_kwargs) - set(envs))
        if extra:
            raise ValueError(f"env_kwargs: id(s) {extra} are not in envs ({', '.join(envs)})")
        items = [{"id": i, "weight": w, "kwargs": env_kwargs.get(i, {})} for i, w in envs.items()]
    elif isinstance(envs, list):
        if env_kwargs:
            raise ValueError("env_kwargs applies to the mapping form of envs; in the list form give each its kwargs")
        items = envs
    else:
        raise ValueError(f"envs must map env ids to weights, or list {{id, kwargs, weight}}, got {envs!r}")
    if not items:
        raise ValueError("envs must name at least one env")
    for k, item in enumerate(items):
        if not isinstance(item, dict) or "id" not in item or set(item) - {"id", "kwargs", "weight", "name"}:
            raise ValueError(f"envs[{k}] must be {{id, kwargs (optional), weight (optional, 1), name (optional)}}, "
                             f"got {item!r}")  # fmt: skip
    counts = {}
    for item in items:
        counts[item["id"]] = counts.get(item["id"], 0) + 1
    out = []
    for item in items:
        env_id, w, kw = item["id"], item.get("weight", 1.0), item.get("kwargs") or {}
        if env_id == SELF_ID:
            raise ValueError(f"envs: {SELF_ID} cannot be a component of itself; give the flattened weights")
        if env_id not in gym.registry:
            rlvr_ids = sorted(i for i in gym.registry if i.startswith("rlvr/") and i != SELF_ID)
            raise ValueError(f"envs: unknown env id {env_id!r}; registered rlvr ids: {', '.join(rlvr_ids)}")
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w <= 0:
            raise ValueError(f"envs: the weight of {env_id!r} must be a positive number, got {w!r}")
        if not isinstance(kw, dict):
            raise ValueError(f"the kwargs of {env_id!r} must be a dict of constructor arguments, got {kw!r}")
        name = item.get("name") or env_id
        if "name" not in item and counts[env_id] > 1:
            name = f"{env_id}[{', '.join(f'{k}={v}' for k, v in sorted(kw.items()))}]"
        out.append((name, env_id, kw, float(w)))
    names = [n for n, *_ in out]
    if len(set(names)) != len(names):
        raise ValueError(f"envs: component names must differ (give each a `name`), got {names}")
    return out


class MixtureEnv(ReasoningEnv):
    """rlvr/Mixture-v0 (see module docstring). `envs`: id -> positive weight, or a list of {id, kwargs, weight,
    name}; `env_kwargs`: id -> constructor kwargs (mapping form)."""

    def __init__(
        self,
        envs: dict[str, float] | list[dict[str, Any]] | None = None,
        env_kwargs: dict[str, dict[str, Any]] | None = None,
        verifier: Verifier | None = None,
        render_mode: str | None = None,
    ) -> None:
        components = _parse_components(DEFAULT_ENVS if envs is None else envs, dict(env_kwargs or {}))
        names = [name for name, *_ in components]
        weights = np.array([w for *_, w in components])
        self.components = {name: _component(env_id, kw) for name, env_id, kw, _ in components}
        source = MixtureSource(names, weights / weights.sum(), [self.components[n] for n in names])
        max_turns = max(env.max_turns for env in self.components.values())
        super().__init__(source, verifier=verifier, max_turns=max_turns, render_mode=render_mode)

    def _owner(self, problem: Problem) -> ReasoningEnv:
        return self.components[problem.meta["component"]]

    def next_turn(self, problem: Problem, response: str, verdict: Verdict) -> str | None:
        return self._owner(problem).next_turn(problem, response, verdict)

    def turn_limit(self, problem: Problem) -> int:
        return self._owner(problem).turn_limit(problem)

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
