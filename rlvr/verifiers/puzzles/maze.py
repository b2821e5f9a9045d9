"""Maze checker: a path of moves that walks through open cells from S to G, with the shortest possible length.

Reference: `{"grid": [row, ...]}`, rows of equal length over `#` (wall), `.` (open), `S` (start, once) and
`G` (goal, once). The shortest length is computed here by breadth-first search, so any shortest path is accepted.

Answer: moves U, D, L, R, separated by commas, spaces, newlines or arrows (`R, R, D`, `R R D`, `R->R->D`);
also `RRD` run together, and the words up / down / left / right (case-insensitive). Anything else is unparsed.
Incorrect details name the first illegal move (into a wall or off the grid), a path that ends away from G, or a
path longer than the shortest.

Steps (`verify_steps`): one per move, 1.0 while every move so far is legal and brings the walker one move closer to G
(so exactly the moves of shortest paths score 1.0; after the first detour or illegal move every step scores 0.0).
"""

from __future__ import annotations

import re
from collections import deque
from typing import Any

from rlvr.verifiers.base import Verdict
from rlvr.verifiers.puzzles.common import Answer, PuzzleVerifier, Token, correct, incorrect, step, tokens, unparsed
from rlvr.verifiers.steps import StepScore

MOVES = {"U": (-1, 0), "D": (1, 0), "L": (0, -1), "R": (0, 1)}
_WORDS = {"up": "U", "down": "D", "left": "L", "right": "R"}
_WORD = re.compile(r"[A-Za-z]+")
_SEPARATORS = re.compile(r"^[\s,;.\-–>→|/\[\]()'\"]*$")


def _find(grid: list[str], ch: str) -> tuple[int, int]:
    spots = [(y, row.index(ch)) for y, row in enumerate(grid) if ch in row]
    if len(spots) != 1 or sum(row.count(ch) for row in grid) != 1:
        raise ValueError(f"the grid needs exactly one {ch!r}")
    return spots[0]


def shortest_path(grid: list[str]) -> list[str] | None:
    """A shortest list of moves from S to G (breadth-first search), or None when G cannot be reached."""
    start, goal = _find(grid, "S"), _find(grid, "G")
    prev: dict[tuple[int, int], tuple[tuple[int, int], str] | None] = {start: None}
    queue = deque([start])
    while queue:
        y, x = queue.popleft()
        if (y, x) == goal:
            path = []
            while prev[(y, x)] is not None:
                (y, x), move = prev[(y, x)]
                path.append(move)
            return path[::-1]
        for move, (dy, dx) in MOVES.items():
            ny, nx = y + dy, x + dx
            if 0 <= ny < len(grid) and 0 <= nx < len(grid[ny]) and grid[ny][nx] != "#" and (ny, nx) not in prev:
                prev[(ny, nx)] = ((y, x), move)
                queue.append((ny, nx))
    return None


def distances(grid: list[str], goal: tuple[int, int]) -> dict[tuple[int, int], int]:
    """Moves from every reachable open cell to `goal` (breadth-first search from the goal)."""
    dist = {goal: 0}
    queue = deque([goal])
    while queue:
        y, x = queue.popleft()
        for dy, dx in MOVES.values():
            ny, nx = y + dy, x + dx
            if 0 <= ny < len(grid) and 0 <= nx < len(grid[ny]) and grid[ny][nx] != "#" and (ny, nx) not in dist:
                dist[(ny, nx)] = dist[(y, x)] + 1
                queue.append((ny, nx))
    return dist


class MazeVerifier(PuzzleVerifier):
    name = "puzzle/maze"

    def parse_reference(self, reference: Any) -> tuple[list[str], tuple[int, int], tuple[int, int], int]:
        grid = [str(row) for row in reference["grid"]]
        if not grid or len({len(row) for row in grid}) != 1 or set("".join(grid)) - set("#.SG"):
            raise ValueError("grid rows must have equal length and hold only # . S G")
        path = shortest_path(grid)
        if path is None:
            raise ValueError("G cannot be reached from S")
        return grid, _find(grid, "S"), _find(grid, "G"), len(path)

    def _moves(self, answer: Answer) -> list[tuple[str, Token]] | str:
        words = tokens(answer, _WORD)
        gaps = [answer.text[: words[0].start - answer.offset]] if words else [answer.text]
        gaps += [
            answer.text[a.end - answer.offset : b.start - answer.offset] for a, b in zip(words, words[1:], strict=False)
        ]
        gaps += [answer.text[words[-1].end - answer.offset :]] if words else []
        bad = next((g for g in gaps if not _SEPARATORS.match(g)), None)
        if bad is not None:
            return f"unexpected {bad.strip()[:20]!r} between moves"
        out = []
        for tok in words:
            word = tok.text.casefold()
            if word in _WORDS:
                out.append((_WORDS[word], tok))
            elif set(word) <= set("udlr"):
                out += [(ch.upper(), Token(ch, tok.start + i, tok.start + i + 1)) for i, ch in enumerate(tok.text)]
            else:
                return f"{tok.text[:20]!r} is not a move (U, D, L, R)"
        return out

    def check(self, answer: Answer, ref: tuple[list[str], tuple[int, int], tuple[int, int], int]) -> Verdict:
        grid, (y, x), goal, best = ref
        moves = self._moves(answer)
        if isinstance(moves, str):
            return unparsed(answer.text.strip(), moves)
        text = ",".join(m for m, _ in moves)
        if not moves:
            return unparsed(text, "no moves")
        for i, (m, _) in enumerate(moves):
            y, x = y + MOVES[m][0], x + MOVES[m][1]
            if not (0 <= y < len(grid) and 0 <= x < len(grid[0])) or grid[y][x] == "#":
                return incorrect(text, f"move {i + 1} ({m}) goes into a wall")
        if (y, x) != goal:
            return incorrect(text, f"the path ends at row {y}, column {x}, not at G")
        if len(moves) != best:
            return incorrect(text, f"the path has {len(moves)} moves; the shortest has {best}")
        return correct(text, f"a shortest path ({best} moves)")

    def steps(self, answer: Answer, ref: tuple[list[str], tuple[int, int], tuple[int, int], int]) -> list[StepScore]:
        grid, (y, x), goal, _ = ref
        moves = self._moves(answer)
        if isinstance(moves, str):
            return []
        dist = distances(grid, goal)
        out, ok = [], True
        for m, tok in moves:
            before = dist.get((y, x))
            y, x = y + MOVES[m][0], x + MOVES[m][1]
            ok = ok and before is not None and dist.get((y, x)) == before - 1
            out.append(step(tok, ok))
        return out
