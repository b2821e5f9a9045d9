"""Verifiers: response text + reference -> Verdict.

`get_verifier(name)` imports the verifier's module only when it is asked for, so
`import rlvr.verifiers` stays light (sympy alone costs a few hundred milliseconds).
"""

from __future__ import annotations

import importlib
from typing import Any

from rlvr.verifiers.base import STATUSES, Verdict, Verifier

# name -> "module:Class"; modules register nothing at import time, this table is the registry.
_BUILTIN: dict[str, str] = {
    "math": "rlvr.verifiers.math:MathVerifier",
    "choice": "rlvr.verifiers.choice:ChoiceVerifier",
    "instruction": "rlvr.verifiers.instruction:InstructionVerifier",
    "code": "rlvr.verifiers.code:CodeVerifier",
    "numeric": "rlvr.verifiers.numeric:NumericVerifier",
    "reasoning_gym": "rlvr.verifiers.reasoning_gym:ReasoningGymVerifier",
    "puzzle/countdown": "rlvr.verifiers.puzzles.countdown:CountdownVerifier",
    "puzzle/sudoku": "rlvr.verifiers.puzzles.sudoku:SudokuVerifier",
    "puzzle/knights_knaves": "rlvr.verifiers.puzzles.knights_knaves:KnightsKnavesVerifier",
    "puzzle/graph_coloring": "rlvr.verifiers.puzzles.graph_coloring:GraphColoringVerifier",
    "puzzle/zebra": "rlvr.verifiers.puzzles.zebra:ZebraVerifier",
    "puzzle/cryptarithm": "rlvr.verifiers.puzzles.cryptarithm:CryptarithmVerifier",
    "puzzle/sat": "rlvr.verifiers.puzzles.sat:SATVerifier",
    "puzzle/maze": "rlvr.verifiers.puzzles.maze:MazeVerifier",
    "parity": "rlvr.verifiers.parity:ParityVerifier",
    "guess": "rlvr.verifiers.guess:GuessVerifier",
}


def register(name: str, target: str) -> None:
    """Register a verifier class by import path ("package.module:Class") under `name`."""
    _BUILTIN[name] = target


def available_verifiers() -> list[str]:
    return sorted(_BUILTIN)


def get_verifier(name: str, **options: Any) -> Verifier:
    """Return a verifier instance; `options` go to its constructor (e.g. `mode="all"` for code)."""
    if name not in _BUILTIN:
        raise ValueError(f"unknown verifier {name!r}; available: {', '.join(available_verifiers()) or 'none'}")
    module, cls = _BUILTIN[name].split(":")
    return getattr(importlib.import_module(module), cls)(**options)


def __getattr__(name: str) -> Any:
    # `VerifierPool(name)` is the isolated twin of `get_verifier(name)`; imported on first use only.
    if name == "VerifierPool":
        from rlvr.verifiers.pool import VerifierPool

        return VerifierPool
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["STATUSES", "Verdict", "Verifier", "VerifierPool", "available_verifiers", "get_verifier", "register"]
