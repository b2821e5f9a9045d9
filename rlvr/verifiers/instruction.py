"""Instruction-following verifier: IFEval-style constraints on the form of a response, composed into one reward.

Reference (a dict, a JSON string of one, or a bare list of constraints meaning mode "fraction"):

    {"constraints": [{"kind": "word_count", "min": 50, "max": 200}, {"kind": "no_commas"}], "mode": "fraction"}

- mode "fraction" (default): reward = satisfied / total; mode "all": reward 1 when all are satisfied, else 0.
- status `correct` only when every constraint is satisfied, `incorrect` otherwise; detail names the failed ones.
- An empty or whitespace-only response is `unparsed` with reward 0: there is no answer to check, and several
  constraints (no_commas, keywords_excluded, a word maximum) would otherwise pass vacuously.
- A malformed reference (unknown kind, bad or missing params, unknown mode) is a data/config bug, not the model's
  fault: `parse_constraints` raises ValueError naming the kind and field, and `verify` returns status `error`.

The kinds live in `rlvr.verifiers.constraints` (see `CONSTRAINTS`); `describe_constraints` turns a reference into
the instruction sentences for a prompt. Constraints check form only: they cannot tell whether the content is any
good, so a garbage response can satisfy purely formal constraints (e.g. all_lowercase); pair them with content
constraints (keywords) where that matters.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from rlvr.verifiers.base import Verdict, Verifier
from rlvr.verifiers.constraints import CONSTRAINTS, get_constraint

MODES = ("fraction", "all")


@dataclasses.dataclass(frozen=True)
class ParsedConstraint:
    kind: str
    params: dict[str, Any]

    def check(self, response: str) -> bool:
        return CONSTRAINTS[self.kind]._check(response, **self.params)

    def describe(self) -> str:
        return CONSTRAINTS[self.kind]._describe(**self.params)

    def label(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.params.items() if v is not None)
        return f"{self.kind}({shown})" if shown else self.kind


@dataclasses.dataclass(frozen=True)
class InstructionReference:
    constraints: tuple[ParsedConstraint, ...]
    mode: str = "fraction"


def parse_constraints(reference: Any) -> InstructionReference:
    """Validate a reference; raises ValueError naming the entry, kind and field on anything malformed."""
    if isinstance(reference, InstructionReference):
        return reference
    if isinstance(reference, str):
        try:
            reference = json.loads(reference)
        except ValueError as e:
            raise ValueError(f"instruction reference is a string but not JSON: {e}") from None
    if isinstance(reference, list):
        reference = {"constraints": reference}
    if not isinstance(reference, dict):
        raise ValueError(f"instruction reference must be a dict with 'constraints', got {type(reference).__name__}")
    unknown = set(reference) - {"constraints", "mode"}
    if unknown:
        raise ValueError(f"instruction reference: unknown field(s) {sorted(unknown)}; allowed: constraints, mode")
    mode = reference.get("mode", "fraction")
    if mode not in MODES:
        raise ValueError(f"instruction reference: mode must be one of {MODES}, got {mode!r}")
    items = reference.get("constraints")
    if not isinstance(items, list) or not items:
        raise ValueError("instruction reference: 'constraints' must be a non-empty list")
    parsed = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or "kind" not in item:
            raise ValueError(f"instruction reference: constraints[{i}] must be a dict with a 'kind', got {item!r}")
        params = {k: v for k, v in item.items() if k != "kind"}
        try:
            cls = get_constraint(item["kind"])
            parsed.append(ParsedConstraint(cls.kind, cls.validate(params)))
        except ValueError as e:
            raise ValueError(f"instruction reference: constraints[{i}]: {e}") from None
    return InstructionReference(tuple(parsed), mode)


def describe_constraints(reference: Any) -> list[str]:
    """The instruction sentences for a prompt, one per constraint, in order."""
    return [c.describe() for c in parse_constraints(reference).constraints]


class InstructionVerifier(Verifier):
    """Checks every constraint of the reference on the whole response (see module docstring for statuses)."""

    name = "instruction"

    def _verify(self, response: str, reference: Any) -> Verdict:
        try:
            ref = parse_constraints(reference)
        except ValueError as e:
            return Verdict("error", 0.0, None, f"bad reference (data bug, not the model's fault): {e}"[:500])
        if not isinstance(response, str) or not response.strip():
            return Verdict("unparsed", 0.0, None, "empty response")
        failed = [c for c in ref.constraints if not c.check(response)]
        total, passed = len(ref.constraints), len(ref.constraints) - len(failed)
        if not failed:
            return Verdict("correct", 1.0, None, f"all {total} constraints satisfied")
        reward = passed / total if ref.mode == "fraction" else 0.0
        names = "; ".join(c.label() for c in failed)
        return Verdict("incorrect", reward, None, f"failed {len(failed)}/{total}: {names}"[:500])
