"""rlvr/Cryptarithm-v0: letters stand for digits in an addition (SEND + MORE = MONEY style); find the digits.

The generator plants the solution: it draws `num_addends` numbers of `min_digits`..`max_digits` digits, adds
them, and spells every number with a random one-to-one map from digits to letters. So the planted digits
solve it; other assignments may too, and the checker (`rlvr.verifiers.puzzles.cryptarithm`) accepts any that
gives distinct letters distinct digits, starts no multi-letter word with 0, and makes the sum true.

Knobs: `num_addends` (2..5) and `min_digits` / `max_digits` (the length of each addend: the problem size).
"""

from __future__ import annotations

import dataclasses
import string

from rlvr.envs.base import Problem, problem_rng
from rlvr.envs.puzzles.common import FORMAT_NOTE, PuzzleEnv, check_int, make_problem
from rlvr.verifiers.puzzles.cryptarithm import solves


@dataclasses.dataclass(frozen=True)
class CryptarithmConfig:
    num_addends: int = 2
    min_digits: int = 3
    max_digits: int = 4

    def __post_init__(self) -> None:
        check_int("Cryptarithm", "num_addends", self.num_addends, 2, 5)
        check_int("Cryptarithm", "min_digits", self.min_digits, 1, 9)
        check_int("Cryptarithm", "max_digits", self.max_digits, self.min_digits, 9)

    def problem(self, seed: int) -> Problem:
        rng = problem_rng(seed)
        letters = [str(x) for x in rng.choice(list(string.ascii_uppercase), size=10, replace=False)]
        numbers = []
        for _ in range(self.num_addends):
            digits = int(rng.integers(self.min_digits, self.max_digits + 1))
            numbers.append(int(rng.integers(10 ** (digits - 1) if digits > 1 else 1, 10**digits)))
        words = ["".join(letters[int(d)] for d in str(n)) for n in [*numbers, sum(numbers)]]
        used = sorted(set("".join(words)))
        planted = {letters[d]: d for d in range(10) if letters[d] in used}
        wrong = next(
            (
                w
                for a in used
                for b in used
                if a < b and not solves(words, w := {**planted, a: planted[b], b: planted[a]})
            ),
            {**planted, used[0]: planted[used[1]]},  # two letters, one digit: always wrong
        )
        equation = " + ".join(words[:-1]) + " = " + words[-1]
        prompt = (
            f"Solve this cryptarithm: each letter stands for a digit 0-9, different letters for different digits, "
            f"and no number of more than one digit starts with 0.\n\n{equation}\n\n{FORMAT_NOTE}giving the digit "
            f"of every letter ({', '.join(used)}), for example <answer>{used[0]}=1, {used[1]}=2, ...</answer>."
        )

        def answer(mapping: dict[str, int]) -> str:
            return ", ".join(f"{k}={mapping[k]}" for k in used)

        reference = {"addends": words[:-1], "result": words[-1]}
        return make_problem(
            "cryptarithm", seed, prompt, reference, answer(planted), answer(wrong), dataclasses.asdict(self)
        )


class CryptarithmEnv(PuzzleEnv):
    """Letter-arithmetic addition with a planted solution; see the module docstring."""

    config_cls = CryptarithmConfig
