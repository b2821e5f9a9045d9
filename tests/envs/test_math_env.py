"""rlvr/Math-v0: every kind's answers verify, difficulty really grows the problems, config errors name the field."""

from __future__ import annotations

import re

import gymnasium as gym
import numpy as np
import pytest

import rlvr  # noqa: F401
from rlvr.envs.math import KINDS, MathEnv
from rlvr.verifiers import get_verifier

MATH = get_verifier("math")


def _numbers(text: str) -> list[int]:
    return [int(x) for x in re.findall(r"\d+", text)]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("difficulty", [1, 5, 10])
def test_each_kind_reference_correct_and_wrong_rejected(kind, difficulty):
    env = MathEnv(difficulty=difficulty, kinds=[kind])
    for seed in range(15):
        prompt, info = env.reset(seed=seed)
        assert prompt.rstrip().endswith("\\boxed{}.")
        assert info["difficulty"] == {"difficulty": difficulty, "kind": kind}
        assert MATH.verify(env.reference_response(), info["reference"]).correct
        for bad in env.negative_responses():
            assert MATH.verify(bad, info["reference"]).reward < 1


@pytest.mark.parametrize("kind", KINDS)
def test_difficulty_grows_the_problem(kind):
    def size(d: int) -> float:
        env = MathEnv(difficulty=d, kinds=[kind])
        sizes = []
        for seed in range(40):
            prompt, _ = env.reset(seed=seed)
            nums = _numbers(prompt.split("\n\n")[0])
            sizes.append(len(nums) + sum(len(str(n)) for n in nums))
        return float(np.mean(sizes))

    assert size(1) < size(5) < size(10)


def test_answer_formats():
    env = MathEnv(difficulty=7, kinds=["linear"])
    _, info = env.reset(seed=0)
    assert re.fullmatch(r"\(-?\d+(, -?\d+){2}\)", info["reference"])  # 3 unknowns: an ordered tuple
    env = MathEnv(difficulty=4, kinds=["quadratic"])
    _, info = env.reset(seed=0)
    lo, hi = (int(x) for x in info["reference"].split(", "))
    assert lo < hi
    assert MATH.verify(f"\\boxed{{{hi}, {lo}}}", info["reference"]).correct  # roots in any order
    assert not MATH.verify(f"\\boxed{{{lo}}}", info["reference"]).correct  # one root is not enough
    env = MathEnv(difficulty=3, kinds=["fractions"])
    for seed in range(10):
        _, info = env.reset(seed=seed)
        assert re.fullmatch(r"-?\d+(/\d+)?", info["reference"])


def test_kinds_select_categories_and_seed_is_pure():
    env = gym.make("rlvr/Math-v0", kinds=["combinatorics", "number_theory"])
    seen = {env.reset(seed=s)[1]["difficulty"]["kind"] for s in range(30)}
    assert seen == {"combinatorics", "number_theory"}
    a, b = MathEnv(difficulty=6), MathEnv(difficulty=6)
    assert [a.reset(seed=s)[0] for s in range(10)] == [b.reset(seed=s)[0] for s in range(10)]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"difficulty": 0}, "difficulty"),
        ({"difficulty": 11}, "difficulty"),
        ({"difficulty": "hard"}, "difficulty"),
        ({"kinds": ["algebra"]}, "kinds"),
        ({"kinds": []}, "kinds"),
        ({"kinds": "arithmetic"}, "kinds"),
        ({"dataset": "x.jsonl", "kinds": ["linear"]}, "kinds"),
        ({"shuffle_seed": 3}, "dataset"),
    ],
)
def test_config_errors_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        MathEnv(**kwargs)


def test_dataset_mode(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text(
        '{"problem": "What is 2+2?", "answer": "4"}\n{"question": "1/2 + 1/4?", "solution": "\\\\boxed{3/4}"}\n'
    )
    env = gym.make("rlvr/Math-v0", dataset=str(path))
    prompt, info = env.reset(seed=1)
    assert info["problem_id"] == "train.jsonl:2" and info["reference"] == "3/4" and "1/2 + 1/4?" in prompt
    _, reward, *_ = env.step(env.unwrapped.reference_response())
    assert reward == 1.0
    env.reset(seed=0)
    for bad in env.unwrapped.negative_responses():
        env.reset(seed=0)
        assert env.step(bad)[1] < 1
