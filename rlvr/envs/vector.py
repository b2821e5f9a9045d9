"""The batched env: N slots holding N/G problems, each G times side by side (a GRPO group).

`gym.make_vec(id, num_envs=N, vectorization_mode="vector_entry_point", group_size=G)` builds one
single env from the same kwargs and batches over its problem source and verifier: `reset` draws
N/G problems (seeds derived from the reset seed, or `options={"seeds": [...]}`, one per group), `step` verifies
all N responses in one
`verify_batch` per verifier (order-preserving; in threads for sandboxed verifiers): in this process by
default, or through isolated `VerifierPool` workers with `make_vec(..., verifier_backend="bwrap")`.
Slots `g*G .. g*G+G-1` are group `g`; `infos["group"]` says so, and `step`'s infos carry each slot's verdict.

Autoreset is disabled: single-turn slots are done after one step and the caller resets the batch.
In multi-turn envs a finished slot stays finished (empty observation, reward 0) until `reset`.

`make_grouped_vec(env_id, ...)` does the same for any env id Gymnasium can make (a user's `gym.register`ed task, the
"module:Name-v0" form): an `rlvr.envs.base.ReasoningEnv` is batched by `ReasoningVectorEnv`; any other env that
speaks the text protocol (string prompt, string action, `info["verdict"]` a Verdict dict) by `TextVectorEnv`, one
instance per slot, the G slots of a group reset with the same seed. `check_text_protocol` says what is missing.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv

from rlvr.envs.base import Problem, ReasoningEnv, derive_seed
from rlvr.verifiers.base import STATUSES


class ReasoningVectorEnv(VectorEnv):
    metadata = {"autoreset_mode": AutoresetMode.DISABLED, "render_modes": []}

    def __init__(self, env: ReasoningEnv, num_envs: int, group_size: int = 1) -> None:
        if group_size < 1 or num_envs < 1 or num_envs % group_size:
            raise ValueError(f"num_envs ({num_envs}) must be a positive multiple of group_size ({group_size})")
        self.env = env
        self.num_envs = num_envs
        self.group_size = group_size
        self.single_observation_space = env.observation_space
        self.single_action_space = env.action_space
        self.observation_space = gym.spaces.Tuple([env.observation_space] * num_envs)
        self.action_space = gym.spaces.Tuple([env.action_space] * num_envs)
        self.problems: list[Problem] = []
        self.turns = np.zeros(num_envs, dtype=np.int64)
        self.done = np.ones(num_envs, dtype=bool)

    @property
    def num_groups(self) -> int:
        return self.num_envs // self.group_size

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[tuple[str, ...], dict[str, Any]]:
        super().reset(seed=seed)
        seeds = _group_seeds(seed, options, self.num_groups, self.np_random)
        groups = [self.env.source.problem(s) for s in seeds]
        self.problems = [p for p in groups for _ in range(self.group_size)]
        self.turns[:] = 0
        self.done[:] = False
        # one copy of a problem's info per group, a dict per slot (the G slots of a group share nested values)
        group_infos = [{**p.info(), "seed": s} for p, s in zip(groups, seeds, strict=True)]
        infos = _stack([dict(info) for info in group_infos for _ in range(self.group_size)])
        infos["group"] = np.repeat(np.arange(self.num_groups), self.group_size)
        return tuple(p.prompt for p in self.problems), infos

    def step(self, actions) -> tuple[tuple[str, ...], np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        actions = list(actions)
        if len(actions) != self.num_envs:
            raise ValueError(f"expected {self.num_envs} actions, got {len(actions)}")
        if not self.problems:
            raise RuntimeError("call reset() before step()")
        live = [i for i in range(self.num_envs) if not self.done[i]]
        verdicts: dict[int, Any] = {}
        by_verifier: dict[int, list[int]] = {}
        for i in live:
            by_verifier.setdefault(id(self.env.verifier_for(self.problems[i])), []).append(i)
        for idx in by_verifier.values():
            verifier = self.env.verifier_for(self.problems[idx[0]])
            batch = verifier.verify_batch([(actions[i], self.problems[i].reference) for i in idx])
            verdicts.update(zip(idx, batch, strict=True))
        obs, rewards = [""] * self.num_envs, np.zeros(self.num_envs, dtype=np.float32)
        terminated, truncated = np.zeros(self.num_envs, dtype=bool), np.zeros(self.num_envs, dtype=bool)
        infos: list[dict[str, Any]] = []
        for i in range(self.num_envs):
            p = self.problems[i]
            if i not in verdicts:
                infos.append({"problem_id": p.id, "turn": int(self.turns[i]), "verdict": None})
                continue
            v = verdicts[i]
            self.turns[i] += 1
            rewards[i] = v.reward
            nxt = None if v.correct else self.env.next_turn(p, actions[i], v)
            if nxt is None:
                terminated[i] = True
            elif self.turns[i] >= self.env.turn_limit(p):
                truncated[i] = True
            else:
                obs[i] = nxt
            self.done[i] = terminated[i] or truncated[i]
            infos.append({"problem_id": p.id, "turn": int(self.turns[i]), "verdict": v.to_dict()})
        return tuple(obs), rewards, terminated, truncated, _stack(infos)

    def close_extras(self, **kwargs: Any) -> None:
        self.env.close()


def _group_seeds(seed: int | None, options: dict[str, Any] | None, groups: int, rng: np.random.Generator) -> list[int]:
    """The problem seed of each group: `options["seeds"]` when given (one per group: the trainer names dataset rows by
    position this way), else derived from the reset seed (or a fresh one)."""
    if options and "seeds" in options:
        seeds = [int(s) for s in options["seeds"]]
        if len(seeds) != groups:
            raise ValueError(f"options['seeds'] must hold one seed per group ({groups}), got {len(seeds)}")
        return seeds
    base = seed if seed is not None else int(rng.integers(2**62))
    return [derive_seed(base, g) for g in range(groups)]


def _stack(infos: list[dict[str, Any]]) -> dict[str, Any]:
    """Gymnasium's vector info layout: one array per key (object arrays for non-numeric values)."""
    out: dict[str, Any] = {}
    for key in infos[0] if infos else ():
        values = [d[key] for d in infos]
        arr = np.empty(len(values), dtype=object)
        arr[:] = values
        out[key] = arr
    return out


class TextVectorEnv(VectorEnv):
    """Groups of a generic text env (not a `ReasoningEnv`): one instance per slot; group g's G slots are reset with
    seed `derive_seed(base, g)` and must show the same prompt (a problem is a function of its seed). Steps go to each
    live slot's instance in turn; infos carry each slot's `verdict` (None for a finished slot), as in
    `ReasoningVectorEnv`. Not handled: concurrent verification (the env verifies inside its own `step`)."""

    metadata = {"autoreset_mode": AutoresetMode.DISABLED, "render_modes": []}

    def __init__(self, envs: list[gym.Env], group_size: int = 1) -> None:
        if group_size < 1 or not envs or len(envs) % group_size:
            raise ValueError(f"num_envs ({len(envs)}) must be a positive multiple of group_size ({group_size})")
        self.envs, self.num_envs, self.group_size = envs, len(envs), group_size
        self.env = envs[0]
        self.single_observation_space = envs[0].observation_space
        self.single_action_space = envs[0].action_space
        self.observation_space = gym.spaces.Tuple([self.single_observation_space] * self.num_envs)
        self.action_space = gym.spaces.Tuple([self.single_action_space] * self.num_envs)
        self.done = np.ones(self.num_envs, dtype=bool)
        self.turns = np.zeros(self.num_envs, dtype=np.int64)
        self.problems: list[Problem] = []

    @property
    def num_groups(self) -> int:
        return self.num_envs // self.group_size

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        seeds = _group_seeds(seed, options, self.num_groups, self.np_random)
        obs, infos = [], []
        for i, env in enumerate(self.envs):
            group_seed = seeds[i // self.group_size]
            prompt, info = env.reset(seed=group_seed)
            if i % self.group_size and prompt != obs[-1]:
                raise ValueError(
                    f"{env.spec.id if env.spec else type(env).__name__}: reset(seed={group_seed}) gave "
                    "two different prompts; GRPO groups need the problem to be a function of the seed"
                )
            obs.append(prompt)
            infos.append({**info, "seed": group_seed})
        # each slot's problem as the env showed it (its scoring stays inside the env's step)
        name = self.env.spec.id if self.env.spec else type(self.env.unwrapped).__name__
        self.problems = [Problem(id=f"{name}:{seeds[i // self.group_size]}", domain=name, prompt=o, reference=None,
                                 verifier="", answer_format="text") for i, o in enumerate(obs)]  # fmt: skip
        self.done[:] = False
        self.turns[:] = 0
        out = _stack(infos) if all(set(d) == set(infos[0]) for d in infos) else {}
        out["group"] = np.repeat(np.arange(self.num_groups), self.group_size)
        return tuple(obs), out

    def step(self, actions):
        actions = list(actions)
        if len(actions) != self.num_envs:
            raise ValueError(f"expected {self.num_envs} actions, got {len(actions)}")
        obs, rewards = [""] * self.num_envs, np.zeros(self.num_envs, dtype=np.float32)
        terminated, truncated = np.zeros(self.num_envs, dtype=bool), np.zeros(self.num_envs, dtype=bool)
        infos: list[dict[str, Any]] = []
        for i, env in enumerate(self.envs):
            if self.done[i]:
                infos.append({"turn": int(self.turns[i]), "verdict": None})
                continue
            o, r, term, trunc, info = env.step(actions[i])
            self.turns[i] += 1
            obs[i], rewards[i], terminated[i], truncated[i] = o if not (term or trunc) else "", r, term, trunc
            self.done[i] = term or trunc
            infos.append({"turn": int(self.turns[i]), "verdict": info.get("verdict")})
        return tuple(obs), rewards, terminated, truncated, _stack(infos)

    def close_extras(self, **kwargs: Any) -> None:
        for env in self.envs:
            env.close()


def check_text_protocol(env: gym.Env, env_id: str) -> None:
    """Reset `env` and step it once with an empty response: the prompt must be a string, the action space must
    hold strings, and `info["verdict"]` a Verdict dict (status, reward); the error says what is missing."""
    where = f"env.id {env_id!r} ({type(env.unwrapped).__name__})"
    if not env.action_space.contains(""):
        raise ValueError(f"{where}: its action space {env.action_space} does not hold strings; rlvr trains envs "
                         "whose action is the model's response text")  # fmt: skip
    prompt, _ = env.reset(seed=0)
    if not isinstance(prompt, str):
        raise ValueError(f"{where}: reset() must return the prompt as a str, got {type(prompt).__name__}")
    _, reward, _, _, info = env.step("")
    verdict = info.get("verdict") if isinstance(info, dict) else None
    if not isinstance(verdict, dict) or verdict.get("status") not in STATUSES or "reward" not in verdict:
        raise ValueError(f"{where}: step() must return info['verdict'], a dict with 'status' (one of {STATUSES}) and "
                         f"'reward' (e.g. rlvr.verifiers.Verdict(...).to_dict()); got info {info!r}")  # fmt: skip
    if not isinstance(reward, (int, float, np.floating, np.integer)):
        raise ValueError(f"{where}: step() must return a number as the reward, got {type(reward).__name__}")


def make_grouped_vec(
    env_id: str, env_kwargs: dict, prompts: int, group_size: int, verifier_backend: str | None = None,
    step_verdicts: bool = False,
) -> VectorEnv:  # fmt: skip
    """`prompts` groups of `group_size` slots of any env id Gymnasium can make (see the module docstring);
    `step_verdicts`: an rlvr env's verdicts also carry the responses' step scores (`ReasoningEnv.step_verdicts`)."""
    import functools

    from rlvr.envs.registration import env_spec, make_vector_env

    spec = env_spec(env_id)
    entry = spec.vector_entry_point
    if isinstance(entry, functools.partial) and entry.func is make_vector_env:  # an rlvr id: batched natively
        return entry(num_envs=prompts * group_size, group_size=group_size, verifier_backend=verifier_backend,
                     step_verdicts=step_verdicts, **{**spec.kwargs, **env_kwargs})  # fmt: skip
    if spec.entry_point is None:
        raise ValueError(f"env.id {env_id!r} has only a vector entry point; rlvr needs a single-env entry point")
    first = gym.make(env_id, disable_env_checker=True, **env_kwargs)
    if isinstance(first.unwrapped, ReasoningEnv):
        env = first.unwrapped
        env.verifier_backend, env.step_verdicts = verifier_backend, step_verdicts
        return ReasoningVectorEnv(env, num_envs=prompts * group_size, group_size=group_size)
    if verifier_backend:
        raise ValueError(f"env.verifier_backend={verifier_backend!r}: env.id {env_id!r} verifies inside its own step() "
                         "(it is not an rlvr ReasoningEnv), so its verification cannot move to a pool")  # fmt: skip
    check_text_protocol(first, env_id)
    envs = [first] + [gym.make(env_id, disable_env_checker=True, **env_kwargs) for _ in range(prompts * group_size - 1)]
    return TextVectorEnv(envs, group_size)
