"""Graph-colouring checker: any colouring with the allowed colours where no edge joins two nodes of one colour.

Reference: `{"num_nodes": n, "colors": [name, ...], "edges": [[u, v], ...]}` (nodes 0..n-1).
Answer: one colour per node in node order, separated by commas, semicolons or newlines; an item may be prefixed
with its node number (`0: red`), which must then match its position. Colour names are case-insensitive.
A word that is not an allowed colour is unparsed; too few or too many colours and monochromatic edges are
incorrect.

Steps (`verify_steps`): one per node in order, 1.0 when its colour is allowed and differs from every earlier
neighbour's.
"""

from __future__ import annotations

import re
from typing import Any

from rlvr.verifiers.base import Verdict
from rlvr.verifiers.puzzles.common import Answer, PuzzleVerifier, correct, incorrect, split_items, step, unparsed
from rlvr.verifiers.steps import StepScore

_NUMBERED = re.compile(r"^(?:node\s*)?(\d{1,6})\s*[:=.)-]\s*(.*)$", re.IGNORECASE)


class GraphColoringVerifier(PuzzleVerifier):
    name = "puzzle/graph_coloring"

    def parse_reference(self, reference: Any) -> tuple[int, list[str], list[tuple[int, int]]]:
        n, colors = int(reference["num_nodes"]), [str(c).casefold() for c in reference["colors"]]
        edges = [(int(u), int(v)) for u, v in reference["edges"]]
        if any(not (0 <= u < n and 0 <= v < n) for u, v in edges):
            raise ValueError("edge endpoint out of range")
        return n, colors, edges

    def _read(self, answer: Answer, n: int, colors: list[str]) -> list[tuple[int | None, Any]] | str:
        """(colour index or None for an unknown word, token) per item, or why the answer is unreadable."""
        out = []
        for pos, tok in enumerate(split_items(answer)):
            word = tok.text.casefold()
            m = _NUMBERED.match(word)
            if m is not None:
                if int(m.group(1)) != pos:
                    return f"item {pos + 1} is labelled node {m.group(1)}; list the colours in node order"
                word = m.group(2).strip()
            word = word.strip(" .*`'\"")
            if word not in colors:
                return f"{word[:40]!r} is not one of the colours {', '.join(colors)}"
            out.append((colors.index(word), tok))
        return out

    def check(self, answer: Answer, ref: tuple[int, list[str], list[tuple[int, int]]]) -> Verdict:
        n, colors, edges = ref
        read = self._read(answer, n, colors)
        if isinstance(read, str):
            return unparsed(answer.text.strip(), read)
        text = ", ".join(colors[c] for c, _ in read)
        if len(read) != n:
            return incorrect(text, f"{len(read)} colours for {n} nodes")
        for u, v in edges:
            if read[u][0] == read[v][0]:
                return incorrect(text, f"edge {u}-{v} joins two {colors[read[u][0]]} nodes")
        return correct(text, "valid colouring")

    def steps(self, answer: Answer, ref: tuple[int, list[str], list[tuple[int, int]]]) -> list[StepScore]:
        n, colors, edges = ref
        read = self._read(answer, n, colors)
        if isinstance(read, str):
            return []
        neighbours: dict[int, set[int]] = {}
        for u, v in edges:
            neighbours.setdefault(u, set()).add(v)
            neighbours.setdefault(v, set()).add(u)
        return [
            step(tok, i < n and all(read[j][0] != c for j in neighbours.get(i, ()) if j < i))
            for i, (c, tok) in enumerate(read)
        ]
