"""SAT checker: any assignment of every variable that makes every clause true.

Reference: `{"num_vars": n, "clauses": [[lit, ...], ...]}`, a literal `v` (> 0) meaning x_v and `-v` NOT x_v.
Answer: `x1=true, x2=false, ...` (also `x1: T`, `x1 = 1`, `x1 is false`; variable names case-insensitive,
values true/false/t/f/1/0). Every variable must be given; a variable given both values is a hedge (incorrect);
an unknown variable or value is unparsed.

Steps (`verify_steps`): one per assignment in answer order, 1.0 while no clause has all its literals made false
by the assignments so far.
"""

from __future__ import annotations

import re
from typing import Any

from rlvr.verifiers.base import Verdict
from rlvr.verifiers.puzzles.common import Answer, PuzzleVerifier, correct, incorrect, parse_pairs, step, unparsed
from rlvr.verifiers.steps import StepScore

_VAR = re.compile(r"^x_?\{?(\d{1,6})\}?$")
_VALUES = {"true": True, "t": True, "1": True, "false": False, "f": False, "0": False}


class SATVerifier(PuzzleVerifier):
    name = "puzzle/sat"

    def parse_reference(self, reference: Any) -> tuple[int, list[list[int]]]:
        n = int(reference["num_vars"])
        clauses = [[int(lit) for lit in c] for c in reference["clauses"]]
        if any(not 1 <= abs(lit) <= n for c in clauses for lit in c):
            raise ValueError("literal out of range")
        return n, clauses

    def _read(self, answer: Answer, n: int) -> list[tuple[int, bool, Any]] | str:
        pairs = parse_pairs(answer)
        if isinstance(pairs, str):
            return pairs
        out = []
        for key, value, tok in pairs:
            m = _VAR.match(key.replace(" ", ""))
            if m is None or not 1 <= int(m.group(1)) <= n:
                return f"{key[:40]!r} is not one of the variables x1..x{n}"
            if value not in _VALUES:
                return f"{key}: {value[:40]!r} is not true or false"
            out.append((int(m.group(1)), _VALUES[value], tok))
        return out

    def check(self, answer: Answer, ref: tuple[int, list[list[int]]]) -> Verdict:
        n, clauses = ref
        read = self._read(answer, n)
        if isinstance(read, str):
            return unparsed(answer.text.strip(), read)
        values: dict[int, bool] = {}
        for var, value, _ in read:
            if values.get(var, value) != value:
                return incorrect(answer.text.strip(), f"hedge: x{var} is given both values")
            values[var] = value
        text = ", ".join(f"x{v}={'true' if values[v] else 'false'}" for v in sorted(values))
        missing = [v for v in range(1, n + 1) if v not in values]
        if missing:
            return incorrect(
                text, f"no value for x{missing[0]}" + (f" and {len(missing) - 1} more" if missing[1:] else "")
            )
        for i, clause in enumerate(clauses):
            if not any(values[abs(lit)] == (lit > 0) for lit in clause):
                return incorrect(text, f"clause {i + 1} is false")
        return correct(text, "every clause is true")

    def steps(self, answer: Answer, ref: tuple[int, list[list[int]]]) -> list[StepScore]:
        n, clauses = ref
        read = self._read(answer, n)
        if isinstance(read, str):
            return []
        values: dict[int, bool] = {}
        by_var: dict[int, list[list[int]]] = {}
        for c in clauses:
            for lit in c:
                by_var.setdefault(abs(lit), []).append(c)
        out, ok = [], True
        for var, value, tok in read:
            if values.get(var, value) != value:
                ok = False
            values[var] = value
            # a clause is falsified once every literal in it is assigned and false
            ok = ok and not any(all(values.get(abs(lit)) == (lit < 0) for lit in c) for c in by_var.get(var, ()))
            out.append(step(tok, ok))
        return out
