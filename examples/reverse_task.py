"""Add your own task: a problem source, an env and a verifier, registered and trained by `rlvr train`.

    cd examples && rlvr train --config reverse.yaml          # env.id: reverse_task:Reverse-v0

The task: reverse a string of bits (prompt "0111=", answer "1110"). A problem is a pure
function of its seed (`problem_rng`), so GRPO groups and held-out evaluation work as for rlvr's own envs.
"""

from __future__ import annotations

import gymnasium as gym

from rlvr.envs.base import Problem, ReasoningEnv, problem_rng
from rlvr.verifiers import Verdict, Verifier, register


class ReverseVerifier(Verifier):
    """Correct when the response (stripped) is exactly the reversed bits; an empty response is `unparsed`."""

    name = "reverse"

    def _verify(self, response: str, reference: str) -> Verdict:
        answer = response.strip()
        if not answer:
            return Verdict("unparsed", 0.0, None, "empty response")
        if answer == reference:
            return Verdict("correct", 1.0, answer, "")
        return Verdict("incorrect", 0.0, answer, f"expected {reference}")


class ReverseSource:
    """Problem `seed`: n_bits random bits, the prompt "<bits>=", the reference the bits reversed."""

    def __init__(self, n_bits: int) -> None:
        self.n_bits = n_bits

    def problem(self, seed: int) -> Problem:
        bits = "".join(str(b) for b in problem_rng(seed).integers(0, 2, self.n_bits))
        return Problem(id=f"reverse/{seed}", domain="reverse", prompt=f"{bits}=", reference=bits[::-1],
                       verifier="reverse", answer_format="text", solution=bits[::-1])  # fmt: skip


class ReverseEnv(ReasoningEnv):
    def __init__(self, n_bits: int = 4, render_mode: str | None = None) -> None:
        if n_bits < 1:
            raise ValueError(f"n_bits must be >= 1, got {n_bits}")
        super().__init__(ReverseSource(n_bits), render_mode=render_mode)

    def demonstrations(self, n: int, long_fraction: float, seed: int) -> list[dict]:
        """Demonstrations for SFT (`sft.steps`), deliberately noisy: half of them have one bit flipped, so next-token
        training imitates the mistakes too and GRPO has something left to learn. (`long_fraction` does not apply.)"""
        out = []
        for i in range(n):
            rng = problem_rng(seed, i)
            answer = list(self.source.problem(int(rng.integers(2**62))).reference)
            prompt = "".join(reversed(answer)) + "="
            if rng.random() < 0.5:
                k = int(rng.integers(len(answer)))
                answer[k] = "10"[int(answer[k])]
            out.append({"prompt": prompt, "response": "".join(answer)})
        return out


register("reverse", f"{__name__}:ReverseVerifier")  # get_verifier("reverse") finds it
if "Reverse-v0" not in gym.registry:
    gym.register("Reverse-v0", entry_point=f"{__name__}:ReverseEnv")
