"""rlvr/Sudoku-v0: complete a 4x4, 6x6 or 9x9 sudoku.

The generator shuffles a valid full grid (digit relabelling, row swaps within bands, band swaps, column swaps
within stacks, stack swaps, and a transpose for square boxes) and then blanks cells in a random order. With
`unique=True` (default) a cell is blanked only if the puzzle keeps exactly one solution (checked by the bitmask
solver below), so the solution is unique; such greedy removal can stall before `blanks` cells on some grids (a
4x4 with 12 blanks is rarely reachable): the generator tries a few removal orders and keeps the one with the
most blanks, and `difficulty["blank_cells"]` records how many there are. With `unique=False` exactly `blanks`
cells are blanked. Either way the checker accepts any valid completion that keeps the givens.

Knobs: `size` (4, 6 or 9: the problem size) and `blanks` (how many cells to fill: the difficulty).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from rlvr.envs.base import Problem, problem_rng
from rlvr.envs.puzzles.common import FORMAT_NOTE, PuzzleEnv, check_int, make_problem

BOXES = {4: (2, 2), 6: (2, 3), 9: (3, 3)}  # size -> (box rows, box columns)
REMOVAL_ORDERS = 4


def count_solutions(grid: list[int], size: int, limit: int = 2) -> int:
    """Number of completions of `grid` (0 = blank, row-major), counting up to `limit`."""
    br, bc = BOXES[size]
    full = (1 << (size + 1)) - 2
    rows, cols, boxes = [0] * size, [0] * size, [0] * size
    blanks = []
    for i, d in enumerate(grid):
        r, c = divmod(i, size)
        b = (r // br) * (size // bc) + c // bc
        if d:
            bit = 1 << d
            if (rows[r] | cols[c] | boxes[b]) & bit:
                return 0
            rows[r] |= bit
            cols[c] |= bit
            boxes[b] |= bit
        else:
            blanks.append((r, c, b))

    def search(left: list[tuple[int, int, int]]) -> int:
        if not left:
            return 1
        best, best_mask, best_n = 0, 0, 99
        for k, (r, c, b) in enumerate(left):
            mask = full & ~(rows[r] | cols[c] | boxes[b])
            n = bin(mask).count("1")
            if n < best_n:
                best, best_mask, best_n = k, mask, n
                if n <= 1:
                    break
        if best_n == 0:
            return 0
        r, c, b = left[best]
        rest = left[:best] + left[best + 1 :]
        found = 0
        while best_mask and found < limit:
            bit = best_mask & -best_mask
            best_mask ^= bit
            rows[r] |= bit
            cols[c] |= bit
            boxes[b] |= bit
            found += search(rest)
            rows[r] ^= bit
            cols[c] ^= bit
            boxes[b] ^= bit
        return found

    return min(search(blanks), limit)


def full_grid(size: int, rng: np.random.Generator) -> list[int]:
    """A random valid complete grid (row-major digits 1..size)."""
    br, bc = BOXES[size]
    base = np.array([[(bc * (r % br) + r // br + c) % size for c in range(size)] for r in range(size)])
    bands = [b * br + np.array(rng.permutation(br)) for b in rng.permutation(size // br)]
    stacks = [s * bc + np.array(rng.permutation(bc)) for s in rng.permutation(size // bc)]
    grid = base[np.concatenate(bands)][:, np.concatenate(stacks)]
    if br == bc and rng.random() < 0.5:
        grid = grid.T
    digits = rng.permutation(size) + 1
    return [int(digits[v]) for v in grid.ravel()]


@dataclasses.dataclass(frozen=True)
class SudokuConfig:
    size: int = 9
    blanks: int = 40
    unique: bool = True

    def __post_init__(self) -> None:
        if self.size not in BOXES:
            raise ValueError(f"Sudoku size must be one of {sorted(BOXES)}, got {self.size!r}")
        check_int("Sudoku", "blanks", self.blanks, 1, self.size * self.size - 1)
        if not isinstance(self.unique, bool):
            raise ValueError(f"Sudoku unique must be a bool, got {self.unique!r}")

    def problem(self, seed: int) -> Problem:
        rng = problem_rng(seed)
        n = self.size
        solution = full_grid(n, rng)
        puzzle = []
        for _ in range(REMOVAL_ORDERS if self.unique else 1):
            grid = list(solution)
            removed = 0
            for cell in rng.permutation(n * n):
                if removed == self.blanks:
                    break
                grid[cell] = 0
                if self.unique and count_solutions(grid, n) != 1:
                    grid[cell] = solution[cell]
                else:
                    removed += 1
            if grid.count(0) > puzzle.count(0):
                puzzle = grid
            if removed == self.blanks:
                break
        wrong = list(solution)
        cell = next(i for i, d in enumerate(puzzle) if d == 0)
        other = (cell // n) * n + (cell % n + 1) % n  # the next cell of the same row: a different digit
        wrong[cell], wrong[other] = wrong[other], wrong[cell]
        br, bc = BOXES[n]
        shown = "\n".join(" ".join(str(d) if d else "." for d in puzzle[r * n : r * n + n]) for r in range(n))
        prompt = (
            f"Solve this {n}x{n} sudoku. Fill every '.' with a digit 1-{n} so that each row, each column and each "
            f"{br}x{bc} box contains every digit 1-{n} exactly once; the given digits stay.\n\n{shown}\n\n"
            f"{FORMAT_NOTE}as the completed grid: {n * n} digits row by row, one row of {n} digits per line."
        )
        reference = {"size": n, "puzzle": "".join(map(str, puzzle))}
        difficulty = {**dataclasses.asdict(self), "blank_cells": puzzle.count(0)}
        return make_problem("sudoku", seed, prompt, reference, _rows(solution, n), _rows(wrong, n), difficulty)


def _rows(grid: list[int], n: int) -> str:
    return "\n" + "\n".join("".join(map(str, grid[r * n : r * n + n])) for r in range(n)) + "\n"


class SudokuEnv(PuzzleEnv):
    """Sudoku of `size` with `blanks` cells to fill; see the module docstring."""

    config_cls = SudokuConfig
