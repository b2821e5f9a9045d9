"""The environment base: a `Problem`, where problems come from, and `ReasoningEnv`.

A problem is a pure function of (source config, seed): `source.problem(seed)` returns the same
`Problem` on every machine. The env shows `problem.prompt` (which already tells the model the
answer format), and `step(response)` asks the problem's verifier for a `Verdict`.

Single-turn envs end after one step (`terminated=True`). Multi-turn envs override `next_turn` to
return the next prompt (for example the failing tests' output) until the turn limit, after which
the episode is truncated. A step after the episode ended is a RuntimeError (as a step before reset):
nothing scores a finished episode twice.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any, Protocol

import gymnasium as gym
import numpy as np

from rlvr.verifiers import Verdict, Verifier, get_verifier

MAX_TEXT = 1 << 20


@dataclasses.dataclass(frozen=True)
class Problem:
    """One task instance.

    id: stable across machines (e.g. "countdown/7f3a…" or "data.jsonl:42").
    domain: "math" | "code" | "parity" | "stem" | "instruction" | "puzzle" | …
    prompt: the full text shown to the model, including the answer-format instruction.
    reference: what the verifier compares against (JSON-serialisable).
    verifier: name in the verifier registry (`rlvr.verifiers.get_verifier`).
    answer_format: "boxed" | "answer_tags" | "code_block" | "choice" | "text".
    difficulty: the knob values that produced it (empty for dataset problems).
    solution: a response the verifier accepts, when known (`reference_response`).
    """

    id: str
    domain: str
    prompt: str
    reference: Any
    verifier: str
    answer_format: str
    difficulty: dict[str, Any] = dataclasses.field(default_factory=dict)
    solution: str | None = None
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)

    def info(self) -> dict[str, Any]:
        """The info dict `reset` returns: everything but the prompt (a copy: callers may mutate it)."""
        return copy.deepcopy(
            {
                "problem_id": self.id,
                "domain": self.domain,
                "difficulty": dict(self.difficulty),
                "reference": self.reference,
                "answer_format": self.answer_format,
                "verifier": self.verifier,
            }
        )


class ProblemSource(Protocol):
    """Anything that turns a seed into a Problem, deterministically."""

    def problem(self, seed: int) -> Problem: ...


def problem_rng(*keys: int | str) -> np.random.Generator:
    """A generator derived from the keys (never `seed + index`): `problem_rng(seed)` or `problem_rng(seed, i)`."""
    ints = [k if isinstance(k, int) else int.from_bytes(k.encode()[:16].ljust(16, b"\0"), "little") for k in keys]
    return np.random.default_rng([abs(k) for k in ints])


def derive_seed(seed: int, index: int) -> int:
    """The seed of the `index`-th problem of a batch reset with `seed`."""
    return int(problem_rng(seed, index).integers(2**62))


class TextSpace(gym.spaces.Space[str]):
    """Any string up to `max_length` characters (Gymnasium's Text space only admits a fixed charset)."""

    def __init__(self, max_length: int = MAX_TEXT, seed: int | None = None) -> None:
        super().__init__(shape=None, dtype=None, seed=seed)
        self.max_length = max_length

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) and len(x) <= self.max_length

    def sample(self, mask: Any = None, probability: Any = None) -> str:
        n = int(self.np_random.integers(0, 64))
        return "".join(chr(c) for c in self.np_random.integers(32, 127, size=n))

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"TextSpace(max_length={self.max_length})"

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, TextSpace) and other.max_length == self.max_length


class ReasoningEnv(gym.Env[str, str]):
    """A text-in, text-out env over a problem source, scored by the problem's verifier.

    `verifier` overrides the problem's own (e.g. a `VerifierPool` for isolation); by default the
    named verifier runs in-process. `reset(seed=s)` gives problem `s`; `reset()` without a seed
    draws the next problem seed from the env's `np_random`.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}
    # None: verifiers run in this process. "bwrap" | "process" | "ray": each verifier name gets a VerifierPool of
    # isolated workers (the code verifier excepted: it already runs every program in a fresh sandbox).
    verifier_backend: str | None = None
    # True: verifiers also score the response's steps (Verdict.steps, in info["verdict"]), where the verdict is made
    # (in the pool's workers when there is a pool): the dual reward's step verdicts reach the trainer through the env.
    step_verdicts: bool = False

    def __init__(
        self,
        source: ProblemSource,
        verifier: Verifier | None = None,
        max_turns: int = 1,
        render_mode: str | None = None,
    ) -> None:
        if max_turns < 1:
            raise ValueError(f"max_turns must be >= 1, got {max_turns}")
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        self.source = source
        self.max_turns = max_turns
        self.render_mode = render_mode
        self.observation_space = TextSpace()
        self.action_space = TextSpace()
        self._verifier = verifier
        self._verifiers: dict[str, Verifier] = {}
        self._borrowed = False  # _verifiers belong to another env (`borrow_verifiers`), which closes them
        self.problem: Problem | None = None
        self.turn = 0
        self._last = ""
        self._over = False  # the episode has terminated or been truncated: the next step needs a reset

    def verifier_for(self, problem: Problem) -> Verifier:
        """The verifier for `problem`: the one given to the env, else one per verifier name, made on first use:
        in this process, or in a `VerifierPool` of isolated workers when `verifier_backend` is set."""
        if self._verifier is not None:
            return self._verifier
        name = problem.verifier
        if name not in self._verifiers:
            from rlvr.verifiers.pool import IN_PROCESS_ONLY, VerifierPool

            pooled = self.verifier_backend is not None and name not in IN_PROCESS_ONLY
            if pooled:
                options = {"with_steps": True} if self.step_verdicts else {}
                self._verifiers[name] = VerifierPool(name, backend=self.verifier_backend, **options)
            else:
                self._verifiers[name] = get_verifier(name)
                self._verifiers[name].with_steps = self.step_verdicts
        return self._verifiers[name]

    def borrow_verifiers(self, other: ReasoningEnv) -> None:
        """Verify with `other`'s verifiers from now on (its pools: started once, shared, closed by `other`); one this
        env needs first is made as `other` would make it, into `other`'s set."""
        self._verifier, self._verifiers, self._borrowed = other._verifier, other._verifiers, True
        self.verifier_backend = other.verifier_backend

    def close(self) -> None:
        if not self._borrowed:
            for verifier in self._verifiers.values():
                getattr(verifier, "close", lambda: None)()
        self._verifiers, self._borrowed = {}, False
        super().close()

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        problem_seed = seed if seed is not None else int(self.np_random.integers(2**62))
        self.problem = self.source.problem(problem_seed)
        self.turn = 0
        self._last = self.problem.prompt
        self._over = False
        return self.problem.prompt, {**self.problem.info(), "seed": problem_seed, "turn": 0}

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        if self.problem is None:
            raise RuntimeError("call reset() before step()")
        if self._over:  # scoring it would credit a finished episode again (a turn past max_turns, a 2nd answer)
            raise RuntimeError(f"the episode of {self.problem.id} is over (terminated or truncated): call reset()")
        verdict = self.verifier_for(self.problem).verify(action, self.problem.reference)
        self.turn += 1
        info = {**self.problem.info(), "turn": self.turn, "verdict": verdict.to_dict()}
        next_prompt = None if verdict.correct else self.next_turn(self.problem, action, verdict)
        if next_prompt is None:
            self._last, self._over = "", True
            return "", verdict.reward, True, False, info
        truncated = self._over = self.turn >= self.turn_limit(self.problem)
        self._last = "" if truncated else next_prompt
        return self._last, verdict.reward, False, truncated, info

    def turn_limit(self, problem: Problem) -> int:
        """The most responses an episode of `problem` gets (then it is truncated): `max_turns`; a mixture gives each
        problem its component's."""
        return self.max_turns

    def next_turn(self, problem: Problem, response: str, verdict: Verdict) -> str | None:
        """The next prompt of a multi-turn episode after a response that was not correct, or None to
        end it. Single-turn envs end here; multi-turn ones return feedback (e.g. failing tests)."""
        return None

    def reference_response(self) -> str:
        """A response the verifier accepts for the current problem (for tests and benchmarks)."""
        if self.problem is None:
            raise RuntimeError("call reset() before reference_response()")
        if self.problem.solution is None:
            raise NotImplementedError(f"{type(self).__name__} has no reference solution for {self.problem.id}")
        return self.problem.solution

    def negative_responses(self) -> list[str]:
        """Responses that must score below 1 for the current problem: the empty one, plus (in each env)
        a wrong answer and a hedge that lists the right answer next to a wrong one. Property tests
        run these for every registered id."""
        return [""]

    def render(self) -> str | None:
        return self._last if self.render_mode == "ansi" else None
