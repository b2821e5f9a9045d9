"""The batched env: N slots holding N/G problems, each G times side by side (a GRPO group).

`gym.make_vec(id, num_envs=N, vectorization_mode="vector_entry_point", group_size=G)` builds one
single env from the same kwargs and batches over its problem source and verifier: `reset` draws
N/G problems (seeds derived from the reset seed), `step` verifies all N responses in one
`verify_batch` per verifier (order-preserving; in threads for sandboxed verifiers): in this process by
default, or through isolated `VerifierPool` workers with `make_vec(..., verifier_backend="bwrap")`.
Slots `g*G .. g*G+G-1` are group `g`; `infos["group"]` says so, and `step`'s infos carry each slot's verdict.

Autoreset is disabled: single-turn slots are done after one step and the caller resets the batch.
In multi-turn envs a finished slot stays finished (empty observation, reward 0) until `reset`.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv

from rlvr.envs.base import Problem, ReasoningEnv, derive_seed


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
        base = seed if seed is not None else int(self.np_random.integers(2**62))
        seeds = [derive_seed(base, g) for g in range(self.num_groups)]
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
            elif self.turns[i] >= self.env.max_turns:
                truncated[i] = True
            else:
                obs[i] = nxt
            self.done[i] = terminated[i] or truncated[i]
            infos.append({"problem_id": p.id, "turn": int(self.turns[i]), "verdict": v.to_dict()})
        return tuple(obs), rewards, terminated, truncated, _stack(infos)

    def close_extras(self, **kwargs: Any) -> None:
        self.env.close()


def _stack(infos: list[dict[str, Any]]) -> dict[str, Any]:
    """Gymnasium's vector info layout: one array per key (object arrays for non-numeric values)."""
    out: dict[str, Any] = {}
    for key in infos[0] if infos else ():
        values = [d[key] for d in infos]
        arr = np.empty(len(values), dtype=object)
        arr[:] = values
        out[key] = arr
    return out
