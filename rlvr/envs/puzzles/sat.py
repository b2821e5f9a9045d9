"""rlvr/SAT-v0: find a satisfying assignment of a random k-CNF formula.

The generator plants an assignment and draws each clause as `clause_size` distinct variables with random signs;
a clause the planted assignment falsifies gets one literal's sign flipped, so the planted assignment satisfies
every clause. The checker accepts any satisfying assignment (`rlvr.verifiers.puzzles.sat`).

Knobs: `num_vars`, `num_clauses` (the problem size; the ratio num_clauses / num_vars sets how constrained it is:
random 3-SAT is hardest near 4.26) and `clause_size` (k).
"""

from __future__ import annotations

import dataclasses

from rlvr.envs.base import Problem, problem_rng
from rlvr.envs.puzzles.common import FORMAT_NOTE, PuzzleEnv, check_int, make_problem


def render_clause(clause: list[int]) -> str:
    return "(" + " OR ".join(f"x{lit}" if lit > 0 else f"NOT x{-lit}" for lit in clause) + ")"


@dataclasses.dataclass(frozen=True)
class SATConfig:
    num_vars: int = 8
    num_clauses: int = 24
    clause_size: int = 3

    def __post_init__(self) -> None:
        check_int("SAT", "num_vars", self.num_vars, 1, 500)
        check_int("SAT", "num_clauses", self.num_clauses, 1, 5000)
        check_int("SAT", "clause_size", self.clause_size, 1, min(10, self.num_vars))

    def problem(self, seed: int) -> Problem:
        rng = problem_rng(seed)
        n = self.num_vars
        planted = [bool(b) for b in rng.random(n) < 0.5]
        clauses = []
        for _ in range(self.num_clauses):
            variables = [int(v) + 1 for v in rng.choice(n, size=self.clause_size, replace=False)]
            clause = [v if s else -v for v, s in zip(variables, rng.random(self.clause_size) < 0.5, strict=True)]
            if not any((lit > 0) == planted[abs(lit) - 1] for lit in clause):
                i = int(rng.integers(len(clause)))
                clause[i] = -clause[i]
            clauses.append(clause)
        wrong = list(planted)
        for lit in clauses[0]:
            wrong[abs(lit) - 1] = lit < 0  # falsifies the first clause
        formula = "\n".join(render_clause(c) for c in clauses)
        prompt = (
            f"Find values (true or false) for the variables x1 to x{n} that make every one of these {len(clauses)} "
            f"clauses true (each clause is true when at least one of its literals is true):\n{formula}\n\n"
            f"{FORMAT_NOTE}giving every variable, for example <answer>x1=true, x2=false, ...</answer>."
        )

        def answer(values: list[bool]) -> str:
            return ", ".join(f"x{i + 1}={'true' if b else 'false'}" for i, b in enumerate(values))

        reference = {"num_vars": n, "clauses": clauses}
        return make_problem("sat", seed, prompt, reference, answer(planted), answer(wrong), dataclasses.asdict(self))


class SATEnv(PuzzleEnv):
    """Random k-SAT with a planted solution; see the module docstring."""

    config_cls = SATConfig
