"""rlvr/GraphColoring-v0: colour the nodes of a graph with k colours so that no edge joins two nodes of one colour.

The generator plants a colouring (each node a random colour of the k) and draws each edge between differently
coloured nodes with probability `edge_prob`, so the planted colouring is valid. Any valid colouring is accepted
(`rlvr.verifiers.puzzles.graph_coloring`); permuting the colours of one always gives another.

Knobs: `num_nodes` (2..60: the problem size), `num_colors` (2..8) and `edge_prob` (density; more edges constrain
more).
"""

from __future__ import annotations

import dataclasses

from rlvr.envs.base import Problem, problem_rng
from rlvr.envs.puzzles.common import FORMAT_NOTE, PuzzleEnv, check_float, check_int, make_problem

COLORS = ("red", "green", "blue", "yellow", "purple", "orange", "pink", "brown")


@dataclasses.dataclass(frozen=True)
class GraphColoringConfig:
    num_nodes: int = 8
    num_colors: int = 3
    edge_prob: float = 0.5

    def __post_init__(self) -> None:
        check_int("GraphColoring", "num_nodes", self.num_nodes, 2, 60)
        check_int("GraphColoring", "num_colors", self.num_colors, 2, len(COLORS))
        check_float("GraphColoring", "edge_prob", self.edge_prob, 0.0, 1.0)

    def problem(self, seed: int) -> Problem:
        rng = problem_rng(seed)
        n, k = self.num_nodes, self.num_colors
        colors = list(COLORS[:k])
        planted = [int(c) for c in rng.integers(k, size=n)]
        if planted[0] == planted[1]:
            planted[1] = (planted[0] + 1) % k  # so that there is an edge to break for the wrong answer
        edges = [
            [i, j]
            for i in range(n)
            for j in range(i + 1, n)
            if planted[i] != planted[j] and rng.random() < self.edge_prob
        ]
        if not edges:
            edges = [[0, 1]]
        wrong = list(planted)
        u, v = edges[int(rng.integers(len(edges)))]
        wrong[u] = wrong[v]
        prompt = (
            f"Colour the {n} nodes (numbered 0 to {n - 1}) of this undirected graph with the colours "
            f"{', '.join(colors)} so that no edge joins two nodes of the same colour. Not every colour has to be "
            f"used.\nEdges: {', '.join(f'{a}-{b}' for a, b in edges)}\n\n{FORMAT_NOTE}as the colour of each node in "
            f"node order, comma-separated: <answer>{', '.join(colors[i % k] for i in range(min(n, 3)))}, ...</answer>."
        )
        reference = {"num_nodes": n, "colors": colors, "edges": edges}
        answer, bad = (", ".join(colors[c] for c in cs) for cs in (planted, wrong))
        return make_problem("graph_coloring", seed, prompt, reference, answer, bad, dataclasses.asdict(self))


class GraphColoringEnv(PuzzleEnv):
    """Graph k-colouring; see the module docstring."""

    config_cls = GraphColoringConfig
