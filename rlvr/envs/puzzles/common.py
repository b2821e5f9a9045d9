"""What the puzzle envs share: building a `Problem` and the env class that turns a config into a source.

Each family module defines a frozen config dataclass (its difficulty knobs, validated in `__post_init__`) with a
`problem(seed) -> Problem` method (a pure function of config and seed, drawing from `problem_rng(seed)`), and a
`PuzzleEnv` subclass naming that config. The generator stores a wrong answer in `Problem.meta["wrong"]` so that
`negative_responses` can offer [empty, wrong, hedge of right and wrong] for every family.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any, ClassVar

from rlvr.envs.base import Problem, ReasoningEnv
from rlvr.verifiers import Verifier


def tag(answer: str) -> str:
    return f"<answer>{answer}</answer>"


def make_problem(
    family: str, seed: int, prompt: str, reference: dict[str, Any], answer: str, wrong: str, difficulty: dict
) -> Problem:
    """A puzzle Problem: the id hashes the reference (same puzzle, same id on every machine)."""
    digest = hashlib.sha1(json.dumps(reference, sort_keys=True).encode()).hexdigest()[:12]
    if wrong == answer:
        raise RuntimeError(f"{family}: the wrong answer equals the right one (generator bug)")
    return Problem(
        id=f"{family}/{digest}",
        domain="puzzle",
        prompt=prompt,
        reference=reference,
        verifier=f"puzzle/{family}",
        answer_format="answer_tags",
        difficulty=difficulty,
        solution=tag(answer),
        meta={"seed": seed, "answer": answer, "wrong": wrong},
    )


FORMAT_NOTE = "Think it through, then give only the final answer inside <answer></answer> tags, "


def check_int(name: str, field: str, value: Any, low: int, high: int) -> None:
    """ValueError naming `name.field` unless `value` is an int in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} {field} must be an integer in {low}..{high}, got {value!r}")


def check_float(name: str, field: str, value: Any, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ValueError(f"{name} {field} must be a number in [{low}, {high}], got {value!r}")


class PuzzleEnv(ReasoningEnv):
    """A single-turn puzzle env: `PuzzleEnv(**config_kwargs, verifier=None, render_mode=None)`."""

    config_cls: ClassVar[type]

    def __init__(self, verifier: Verifier | None = None, render_mode: str | None = None, **config_kwargs: Any):
        self.config = self.config_cls(**config_kwargs)
        super().__init__(self.config, verifier=verifier, render_mode=render_mode)

    # `Problem.info()` hands out the problem's own reference dict, so the infos of reset and step would share it
    # (Gymnasium's env checker rejects that: a caller mutating one info would change the other and the problem).
    # Until the base copies it, each info here gets its own copy.
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        prompt, info = super().reset(seed=seed, options=options)
        return prompt, {**info, "reference": copy.deepcopy(info["reference"])}

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = super().step(action)
        return obs, reward, terminated, truncated, {**info, "reference": copy.deepcopy(info["reference"])}

    def negative_responses(self) -> list[str]:
        """The empty response, a wrong answer, and a hedge giving the right and a wrong answer."""
        if self.problem is None:
            raise RuntimeError("call reset() before negative_responses()")
        right, wrong = self.problem.meta["answer"], self.problem.meta["wrong"]
        return ["", tag(wrong), f"{tag(right)} or maybe {tag(wrong)}"]
