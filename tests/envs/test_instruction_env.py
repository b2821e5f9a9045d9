"""rlvr/Instruction-v0: compatible constraints, the constructive writer, modes, config validation."""

from __future__ import annotations

import collections

import pytest

from rlvr.envs.instruction import CONFLICTS, KINDS, InstructionEnv, compatible
from rlvr.verifiers import get_verifier
from rlvr.verifiers.constraints import CONSTRAINTS
from rlvr.verifiers.instruction import describe_constraints

V = get_verifier("instruction")


@pytest.mark.parametrize("num_constraints", [1, 3, 6, 8])
def test_solution_satisfies_every_sampled_constraint(num_constraints):
    env = InstructionEnv(num_constraints=num_constraints)
    for seed in range(25):
        prompt, info = env.reset(seed=seed)
        kinds = [c["kind"] for c in info["reference"]["constraints"]]
        assert len(kinds) == len(set(kinds)) == num_constraints
        assert compatible(kinds)
        assert V.verify(env.reference_response(), info["reference"]).correct
        for sentence in describe_constraints(info["reference"]):
            assert sentence in prompt


def test_every_kind_is_sampled_and_each_writes_correctly():
    seen = collections.Counter()
    for kind in KINDS:
        env = InstructionEnv(num_constraints=1, kinds=[kind])
        for seed in range(10):
            _, info = env.reset(seed=seed)
            seen[info["reference"]["constraints"][0]["kind"]] += 1
            assert V.verify(env.reference_response(), info["reference"]).correct
    assert set(seen) == set(CONSTRAINTS)


def test_conflicting_kinds_never_together():
    env = InstructionEnv(num_constraints=8)
    for seed in range(100):
        kinds = [c["kind"] for c in env.reset(seed=seed)[1]["reference"]["constraints"]]
        assert not {"all_lowercase", "all_uppercase"} <= set(kinds)
        assert not ({"json_format"} <= set(kinds) and {"paragraph_count", "title", "quotation"} & set(kinds))
    assert frozenset(("all_lowercase", "all_uppercase")) in CONFLICTS


def test_num_constraints_range_and_modes():
    env = InstructionEnv(num_constraints=(2, 4), mode="all")
    counts = {len(env.reset(seed=s)[1]["reference"]["constraints"]) for s in range(40)}
    assert counts == {2, 3, 4}
    _, info = env.reset(seed=0)
    assert info["reference"]["mode"] == "all"
    wrong = env.negative_responses()[1]
    assert V.verify(wrong, info["reference"]).reward == 0.0


def test_fraction_mode_gives_partial_credit():
    env = InstructionEnv(num_constraints=4, mode="fraction")
    rewards = set()
    for seed in range(30):
        _, info = env.reset(seed=seed)
        rewards |= {V.verify(r, info["reference"]).reward for r in env.negative_responses()[1:]}
    assert any(0 < r < 1 for r in rewards)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"num_constraints": 0}, "num_constraints"),
        ({"num_constraints": 9}, "num_constraints"),
        ({"num_constraints": (3, 2)}, "num_constraints"),
        ({"mode": "most"}, "mode"),
        ({"kinds": ["rhyme"]}, "kinds"),
        ({"kinds": []}, "kinds"),
    ],
)
def test_config_errors_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        InstructionEnv(**kwargs)
