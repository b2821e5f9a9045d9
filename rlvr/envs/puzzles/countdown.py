"""rlvr/Countdown-v0: reach a target with + - * / and parentheses, using the given numbers each at most once.

The generator plants a solution: it draws the numbers, combines all of them in a random expression tree (exact
integer intermediates: `a - b` with a >= b, `a / b` only when b divides a), and takes the tree's value as the
target when it lies in [min_target, max_target] (redrawing otherwise). So every problem has at least one solution;
usually there are many, and the checker (`rlvr.verifiers.puzzles.countdown`) accepts any expression that uses the
numbers at most once each and evaluates exactly (over fractions) to the target.

Knobs: `num_numbers` (how many numbers, 2..8), `max_number` (numbers are drawn from 1..max_number),
`min_target` / `max_target` (the target's range).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from rlvr.envs.base import Problem, problem_rng
from rlvr.envs.puzzles.common import FORMAT_NOTE, PuzzleEnv, check_int, make_problem

MAX_TRIES = 10_000


def _combine(a: tuple[str, int, bool], b: tuple[str, int, bool], op: str) -> tuple[str, int, bool] | None:
    """Combine two (text, value, is_leaf) nodes with `op`, or None when the result would not be a whole number."""
    (ta, va, la), (tb, vb, lb) = a, b
    if op == "-" and va < vb:
        (ta, va, la), (tb, vb, lb) = (tb, vb, lb), (ta, va, la)
    if op == "/" and (vb == 0 or va % vb):
        return None
    value = {"+": va + vb, "-": va - vb, "*": va * vb, "/": va // vb if vb else 0}[op]
    text = f"{ta if la else '(' + ta + ')'} {op} {tb if lb else '(' + tb + ')'}"
    return text, value, False


def random_expression(numbers: list[int], rng: np.random.Generator) -> tuple[str, int]:
    """A random expression over all `numbers` with whole-number intermediates: (text, value)."""
    nodes = [(str(n), n, True) for n in numbers]
    while len(nodes) > 1:
        i, j = rng.choice(len(nodes), size=2, replace=False)
        for op in rng.permutation(["+", "-", "*", "/"]):
            combined = _combine(nodes[i], nodes[j], str(op))
            if combined is not None:
                break
        nodes = [n for k, n in enumerate(nodes) if k not in (i, j)] + [combined]
    return nodes[0][0], nodes[0][1]


@dataclasses.dataclass(frozen=True)
class CountdownConfig:
    num_numbers: int = 4
    max_number: int = 25
    min_target: int = 10
    max_target: int = 500

    def __post_init__(self) -> None:
        check_int("Countdown", "num_numbers", self.num_numbers, 2, 8)
        check_int("Countdown", "max_number", self.max_number, 2, 10_000)
        check_int("Countdown", "min_target", self.min_target, 1, 10**9)
        check_int("Countdown", "max_target", self.max_target, self.min_target, 10**9)

    def problem(self, seed: int) -> Problem:
        rng = problem_rng(seed)
        for _ in range(MAX_TRIES):
            numbers = [int(n) for n in rng.integers(1, self.max_number + 1, size=self.num_numbers)]
            text, target = random_expression(numbers, rng)
            if self.min_target <= target <= self.max_target and target not in numbers:
                break
        else:
            raise RuntimeError(f"Countdown: no target in {self.min_target}..{self.max_target} after {MAX_TRIES} tries")
        wrong = next(
            w
            for w in (" + ".join(map(str, numbers)), str(numbers[0]), " * ".join(map(str, numbers)))
            if eval_plain(w) != target
        )
        shown = ", ".join(map(str, numbers))
        prompt = (
            f"Using the numbers [{shown}], make an arithmetic expression equal to {target}. You may use +, -, *, / "
            "and parentheses; each number may be used at most once (you need not use all of them), and no other "
            f"numbers may appear. {FORMAT_NOTE}as the expression alone, for example <answer>(3 + 5) * 2</answer>."
        )
        reference = {"numbers": numbers, "target": target}
        difficulty = dataclasses.asdict(self)
        return make_problem("countdown", seed, prompt, reference, text, wrong, difficulty)


def eval_plain(expr: str) -> int:
    """Value of a flat sum or product of integers (the wrong answers above); no general parsing here."""
    if "*" in expr:
        return math.prod(int(x) for x in expr.split("*"))
    return sum(int(x) for x in expr.split("+"))


class CountdownEnv(PuzzleEnv):
    """Countdown numbers game; knobs in `CountdownConfig` (see the module docstring)."""

    config_cls = CountdownConfig
