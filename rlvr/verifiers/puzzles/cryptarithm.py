"""Cryptarithm checker: any letter-to-digit assignment that makes the addition true.

Reference: `{"addends": [word, ...], "result": word}`, words of capital letters.
Answer: `A=1, B=2, ...` (also `A: 1`, `A -> 1`; letters case-insensitive). Every letter of the puzzle must get a
digit 0-9; different letters need different digits; a word of more than one letter may not start with 0; and
the sum must hold. A letter given two digits is a hedge (incorrect); a letter not in the puzzle, or a value that
is not a single digit, is unparsed.
"""

from __future__ import annotations

import re
from typing import Any

from rlvr.verifiers.base import Verdict
from rlvr.verifiers.puzzles.common import Answer, PuzzleVerifier, correct, incorrect, parse_pairs, unparsed

_WORD = re.compile(r"^[A-Z]{1,20}$")


def _value(word: str, mapping: dict[str, int]) -> int:
    n = 0
    for ch in word:
        n = 10 * n + mapping[ch]
    return n


def violation(words: list[str], mapping: dict[str, int]) -> str | None:
    """Why `mapping` (every letter -> digit) does not solve `addends + [result]`, or None when it does."""
    seen: dict[int, str] = {}
    for letter, digit in sorted(mapping.items()):
        if digit in seen:
            return f"{seen[digit]} and {letter} are both {digit}"
        seen[digit] = letter
    for w in words:
        if len(w) > 1 and mapping[w[0]] == 0:
            return f"{w} starts with 0"
    total = sum(_value(w, mapping) for w in words[:-1])
    if total != _value(words[-1], mapping):
        return f"the addends sum to {total}, not {_value(words[-1], mapping)}"
    return None


def solves(words: list[str], mapping: dict[str, int]) -> bool:
    return violation(words, mapping) is None


class CryptarithmVerifier(PuzzleVerifier):
    name = "puzzle/cryptarithm"

    def parse_reference(self, reference: Any) -> list[str]:
        words = [*reference["addends"], reference["result"]]
        if len(words) < 2 or not all(isinstance(w, str) and _WORD.match(w) for w in words):
            raise ValueError("addends and result must be words of capital letters")
        if len(set("".join(words))) > 10:
            raise ValueError("more than 10 different letters")
        return words

    def check(self, answer: Answer, ref: list[str]) -> Verdict:
        letters = set("".join(ref))
        pairs = parse_pairs(answer)
        if isinstance(pairs, str):
            return unparsed(answer.text.strip(), pairs)
        mapping: dict[str, int] = {}
        for key, value, _ in pairs:
            letter = key.upper()
            if letter not in letters:
                return unparsed(answer.text.strip(), f"{key[:20]!r} is not a letter of the puzzle")
            if not re.fullmatch(r"[0-9]", value):
                return unparsed(answer.text.strip(), f"{letter}: {value[:20]!r} is not a digit")
            if mapping.get(letter, int(value)) != int(value):
                return incorrect(answer.text.strip(), f"hedge: {letter} is given two digits")
            mapping[letter] = int(value)
        text = ", ".join(f"{k}={mapping[k]}" for k in sorted(mapping))
        missing = sorted(letters - set(mapping))
        if missing:
            return incorrect(text, f"no digit for {', '.join(missing)}")
        why = violation(ref, mapping)
        if why is not None:
            return incorrect(text, why)
        return correct(text, "the sum holds")
