"""rlvr/KnightsKnaves-v0: knights always tell the truth, knaves always lie; who is which?

Each person makes one statement about the group: "X is a knight/knave", "X and Y are the same / different
kinds", "exactly / at least / at most k of us are knights", or (with probability `compound`) two claims joined by "and",
"or" or "if ... then". The generator plants an assignment, draws every speaker a statement whose truth matches
the speaker's kind (negating it with "it is not true that" when it does not), and keeps the puzzle only if
brute force over all 2^n assignments finds exactly one consistent one (otherwise it redraws all statements).

Statements are stored as small JSON trees in the reference, so the checker (`rlvr.verifiers.puzzles.
knights_knaves`) evaluates a candidate against them instead of comparing with the planted answer.

Knobs: `num_people` (2..10: the problem size) and `compound` (probability that a statement is compound).
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import numpy as np

from rlvr.envs.base import Problem, problem_rng
from rlvr.envs.puzzles.common import FORMAT_NOTE, PuzzleEnv, check_float, check_int, make_problem
from rlvr.verifiers.puzzles.knights_knaves import holds, render

NAMES = ("Alice", "Bob", "Carol", "Dave", "Eve", "Frank", "Grace", "Heidi", "Ivan", "Judy", "Mallory", "Oscar")
MAX_TRIES = 2000


def _atom(p: int, rng: np.random.Generator) -> dict[str, Any]:
    return {"op": "is", "p": p, "knight": bool(rng.random() < 0.5)}


def negate(s: dict[str, Any]) -> dict[str, Any]:
    """The negation of `s`, pushed down to the claims (De Morgan) so that the English stays unambiguous."""
    op = s["op"]
    if op == "is":
        return {**s, "knight": not s["knight"]}
    if op in ("same", "diff"):
        return {**s, "op": "diff" if op == "same" else "same"}
    if op == "at_least":
        return {"op": "at_most", "k": s["k"] - 1}
    if op == "at_most":
        return {"op": "at_least", "k": s["k"] + 1}
    if op == "and":
        return {"op": "or", "args": [negate(a) for a in s["args"]]}
    if op == "or":
        return {"op": "and", "args": [negate(a) for a in s["args"]]}
    if op == "if":
        return {"op": "and", "args": [s["args"][0], negate(s["args"][1])]}
    return {"op": "not", "arg": s}  # "exactly k"


def random_statement(n: int, speaker: int, compound: float, rng: np.random.Generator) -> dict[str, Any]:
    """A random claim about the n people (JSON tree; see `rlvr.verifiers.puzzles.knights_knaves.holds`)."""
    if rng.random() < compound:
        a, b = (int(x) for x in rng.choice(n, size=2, replace=False))
        return {"op": str(rng.choice(["and", "or", "if"])), "args": [_atom(a, rng), _atom(b, rng)]}
    kind = rng.choice(["is", "is", "same", "count"])
    if kind == "is":
        return _atom(int(rng.integers(n)), rng)
    if kind == "same":
        a, b = (int(x) for x in rng.choice(n, size=2, replace=False))
        return {"op": str(rng.choice(["same", "diff"])), "p": [a, b]}
    if rng.random() < 0.5:
        return {"op": "exactly", "k": int(rng.integers(n + 1))}
    return {"op": "at_least", "k": int(rng.integers(1, n + 1))}  # 1..n: its negation "at most k-1" reads well


@dataclasses.dataclass(frozen=True)
class KnightsKnavesConfig:
    num_people: int = 4
    compound: float = 0.4

    def __post_init__(self) -> None:
        check_int("KnightsKnaves", "num_people", self.num_people, 2, len(NAMES))
        check_float("KnightsKnaves", "compound", self.compound, 0.0, 1.0)

    def problem(self, seed: int) -> Problem:
        rng = problem_rng(seed)
        n = self.num_people
        names = [str(x) for x in rng.choice(NAMES, size=n, replace=False)]
        everyone = list(itertools.product([False, True], repeat=n))
        for _ in range(MAX_TRIES):
            planted = [bool(x) for x in rng.random(n) < 0.5]
            statements = []
            for i in range(n):
                s = random_statement(n, i, self.compound, rng)
                statements.append(s if holds(s, planted) == planted[i] else negate(s))
            consistent = [a for a in everyone if all(holds(s, a) == a[i] for i, s in enumerate(statements))]
            if len(consistent) == 1:
                break
        else:
            raise RuntimeError(f"KnightsKnaves: no unique puzzle in {MAX_TRIES} tries")
        said = "\n".join(f'{names[i]} says: "{render(s, names)}."' for i, s in enumerate(statements))
        prompt = (
            f"On an island, knights always tell the truth and knaves always lie. You meet {n} inhabitants: "
            f"{', '.join(names)}.\n{said}\n\nWho is a knight and who is a knave? {FORMAT_NOTE}naming everyone "
            f"in this form: <answer>{names[0]}: knight, {names[1]}: knave, ...</answer>."
        )

        def answer(kinds: list[bool]) -> str:
            return ", ".join(f"{name}: {'knight' if k else 'knave'}" for name, k in zip(names, kinds, strict=True))

        reference = {"people": names, "statements": statements}
        wrong = answer([not planted[0], *planted[1:]])
        return make_problem("knights_knaves", seed, prompt, reference, answer(planted), wrong, dataclasses.asdict(self))


class KnightsKnavesEnv(PuzzleEnv):
    """Knights and knaves with `num_people` speakers; see the module docstring."""

    config_cls = KnightsKnavesConfig
