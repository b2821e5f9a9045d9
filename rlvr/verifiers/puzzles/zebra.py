"""Zebra (Einstein) puzzle checker: a full house-by-house assignment that satisfies every clue.

Reference: `{"houses": n, "attributes": {name: [value, ...]}, "clues": [{"kind": k, "a": value, "b": value or
house, "text": str}, ...]}`; values are unique across attributes, houses are numbered 1..n from left to right.
Clue kinds: `at` (a in house b), `not_at`, `same` (a and b in one house), `not_same`, `left_of` (a directly
left of b), `next_to`, `before` (a somewhere left of b).

Answer: one line (or `;`-separated item) per house, `House 1: red, Brit, dog` (the word "House" optional; values
case-insensitive, in any order within the line). Every house must appear once with exactly one value of every
attribute, and each value must be used once; then every clue must hold. Unknown values or unreadable lines are
unparsed; a house listed twice with different values is a hedge (incorrect). Incorrect details quote the first
broken clue.
"""

from __future__ import annotations

import re
from typing import Any

from rlvr.verifiers.base import Verdict
from rlvr.verifiers.puzzles.common import Answer, PuzzleVerifier, correct, incorrect, unparsed

KINDS = ("at", "not_at", "same", "not_same", "left_of", "next_to", "before")
_LINE = re.compile(r"^\W*(?:house\s*)?#?\s*(\d{1,3})\s*\**\s*[:=\-–)]\s*(.*)$", re.IGNORECASE)


def clue_holds(clue: dict[str, Any], house: dict[str, int]) -> bool:
    """Truth of a clue when `house[value]` is the house (1..n) of every value."""
    kind, a, b = clue["kind"], house[clue["a"]], clue["b"]
    if kind == "at":
        return a == b
    if kind == "not_at":
        return a != b
    b = house[b]
    if kind == "same":
        return a == b
    if kind == "not_same":
        return a != b
    if kind == "left_of":
        return a + 1 == b
    if kind == "next_to":
        return abs(a - b) == 1
    if kind == "before":
        return a < b
    raise ValueError(f"unknown clue kind {kind!r}")


class ZebraVerifier(PuzzleVerifier):
    name = "puzzle/zebra"

    def parse_reference(self, reference: Any) -> tuple[int, dict[str, str], list[dict[str, Any]]]:
        n = int(reference["houses"])
        attribute_of = {}
        for attr, values in reference["attributes"].items():
            if len(values) != n:
                raise ValueError(f"attribute {attr} needs {n} values")
            for v in values:
                attribute_of[str(v)] = attr
        if len(attribute_of) != n * len(reference["attributes"]):
            raise ValueError("values must be unique across attributes")
        clues = list(reference["clues"])
        for c in clues:
            if c["kind"] not in KINDS or c["a"] not in attribute_of:
                raise ValueError(f"bad clue {c!r}")
        return n, attribute_of, clues

    def check(self, answer: Answer, ref: tuple[int, dict[str, str], list[dict[str, Any]]]) -> Verdict:
        n, attribute_of, clues = ref
        by_name = {v.casefold(): v for v in attribute_of}
        attributes = sorted(set(attribute_of.values()))
        rows: dict[int, frozenset[str]] = {}
        for line in re.split(r"[\n;]+", answer.text):
            if not line.strip():
                continue
            m = _LINE.match(line.strip())
            if m is None:
                return unparsed(answer.text.strip(), f"unreadable line {line.strip()[:40]!r} (expected House k: ...)")
            h = int(m.group(1))
            values = set()
            for item in re.split(r"[,|/]+", m.group(2)):
                word = item.strip(" .*`'\"").casefold()
                if not word:
                    continue
                if word not in by_name:
                    return unparsed(answer.text.strip(), f"house {h}: {word[:30]!r} is not a value of the puzzle")
                values.add(by_name[word])
            if h in rows and rows[h] != values:
                return incorrect(answer.text.strip(), f"hedge: house {h} is listed twice with different values")
            rows[h] = frozenset(values)
        text = "; ".join(f"House {h}: {', '.join(sorted(rows[h]))}" for h in sorted(rows))
        if set(rows) != set(range(1, n + 1)):
            return incorrect(text, f"the answer must list houses 1 to {n} once each")
        house: dict[str, int] = {}
        for h, values in rows.items():
            attrs = sorted(attribute_of[v] for v in values)
            if attrs != attributes:
                return incorrect(text, f"house {h} needs exactly one value of each of {', '.join(attributes)}")
            for v in values:
                if v in house:
                    return incorrect(text, f"{v} is in two houses")
                house[v] = h
        for clue in clues:
            if not clue_holds(clue, house):
                return incorrect(text, f"breaks the clue: {clue.get('text', clue)}")
        return correct(text, "every clue holds")
