"""rlvr/Parity-v0: the parity of d random bits.

The task of "How Reinforcement Learning After Next-Token Prediction Facilitates Learning": next-token
training on a mix of few long demonstrations (the running parity, bit by bit) and many short ones
(the answer alone) stays near chance, and RL after it reaches ~100% while responses grow into the
long chain of thought. `demonstrations(n, long_fraction, seed)` gives that SFT mix.

Two prompt styles:
- "instruct" (default): a sentence that states the task and asks for `<answer>0|1</answer>`;
  the long demonstration writes the running parity first ("1 1 0 1 1 <answer>1</answer>").
- "plain": for small models trained from scratch, the prompt is the bits and "=" ("10110="); the
  short demonstration is the answer bit ("1"), the long one the running parity ("11011"), whose last
  bit is the answer.
"""

from __future__ import annotations

import dataclasses

from rlvr.envs.base import Problem, ReasoningEnv, problem_rng
from rlvr.verifiers.parity import parity, running_parity

STYLES = ("instruct", "plain")


@dataclasses.dataclass(frozen=True)
class ParityConfig:
    n_bits: int = 16
    style: str = "instruct"

    def __post_init__(self) -> None:
        if not isinstance(self.n_bits, int) or not 1 <= self.n_bits <= 4096:
            raise ValueError(f"Parity n_bits must be an integer in 1..4096, got {self.n_bits!r}")
        if self.style not in STYLES:
            raise ValueError(f"Parity style must be one of {STYLES}, got {self.style!r}")


class ParitySource:
    def __init__(self, config: ParityConfig) -> None:
        self.config = config

    def bits(self, seed: int) -> str:
        return "".join(map(str, problem_rng(seed).integers(0, 2, self.config.n_bits)))

    def prompt(self, bits: str) -> str:
        if self.config.style == "plain":
            return bits + "="
        return (
            f"Compute the parity of these {len(bits)} bits: {' '.join(bits)}. The parity is 1 if the number of "
            "1s is odd and 0 otherwise. You may first write the running parity after each bit. "
            "Give the final answer as <answer>0</answer> or <answer>1</answer>."
        )

    def response(self, bits: str, long: bool) -> str:
        """A correct demonstration: the running parity then the answer (long), or the answer alone (short)."""
        chain = running_parity(bits)
        if self.config.style == "plain":
            return chain if long else chain[-1]
        return (" ".join(chain) + " " if long else "") + f"<answer>{chain[-1]}</answer>"

    def problem(self, seed: int) -> Problem:
        bits = self.bits(seed)
        return Problem(
            id=f"parity/{self.config.n_bits}/{seed}",
            domain="parity",
            prompt=self.prompt(bits),
            reference={"bits": bits},
            verifier="parity",
            answer_format="text" if self.config.style == "plain" else "answer_tags",
            difficulty={"n_bits": self.config.n_bits},
            solution=self.response(bits, long=True),
            meta={"answer": parity(bits)},
        )


class ParityEnv(ReasoningEnv):
    """Parity of `n_bits` bits; see the module docstring for the styles and the demonstrations."""

    def __init__(self, n_bits: int = 16, style: str = "instruct", verifier=None, render_mode: str | None = None):
        self.config = ParityConfig(n_bits=n_bits, style=style)
        super().__init__(ParitySource(self.config), verifier=verifier, render_mode=render_mode)

    def demonstrations(self, n: int, long_fraction: float, seed: int) -> list[dict]:
        """`n` (prompt, response) pairs for next-token training; each is long with probability `long_fraction`."""
        if not 0.0 <= long_fraction <= 1.0:
            raise ValueError(f"long_fraction must be in [0, 1], got {long_fraction}")
        out = []
        for i in range(n):
            rng = problem_rng(seed, i)
            bits = "".join(map(str, rng.integers(0, 2, self.config.n_bits)))
            long = bool(rng.random() < long_fraction)
            out.append({"prompt": self.source.prompt(bits), "response": self.source.response(bits, long), "long": long})
        return out

    def negative_responses(self) -> list[str]:
        answer = self.problem.meta["answer"]
        wrong = str(1 - answer)
        if self.config.style == "plain":
            return ["", wrong, "<answer>0</answer> <answer>1</answer>"]
        return ["", f"<answer>{wrong}</answer>", "<answer>0</answer> or <answer>1</answer>", f"The answer is {answer}."]
