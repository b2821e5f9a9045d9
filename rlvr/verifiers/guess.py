"""Guess the hidden letter: one letter per response, checked against the reference.

Reference: `{"target": "h", "letters": "abcdefghijklmno"}`. A response is the guess: one of `letters`, surrounding
whitespace allowed. Anything else (several letters, prose, a letter outside the range) is `unparsed`: a hedge such
as "gh" names no guess. A wrong guess is `incorrect` with `detail` "higher" or "lower" (where the target lies),
which the env (rlvr/Guess-v0) turns into its reply.
"""

from __future__ import annotations

from typing import Any

from rlvr.verifiers.base import Verdict, Verifier


def _reference(reference: Any) -> tuple[str, str]:
    if not isinstance(reference, dict):
        raise ValueError(f"guess reference must be {{'target': ..., 'letters': ...}}, got {reference!r}")
    target, letters = reference.get("target"), reference.get("letters")
    if not (isinstance(letters, str) and isinstance(target, str) and len(target) == 1 and target in letters):
        raise ValueError(f"guess reference needs a target among its letters, got {reference!r}")
    return target, letters


class GuessVerifier(Verifier):
    name = "guess"

    def _verify(self, response: str, reference: Any) -> Verdict:
        target, letters = _reference(reference)
        if not isinstance(response, str):
            return Verdict("unparsed", 0.0, None, f"response is {type(response).__name__}, not text")
        guess = response.strip()
        if len(guess) != 1 or guess not in letters:
            return Verdict("unparsed", 0.0, None, f"expected one letter of {letters[0]}-{letters[-1]}")
        if guess == target:
            return Verdict("correct", 1.0, guess, "")
        return Verdict("incorrect", 0.0, guess, "higher" if target > guess else "lower")
