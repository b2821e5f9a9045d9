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


def test_list_form_mixes_one_env_with_different_settings():
    env = MixtureEnv(envs=[
        {"id": "rlvr/Math-v0", "kwargs": {"difficulty": 1}, "weight": 1},
        {"id": "rlvr/Math-v0", "kwargs": {"difficulty": 9}, "weight": 3, "name": "hard"},
        {"id": "rlvr/Countdown-v0"},
    ])  # fmt: skip
    assert list(env.components) == ["rlvr/Math-v0[difficulty=1]", "hard", "rlvr/Countdown-v0"]
    seen = {}
    for seed in range(200):
        p = env.source.problem(seed)
        seen.setdefault(p.meta["component"], set()).add(p.difficulty.get("difficulty"))
    assert seen["rlvr/Math-v0[difficulty=1]"] == {1} and seen["hard"] == {9}
    assert len(seen["hard"]) and len(seen) == 3
    # the mapping form is the list form with ids as names
    assert list(MixtureEnv(envs={"rlvr/Math-v0": 1.0, "rlvr/STEM-v0": 1.0}).components) == [
        "rlvr/Math-v0",
        "rlvr/STEM-v0",
    ]


@pytest.mark.parametrize(
    "envs, message",
    [
        ([{"id": "rlvr/Math-v0"}, {"id": "rlvr/Math-v0"}], "component names must differ"),
        ([{"id": "rlvr/Math-v0", "weights": 2}], r"envs\[0\] must be \{id, kwargs"),
        ([{"id": "rlvr/Math-v0", "weight": -1}], "must be a positive number"),
        ([{"id": "rlvr/Math-v0", "kwargs": [1]}], "must be a dict of constructor arguments"),
        ([], "at least one env"),
        ("rlvr/Math-v0", "must map env ids to weights, or list"),
    ],
)
def test_list_form_errors_say_what_is_wrong(envs, message):
    with pytest.raises(ValueError, match=message):
        MixtureEnv(envs=envs)


@pytest.mark.reasoning_gym
def test_several_reasoning_gym_tasks_in_one_mixture():
    env = MixtureEnv(envs=[{"id": "rlvr/ReasoningGym-v0", "kwargs": {"task": t}} for t in ("gcd", "lcm")])
    assert set(env.components) == {"rlvr/ReasoningGym-v0[task=gcd]", "rlvr/ReasoningGym-v0[task=lcm]"}
    tasks = {env.source.problem(s).meta["component"] for s in range(20)}
    assert len(tasks) == 2


def test_each_component_keeps_its_own_turn_limit():
    """A component's `max_turns` acts: a 2-turn Guess problem is truncated after 2 wrong guesses even when another
    component allows 4 (it ran to the mixture's largest limit, 4)."""
    envs = [
        {"id": "rlvr/Guess-v0", "kwargs": {"letters": 7, "max_turns": 2}, "name": "short"},
        {"id": "rlvr/Guess-v0", "kwargs": {"letters": 7, "max_turns": 4}, "name": "long"},
    ]
    env = gym.make("rlvr/Mixture-v0", envs=envs)
    venv = gym.make_vec("rlvr/Mixture-v0", num_envs=8, vectorization_mode="vector_entry_point", envs=envs)
    limits = {"short": 2, "long": 4}
    seen = set()
    for seed in range(12):
        _, info = env.reset(seed=seed)
        component, target = env.unwrapped.problem.meta["component"], info["reference"]["target"]
        wrong = "a" if target != "a" else "b"
        truncated, turns = False, 0
        while not truncated:
            *_, terminated, truncated, _ = env.step(wrong)
            turns += 1
            assert not terminated
        assert turns == limits[component], (seed, component)
        seen.add(component)
    assert seen == {"short", "long"}

    _, infos = venv.reset(seed=0)
    components = [venv.unwrapped.problems[i].meta["component"] for i in range(8)]
    wrongs = ["a" if r["target"] != "a" else "b" for r in infos["reference"]]
    ended_at = [0] * 8
    for turn in range(1, 5):
        *_, truncated, _ = venv.step(wrongs)
        for i in range(8):
            if truncated[i]:
                ended_at[i] = turn
    assert ended_at == [limits[c] for c in components]
    assert set(components) == {"short", "long"}
