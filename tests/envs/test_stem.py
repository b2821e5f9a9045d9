"""rlvr/STEM-v0: formats, distractors, difficulty, config validation."""

from __future__ import annotations

import re

import numpy as np
import pytest

from rlvr.envs.stem import _CONVERSIONS as CONVERSIONS
from rlvr.envs.stem import TOPICS, STEMEnv, fmt, molar_mass
from rlvr.verifiers import get_verifier


@pytest.mark.parametrize("topic", TOPICS)
@pytest.mark.parametrize("format_", ["choice", "numeric"])
def test_reference_and_negatives(topic, format_):
    env = STEMEnv(difficulty=6, topics=[topic], format=format_)
    for seed in range(12):
        _, info = env.reset(seed=seed)
        v = get_verifier(info["verifier"])
        assert info["verifier"] == ("choice" if format_ == "choice" else "numeric")
        assert v.verify(env.reference_response(), info["reference"]).correct
        for bad in env.negative_responses():
            assert v.verify(bad, info["reference"]).reward < 1


def test_choice_options_are_distinct_and_contain_the_answer():
    env = STEMEnv(format="choice", num_options=5)
    for seed in range(40):
        prompt, info = env.reset(seed=seed)
        options = info["reference"]["options"]
        assert len(options) == 5 and len(set(options)) == 5
        values = [float(o.split()[0]) for o in options]
        assert all(abs(a - b) > 0.02 * max(a, b) for i, a in enumerate(values) for b in values[i + 1 :])
        assert all(f"{letter}. {o}" in prompt for letter, o in zip("ABCDE", options, strict=True))


def test_numeric_tolerance_is_the_configured_one():
    env = STEMEnv(format="numeric", rel_tol=0.005)
    _, info = env.reset(seed=0)
    ref = info["reference"]
    assert ref["rel_tol"] == 0.005 and ref["unit"]
    v = get_verifier("numeric")
    assert v.verify(f"\\boxed{{{ref['value'] * 1.004}}}", ref).correct
    assert not v.verify(f"\\boxed{{{ref['value'] * 1.01}}}", ref).correct


def test_prompt_numbers_are_the_ones_used():
    """The numbers shown are exactly those computed with (no hidden digits)."""
    env = STEMEnv(format="numeric", topics=["units"], difficulty=9)
    for seed in range(20):
        prompt, info = env.reset(seed=seed)
        shown = re.search(r"Convert ([\d.]+)", prompt).group(1)
        x, value = float(shown), info["reference"]["value"]
        assert fmt(x) == shown
        assert any(abs(value - x * factor) <= 1e-12 * abs(value) for _, _, factor, _ in CONVERSIONS)


def test_difficulty_grows_circuits():
    def resistors(d: int) -> float:
        env = STEMEnv(difficulty=d, topics=["circuits"], format="numeric")
        return float(np.mean([env.reset(seed=s)[0].count("Ω") for s in range(30)]))

    assert resistors(1) < resistors(5) < resistors(10)


def test_molar_mass():
    assert molar_mass("H2O") == pytest.approx(18.015)
    assert molar_mass("Fe2O3") == pytest.approx(159.687)


def test_mixed_format_draws_both():
    env = STEMEnv(format="mixed")
    assert {env.reset(seed=s)[1]["verifier"] for s in range(20)} == {"choice", "numeric"}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"difficulty": 0}, "difficulty"),
        ({"topics": ["biology"]}, "topics"),
        ({"format": "essay"}, "format"),
        ({"rel_tol": 0}, "rel_tol"),
        ({"num_options": 1}, "num_options"),
    ],
)
def test_config_errors_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        STEMEnv(**kwargs)


def test_a_wrong_value_in_amperes_earns_nothing_when_the_answer_is_option_a():
    """Circuit options are currents ("0.207 A"): a response that states another option's value ends in the unit "A",
    which must not read as a vote for option A."""
    env = STEMEnv(format="choice", topics=["circuits"])
    checked = 0
    for seed in range(200):
        _, info = env.reset(seed=seed)
        ref = info["reference"]
        if ref["answer"] != "A" or not ref["options"][0].endswith(" A"):
            continue
        for wrong in ref["options"][1:]:
            env.reset(seed=seed)
            _, reward, *_ = env.step(f"Ohm's law gives I = V/R, so the current is {wrong}.")
            assert reward == 0.0, (seed, wrong)
        checked += 1
    assert checked >= 3
