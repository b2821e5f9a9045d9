"""Every registered verifier against hostile model output: never raises, never `error`, never `correct`.

A verifier added to the registry without a sample reference here fails `test_every_verifier_is_covered`,
so none escapes the fuzz. (The code verifier has its own sandboxed fuzz in test_code.py.)
"""

from __future__ import annotations

import gymnasium as gym
import pytest

import rlvr  # noqa: F401 - registers the env ids
from rlvr.verifiers import _BUILTIN, available_verifiers, get_verifier

from ..conftest import require

PUZZLE_ENVS = {
    "puzzle/countdown": "rlvr/Countdown-v0",
    "puzzle/sudoku": "rlvr/Sudoku-v0",
    "puzzle/knights_knaves": "rlvr/KnightsKnaves-v0",
    "puzzle/graph_coloring": "rlvr/GraphColoring-v0",
    "puzzle/zebra": "rlvr/Zebra-v0",
    "puzzle/cryptarithm": "rlvr/Cryptarithm-v0",
    "puzzle/sat": "rlvr/SAT-v0",
    "puzzle/maze": "rlvr/Maze-v0",
    "reasoning_gym": "rlvr/ReasoningGym-v0",
}
REFERENCES = {
    "math": "3",
    "choice": {"answer": "B", "options": ["red", "blue", "green", "grey"]},
    "instruction": {"constraints": [{"kind": "word_count", "min": 5}, {"kind": "no_commas"}], "mode": "all"},
    "numeric": {"value": 12.5, "rel_tol": 0.01, "unit": "m/s"},
    "parity": {"bits": "1011"},
    "guess": {"target": "c", "letters": "abcdefg"},
}
SEPARATE = {"code"}  # fuzzed with real sandboxes in test_code.py

HOSTILE = [
    "",
    "\0" * 1000,
    "9^{9^{9^9}}",
    r"\boxed{9^{9^{9^9}}}",
    "<answer>9**9**9**9</answer>",
    "{" * 10_000,
    "(" * 10_000 + "1" + ")" * 10_000,
    r"\boxed{" * 5_000,
    "x" * 1_000_000,
    "<answer>" + "1" * 100_000 + "</answer>",
    r"\input{/etc/passwd}",
    "__import__('os').system('touch /tmp/rlvr-pwned')",
    "<answer>__import__('os').system('touch /tmp/rlvr-pwned')</answer>",
    "１２３ ١٢٣ 𝟏𝟐𝟑",
    "<answer></answer><answer>\0</answer>",
    "\ud800 lone surrogate",
]


def _reference(name: str):
    if name in REFERENCES:
        return REFERENCES[name]
    env_id = PUZZLE_ENVS[name]
    if name == "reasoning_gym":
        require("reasoning_gym")
    env = gym.make(env_id)
    env.reset(seed=0)
    return env.unwrapped.problem.reference


def test_every_verifier_is_covered():
    """Every verifier rlvr ships (test-only ones that tests register are not ours to fuzz here)."""
    shipped = {name for name in available_verifiers() if _BUILTIN[name].startswith("rlvr.")}
    assert shipped - SEPARATE == set(REFERENCES) | set(PUZZLE_ENVS)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", sorted(set(REFERENCES) | set(PUZZLE_ENVS)))
def test_hostile_output_never_raises_errors_or_passes(name):
    verifier = get_verifier(name)
    reference = _reference(name)
    for text in HOSTILE:
        verdict = verifier.verify(text, reference)
        assert verdict.status not in ("correct", "error"), (name, text[:40], verdict)
        assert 0.0 <= verdict.reward < 1.0
    assert not __import__("os").path.exists("/tmp/rlvr-pwned")
