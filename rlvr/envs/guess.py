"""rlvr/Guess-v0: find a hidden letter in a few turns, from "higher" / "lower" replies (a multi-turn env).

    gym.make("rlvr/Guess-v0")                        # a-o (15 letters), 4 turns
    gym.make("rlvr/Guess-v0", letters=31, max_turns=5)

The prompt names the range ("a-o?"); each response is one guess; after a wrong one the env replies ">" (the
hidden letter comes later in the alphabet), "<" (earlier) or "?" (the response was not a letter of the range), and
the model guesses again, up to `max_turns` guesses (then the episode is truncated). Reward 1 for finding the letter.

The replies are needed to succeed: a policy that ignores them finds the letter with probability at most
max_turns / letters, bisection always does when letters < 2^max_turns. `demonstrations` are weak on purpose (the
SFT stage of configs/multi-turn.yaml): each guess is drawn at random among the letters the replies so far allow,
which finds one of 7 letters in 3 turns 68% of the time (one of 15 in 4: 60%); RL on the episodes learns to bisect.

Problems are the hidden letter only: the prompt is the same for every seed of a configuration.
"""

from __future__ import annotations

import dataclasses
import string

from rlvr.envs.base import Problem, ReasoningEnv, problem_rng
from rlvr.verifiers import Verdict


@dataclasses.dataclass(frozen=True)
class GuessConfig:
    letters: int = 15

    def __post_init__(self) -> None:
        if not isinstance(self.letters, int) or not 2 <= self.letters <= 26:
            raise ValueError(f"Guess letters must be an integer in 2..26, got {self.letters!r}")

    @property
    def alphabet(self) -> str:
        return string.ascii_lowercase[: self.letters]


class GuessSource:
    def __init__(self, config: GuessConfig) -> None:
        self.config = config

    @property
    def prompt(self) -> str:
        return f"{self.config.alphabet[0]}-{self.config.alphabet[-1]}?"

    def problem(self, seed: int) -> Problem:
        letters = self.config.alphabet
        target = letters[int(problem_rng(seed).integers(len(letters)))]
        return Problem(
            id=f"guess/{len(letters)}/{seed}",
            domain="guess",
            prompt=self.prompt,
            reference={"target": target, "letters": letters},
            verifier="guess",
            answer_format="text",
            difficulty={"letters": len(letters)},
            solution=target,
        )


def reply(target: str, guess: str | None) -> str:
    """The env's reply to a wrong guess: ">" (the target comes later), "<" (earlier), "?" (no guess read)."""
    if guess is None:
        return "?"
    return ">" if target > guess else "<"


class GuessEnv(ReasoningEnv):
    """Find the hidden letter among `letters` in at most `max_turns` guesses; see the module docstring."""

    def __init__(self, letters: int = 15, max_turns: int = 4, verifier=None, render_mode: str | None = None):
        self.config = GuessConfig(letters)
        super().__init__(GuessSource(self.config), verifier=verifier, max_turns=max_turns, render_mode=render_mode)

    def next_turn(self, problem: Problem, response: str, verdict: Verdict) -> str | None:
        if verdict.status == "error":
            return None  # our infrastructure failed: a reply would blame the model for it
        return reply(problem.reference["target"], verdict.extracted)

    def demonstrations(self, n: int, long_fraction: float, seed: int) -> list[dict]:
        """`n` (prompt, history, response) records, one per turn of weak demonstration episodes (each guess at random
        among the letters the replies allow; see the module docstring). history: the earlier turns as
        [guess, reply] pairs. `long_fraction` is not used."""
        letters, out, episode = self.config.alphabet, [], 0
        while len(out) < n:
            rng = problem_rng(seed, episode)
            episode += 1
            target = letters[int(rng.integers(len(letters)))]
            lo, hi, history = 0, len(letters) - 1, []
            for _ in range(self.max_turns):
                guess = letters[int(rng.integers(lo, hi + 1))]
                out.append({"prompt": self.source.prompt, "history": [list(h) for h in history], "response": guess})
                if guess == target or len(out) == n:
                    break
                history.append((guess, reply(target, guess)))
                lo, hi = (letters.index(guess) + 1, hi) if target > guess else (lo, letters.index(guess) - 1)
        return out

    def negative_responses(self) -> list[str]:
        target, letters = self.problem.reference["target"], self.problem.reference["letters"]
        wrong = letters[(letters.index(target) + 1) % len(letters)]
        return ["", wrong, f"{target}{wrong}", f"{wrong} {target}", f"{target}?"]
