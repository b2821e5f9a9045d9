"""rlvr/Zebra-v0: Einstein's puzzle: n houses in a row, m attributes, clues; who lives where with what?

The generator plants a solution (a random permutation of each attribute's values over the houses) and adds true
clues at random (positions, "is the same person as", "directly left of", "next to", "somewhere left of" and
their negations) until its own solver (`count_solutions`: bitmask domains with constraint propagation and
branching) finds exactly one solution. It then drops, in random order, every clue the solution stays unique
without, so the clue set is minimal. The checker (`rlvr.verifiers.puzzles.zebra`) validates a candidate against
the clues, and since the solution is unique that is the planted one.

Knobs: `num_houses` (2..6) and `num_attributes` (1..5): the grid is houses x attributes.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from rlvr.envs.base import Problem, problem_rng
from rlvr.envs.puzzles.common import FORMAT_NOTE, PuzzleEnv, check_int, make_problem
from rlvr.verifiers.puzzles.zebra import clue_holds

# attribute -> (values, how to name the person who has one)
ATTRIBUTES: dict[str, tuple[tuple[str, ...], str]] = {
    "colour": (("red", "green", "blue", "yellow", "white", "purple"), "the person in the {} house"),
    "nationality": (("Brit", "Swede", "Dane", "Norwegian", "German", "Japanese"), "the {}"),
    "pet": (("dog", "bird", "cat", "horse", "fish", "rabbit"), "the person who keeps the {}"),
    "drink": (("tea", "coffee", "milk", "beer", "water", "juice"), "the person who drinks {}"),
    "hobby": (("chess", "painting", "hiking", "reading", "gardening", "cooking"), "the person who enjoys {}"),
}
KIND_WEIGHTS = {
    "at": 0.08,
    "not_at": 0.1,
    "same": 0.25,
    "not_same": 0.1,
    "left_of": 0.15,
    "next_to": 0.17,
    "before": 0.15,
}
PHRASES = {
    "at": "{a} lives in house {b}.",
    "not_at": "{a} does not live in house {b}.",
    "same": "{a} is the same person as {b}.",
    "not_same": "{a} is not the same person as {b}.",
    "left_of": "{a} lives directly left of {b}.",
    "next_to": "{a} lives next to {b}.",
    "before": "{a} lives somewhere to the left of {b}.",
}
MAX_CLUES = 400


def count_solutions(n: int, groups: list[list[str]], clues: list[dict[str, Any]], limit: int = 2) -> int:
    """Number of assignments (each group's values a permutation of houses 0..n-1) meeting `clues`, up to `limit`."""
    full = (1 << n) - 1

    def propagate(dom: dict[str, int]) -> bool:
        changed = True
        while changed:
            changed = False
            before = dict(dom)
            for c in clues:
                a, kind = c["a"], c["kind"]
                if kind == "at":
                    dom[a] &= 1 << (c["b"] - 1)
                elif kind == "not_at":
                    dom[a] &= ~(1 << (c["b"] - 1))
                else:
                    b = c["b"]
                    if kind == "same":
                        dom[a] = dom[b] = dom[a] & dom[b]
                    elif kind == "not_same":
                        if dom[a] & (dom[a] - 1) == 0:
                            dom[b] &= ~dom[a]
                        if dom[b] & (dom[b] - 1) == 0:
                            dom[a] &= ~dom[b]
                    elif kind == "left_of":
                        dom[a] &= dom[b] >> 1
                        dom[b] &= (dom[a] << 1) & full
                    elif kind == "next_to":
                        dom[a] &= ((dom[b] << 1) | (dom[b] >> 1)) & full
                        dom[b] &= ((dom[a] << 1) | (dom[a] >> 1)) & full
                    elif kind == "before" and dom[a] and dom[b]:
                        dom[a] &= (1 << (dom[b].bit_length() - 1)) - 1  # below b's highest house
                        low_a = (dom[a] & -dom[a]).bit_length() if dom[a] else n
                        dom[b] &= full & ~((1 << low_a) - 1)  # above a's lowest house
            for group in groups:
                for v in group:  # a fixed value's house is taken for the rest of its group
                    if dom[v] and dom[v] & (dom[v] - 1) == 0:
                        for w in group:
                            if w != v:
                                dom[w] &= ~dom[v]
                for h in range(n):  # a house only one value of the group can take gets that value
                    holders = [v for v in group if dom[v] >> h & 1]
                    if len(holders) == 1:
                        dom[holders[0]] &= 1 << h
            if any(d == 0 for d in dom.values()):
                return False
            changed = dom != before
        return True

    def search(dom: dict[str, int]) -> int:
        if not propagate(dom):
            return 0
        open_values = [v for v, d in dom.items() if d & (d - 1)]
        if not open_values:
            return 1
        v = min(open_values, key=lambda x: bin(dom[x]).count("1"))
        found, d = 0, dom[v]
        while d and found < limit:
            bit = d & -d
            d ^= bit
            found += search({**dom, v: bit})
        return found

    return min(search({v: full for g in groups for v in g}), limit)


def random_clue(n: int, groups: list[list[str]], house: dict[str, int], rng: np.random.Generator) -> dict[str, Any]:
    """A clue that holds for the planted solution (`house[value]` in 1..n)."""
    at = {(g, house[v]): v for g, group in enumerate(groups) for v in group}
    m = len(groups)
    kinds = [k for k in KIND_WEIGHTS if m > 1 or k not in ("same", "not_same")]
    weights = np.array([KIND_WEIGHTS[k] for k in kinds])
    kind = str(rng.choice(kinds, p=weights / weights.sum()))
    if n == 1 or kind in ("at", "not_at"):
        v = at[(int(rng.integers(m)), int(rng.integers(1, n + 1)))]
        h = house[v] if kind == "at" or n == 1 else int(rng.choice([k for k in range(1, n + 1) if k != house[v]]))
        return {"kind": "at" if n == 1 else kind, "a": v, "b": h}
    g1, g2 = (int(x) for x in rng.choice(m, size=2, replace=False)) if m > 1 else (0, 0)
    if kind == "same":
        h = int(rng.integers(1, n + 1))
        return {"kind": kind, "a": at[(g1, h)], "b": at[(g2, h)]}
    h1, h2 = (int(x) for x in rng.choice(np.arange(1, n + 1), size=2, replace=False))
    if kind in ("left_of", "before"):
        h1, h2 = min(h1, h2), max(h1, h2)
        if kind == "left_of":
            h2 = h1 + 1
    elif kind == "next_to":
        h2 = h1 + 1 if h1 < n else h1 - 1
    g2 = g2 if kind != "not_same" or m > 1 else g1
    return {"kind": kind, "a": at[(g1, h1)], "b": at[(g2, h2)]}


@dataclasses.dataclass(frozen=True)
class ZebraConfig:
    num_houses: int = 4
    num_attributes: int = 3

    def __post_init__(self) -> None:
        check_int("Zebra", "num_houses", self.num_houses, 2, 6)
        check_int("Zebra", "num_attributes", self.num_attributes, 1, len(ATTRIBUTES))

    def problem(self, seed: int) -> Problem:
        rng = problem_rng(seed)
        n, m = self.num_houses, self.num_attributes
        names = [str(a) for a in rng.choice(list(ATTRIBUTES), size=m, replace=False)]
        groups = [[str(v) for v in rng.choice(ATTRIBUTES[a][0], size=n, replace=False)] for a in names]
        house = {v: int(h) + 1 for group in groups for v, h in zip(group, rng.permutation(n), strict=True)}
        phrase = {v: ATTRIBUTES[a][1].format(v) for a, group in zip(names, groups, strict=True) for v in group}
        clues: list[dict[str, Any]] = []
        while count_solutions(n, groups, clues) > 1:
            clue = random_clue(n, groups, house, rng)
            if clue not in clues and clue["a"] != clue["b"]:
                clues.append(clue)
            if len(clues) > MAX_CLUES:
                raise RuntimeError("Zebra: no unique puzzle (generator bug)")
        for i in rng.permutation(len(clues)):  # drop clues the solution stays unique without
            rest = [c for j, c in enumerate(clues) if j != i and c is not None]
            if count_solutions(n, groups, rest) == 1:
                clues[i] = None
        clues = [c for c in clues if c is not None]
        if not all(clue_holds(c, house) for c in clues):
            raise RuntimeError("Zebra: a clue does not hold (generator bug)")
        for c in clues:
            b = phrase[c["b"]] if isinstance(c["b"], str) else c["b"]
            text = PHRASES[c["kind"]].format(a=phrase[c["a"]], b=b)
            c["text"] = text[0].upper() + text[1:]
        listing = "\n".join(f"- {a}: {', '.join(sorted(g))}" for a, g in zip(names, groups, strict=True))
        clue_text = "\n".join(f"{i + 1}. {c['text']}" for i, c in enumerate(clues))
        prompt = (
            f"There are {n} houses in a row, numbered 1 to {n} from left to right. Each house has one person, and "
            f"each of these attributes takes each of its values in exactly one house:\n{listing}\n\nClues:\n"
            f"{clue_text}\n\nWho lives where? {FORMAT_NOTE}with one line per house listing its {', '.join(names)} "
            f"in that order, like this:\n<answer>\nHouse 1: {', '.join(f'<{a}>' for a in names)}\n...\n</answer>"
        )
        by_house = sorted((house[v], gi, v) for gi, g in enumerate(groups) for v in g)

        def answer(rows: dict[int, list[str]]) -> str:
            return "\n" + "\n".join(f"House {h}: {', '.join(rows[h])}" for h in sorted(rows)) + "\n"

        rows: dict[int, list[str]] = {}
        for h, _, v in by_house:
            rows.setdefault(h, []).append(v)
        wrong = {**rows, 1: rows[2], 2: rows[1]}  # two houses swapped: breaks the unique solution
        reference = {"houses": n, "attributes": dict(zip(names, groups, strict=True)), "clues": clues}
        difficulty = {**dataclasses.asdict(self), "num_clues": len(clues)}
        return make_problem("zebra", seed, prompt, reference, answer(rows), answer(wrong), difficulty)


class ZebraEnv(PuzzleEnv):
    """Zebra / Einstein puzzle of `num_houses` x `num_attributes`; see the module docstring."""

    config_cls = ZebraConfig
