"""rlvr/Maze-v0: find a shortest path through a grid maze, written as moves.

The generator carves a perfect maze (randomised depth-first search over `rows` x `cols` rooms drawn on a
(2*rows+1) x (2*cols+1) character grid), then opens each remaining inner wall with probability `loop_prob`, which
adds loops and so several shortest paths. Start `S` and goal `G` are two different random rooms. A perfect maze
connects every room, so a path always exists; the reference path is a breadth-first shortest path. The checker
(`rlvr.verifiers.puzzles.maze`) accepts any path of legal moves from S to G of the shortest length.

Knobs: `rows`, `cols` (rooms; the grid is 2*rows+1 by 2*cols+1 characters) and `loop_prob`.
"""

from __future__ import annotations

import dataclasses

from rlvr.envs.base import Problem, problem_rng
from rlvr.envs.puzzles.common import FORMAT_NOTE, PuzzleEnv, check_float, check_int, make_problem
from rlvr.verifiers.puzzles.maze import shortest_path

OPPOSITE = {"U": "D", "D": "U", "L": "R", "R": "L"}


@dataclasses.dataclass(frozen=True)
class MazeConfig:
    rows: int = 4
    cols: int = 4
    loop_prob: float = 0.1

    def __post_init__(self) -> None:
        check_int("Maze", "rows", self.rows, 1, 30)
        check_int("Maze", "cols", self.cols, 1, 30)
        if self.rows * self.cols < 2:
            raise ValueError("Maze rows * cols must be at least 2 (start and goal are different rooms)")
        check_float("Maze", "loop_prob", self.loop_prob, 0.0, 1.0)

    def problem(self, seed: int) -> Problem:
        rng = problem_rng(seed)
        h, w = 2 * self.rows + 1, 2 * self.cols + 1
        grid = [["#"] * w for _ in range(h)]
        start_room = (int(rng.integers(self.rows)), int(rng.integers(self.cols)))
        seen = {start_room}
        stack = [start_room]
        grid[2 * start_room[0] + 1][2 * start_room[1] + 1] = "."
        while stack:  # iterative randomised DFS: carve into an unvisited neighbour, backtrack when there is none
            r, c = stack[-1]
            options = [
                (r + dr, c + dc)
                for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1))
                if 0 <= r + dr < self.rows and 0 <= c + dc < self.cols and (r + dr, c + dc) not in seen
            ]
            if not options:
                stack.pop()
                continue
            nr, nc = options[int(rng.integers(len(options)))]
            grid[r + nr + 1][c + nc + 1] = "."
            grid[2 * nr + 1][2 * nc + 1] = "."
            seen.add((nr, nc))
            stack.append((nr, nc))
        for y in range(1, h - 1):
            for x in range(1, w - 1):
                if grid[y][x] == "#" and (y % 2) != (x % 2) and rng.random() < self.loop_prob:
                    grid[y][x] = "."
        rooms = rng.choice(self.rows * self.cols, size=2, replace=False)
        (sy, sx), (gy, gx) = (divmod(int(k), self.cols) for k in rooms)
        grid[2 * sy + 1][2 * sx + 1] = "S"
        grid[2 * gy + 1][2 * gx + 1] = "G"
        lines = ["".join(row) for row in grid]
        path = shortest_path(lines)
        if path is None:
            raise RuntimeError("Maze: generated maze has no path (generator bug)")
        wrong = path + [OPPOSITE[path[-1]], path[-1]]  # reaches G, but two moves longer than needed
        drawn = "\n".join(lines)
        prompt = (
            f"Find a shortest path from S to G in this maze. '#' is a wall, '.' is open floor; each move goes one "
            f"character up (U), down (D), left (L) or right (R) and may not enter a wall.\n\n{drawn}\n\n"
            f"{FORMAT_NOTE}as the list of moves, comma-separated, for example <answer>R,R,D,L</answer>."
        )
        reference = {"grid": lines}
        difficulty = {**dataclasses.asdict(self), "path_length": len(path)}
        return make_problem("maze", seed, prompt, reference, ",".join(path), ",".join(wrong), difficulty)


class MazeEnv(PuzzleEnv):
    """Grid maze, shortest path as moves; see the module docstring."""

    config_cls = MazeConfig
