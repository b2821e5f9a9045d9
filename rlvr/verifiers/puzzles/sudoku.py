"""Sudoku checker: any completion that keeps the givens and has every digit once per row, column and box.

Reference: `{"size": 4 | 6 | 9, "puzzle": "<size*size digits, 0 for a blank>"}` (boxes 2x2, 2x3, 3x3).
Answer: the size*size digits row by row; whitespace, commas, pipes, brackets and rule lines (`-`, `+`, `=`) are
ignored, any other character (including a `.` left blank) makes the grid unreadable (unparsed), as does the
wrong number of digits. Incorrect details name the first violated constraint (a changed given, a digit out of
range, a repeated digit in a row / column / box).

Steps (`verify_steps`): one per cell in reading order, 1.0 when the cell keeps its given and repeats no digit
of the cells before it in its row, column and box.
"""

from __future__ import annotations

from typing import Any

from rlvr.verifiers.base import Verdict
from rlvr.verifiers.puzzles.common import Answer, PuzzleVerifier, correct, digit_grid, incorrect, step, unparsed
from rlvr.verifiers.steps import StepScore

BOXES = {4: (2, 2), 6: (2, 3), 9: (3, 3)}


def _box(r: int, c: int, size: int) -> int:
    br, bc = BOXES[size]
    return (r // br) * (size // bc) + c // bc


class SudokuVerifier(PuzzleVerifier):
    name = "puzzle/sudoku"

    def parse_reference(self, reference: Any) -> tuple[int, list[int]]:
        size, puzzle = reference["size"], reference["puzzle"]
        if size not in BOXES or len(puzzle) != size * size or not puzzle.isdigit():
            raise ValueError(f"size must be one of {sorted(BOXES)} and puzzle size*size digits")
        return size, [int(ch) for ch in puzzle]

    def _cells(self, answer: Answer, size: int):
        return digit_grid(answer, size * size)

    def check(self, answer: Answer, ref: tuple[int, list[int]]) -> Verdict:
        size, givens = ref
        cells = self._cells(answer, size)
        if isinstance(cells, str):
            return unparsed(answer.text.strip(), cells)
        digits = [d for d, _ in cells]
        text = "".join(map(str, digits))
        for i, d in enumerate(digits):
            r, c = divmod(i, size)
            if not 1 <= d <= size:
                return incorrect(text, f"row {r + 1} column {c + 1}: digit {d} is not in 1..{size}")
            if givens[i] and givens[i] != d:
                return incorrect(text, f"row {r + 1} column {c + 1}: changes the given {givens[i]} to {d}")
        for kind, key in (("row", lambda r, c: r), ("column", lambda r, c: c), ("box", lambda r, c: _box(r, c, size))):
            seen: set[tuple[int, int]] = set()
            for i, d in enumerate(digits):
                k = key(*divmod(i, size))
                if (k, d) in seen:
                    return incorrect(text, f"{kind} {k + 1} has {d} twice")
                seen.add((k, d))
        return correct(text, "valid completion")

    def steps(self, answer: Answer, ref: tuple[int, list[int]]) -> list[StepScore]:
        size, givens = ref
        cells = self._cells(answer, size)
        if isinstance(cells, str):
            return []
        seen: set[tuple[str, int, int]] = set()
        out = []
        for i, (d, tok) in enumerate(cells):
            r, c = divmod(i, size)
            keys = {("r", r, d), ("c", c, d), ("b", _box(r, c, size), d)}
            ok = 1 <= d <= size and givens[i] in (0, d) and not keys & seen
            seen |= keys
            out.append(step(tok, ok))
        return out
