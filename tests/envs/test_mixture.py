"""rlvr/Mixture-v0: weighted components, per-problem verifiers, validation."""

from __future__ import annotations

import collections

import gymnasium as gym
import pytest

import rlvr  # noqa: F401
from rlvr.envs.base import derive_seed
from rlvr.envs.math import MathEnv
from rlvr.envs.mixture import MixtureEnv

IDS = {"rlvr/Math-v0": 3.0, "rlvr/STEM-v0": 1.0, "rlvr/Instruction-v0": 1.0}


def test_weights_and_per_problem_verifiers():
    env = gym.make("rlvr/Mixture-v0", envs=IDS, env_kwargs={"rlvr/STEM-v0": {"format": "numeric"}})
    counts = collections.Counter()
    for seed in range(300):
        _, info = env.reset(seed=seed)
        counts[env.unwrapped.problem.meta["component"]] += 1
        assert info["verifier"] in ("math", "numeric", "instruction")
        _, reward, *_ = env.step(env.unwrapped.reference_response())
        assert reward == 1.0
    assert 0.5 < counts["rlvr/Math-v0"] / 300 < 0.7
    assert counts["rlvr/STEM-v0"] > 30 and counts["rlvr/Instruction-v0"] > 30


def test_component_problem_uses_derived_seed():
    env = MixtureEnv(envs={"rlvr/Math-v0": 1.0}, env_kwargs={"rlvr/Math-v0": {"difficulty": 5}})
    prompt, _ = env.reset(seed=11)
    assert prompt == MathEnv(difficulty=5).reset(seed=derive_seed(11, 1))[0]


def test_vector_env_mixes_verifiers():
    venv = gym.make_vec("rlvr/Mixture-v0", num_envs=16, vectorization_mode="vector_entry_point", group_size=2, envs=IDS)
    _, infos = venv.reset(seed=0)
    assert len(set(infos["verifier"])) > 1
    solo = MixtureEnv(envs=IDS)
    answers = []
    for seed in infos["seed"]:
        solo.reset(seed=int(seed))
        answers.append(solo.reference_response())
    assert list(venv.step(answers)[1]) == [1.0] * 16


def test_puzzle_component_when_available():
    from rlvr.envs.puzzles import PUZZLE_IDS

    if "rlvr/Countdown-v0" not in PUZZLE_IDS:
        pytest.skip("rlvr/Countdown-v0 is not registered yet")
    env = MixtureEnv(envs={"rlvr/Math-v0": 0.5, "rlvr/Countdown-v0": 0.5})
    seen = set()
    for seed in range(20):
        _, info = env.reset(seed=seed)
        seen.add(info["verifier"])
        assert env.step(env.reference_response())[1] == 1.0
    assert len(seen) == 2


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"envs": {}}, "envs"),
        ({"envs": {"rlvr/Nope-v0": 1.0}}, "unknown env id 'rlvr/Nope-v0'"),
        ({"envs": {"rlvr/Math-v0": 0}}, "weight of 'rlvr/Math-v0' must be a positive"),
        ({"envs": {"rlvr/Math-v0": -1}}, "positive"),
        ({"envs": {"rlvr/Math-v0": float("nan")}}, "positive"),
        ({"envs": {"rlvr/Mixture-v0": 1.0}}, "itself"),
        ({"envs": {"rlvr/Math-v0": 1}, "env_kwargs": {"rlvr/STEM-v0": {}}}, "env_kwargs"),
        ({"envs": {"rlvr/Math-v0": 1}, "env_kwargs": {"rlvr/Math-v0": {"difficulty": 99}}}, "difficulty"),
    ],
)
def test_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MixtureEnv(**kwargs)
