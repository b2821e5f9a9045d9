"""rlvr/ReasoningGym-v0 and the "reasoning_gym" verifier (skipped when reasoning-gym is not installed)."""

from __future__ import annotations

import json
import sys

import pytest

from rlvr.envs.reasoning_gym import ReasoningGymEnv
from rlvr.verifiers import get_verifier
from rlvr.verifiers.reasoning_gym import last_answer_tag

V = get_verifier("reasoning_gym")


@pytest.fixture(autouse=True)
def audit_cache(tmp_path_factory, monkeypatch):
    """Guard verdicts go to a cache of this test session, not the user's."""
    monkeypatch.setenv("RLVR_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "rlvr-cache"))


def test_missing_package_error_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "reasoning_gym", None)  # import now raises ImportError
    with pytest.raises(ImportError, match="pip install reasoning-gym"):
        ReasoningGymEnv()
    verdict = V.verify("<answer>1</answer>", {"task": "basic_arithmetic", "config": {"seed": 1}, "entry": {}})
    assert verdict.status == "error" and "pip install reasoning-gym" in verdict.detail


@pytest.mark.reasoning_gym
@pytest.mark.parametrize("task", ["basic_arithmetic", "leg_counting", "arc_agi", "word_sorting"])
def test_reference_scores_one_with_the_tasks_scorer(task):
    env = ReasoningGymEnv(task=task, size=50)
    for seed in range(3):
        prompt, info = env.reset(seed=seed)
        assert prompt.endswith("<answer></answer> tags.")
        json.dumps(info["reference"])  # JSON-serialisable
        assert V.verify(env.reference_response(), info["reference"]).correct
        for bad in env.negative_responses():
            assert V.verify(bad, info["reference"]).reward < 1


@pytest.mark.reasoning_gym
def test_config_kwargs_reach_the_task():
    small = ReasoningGymEnv(task="leg_counting", min_animals=1, max_animals=1, size=20)
    big = ReasoningGymEnv(task="leg_counting", min_animals=8, max_animals=8, size=20)
    assert len(small.reset(seed=0)[0]) < len(big.reset(seed=0)[0])
    a, b = ReasoningGymEnv(seed=1), ReasoningGymEnv(seed=1)
    assert a.reset(seed=5)[0] == b.reset(seed=5)[0] != a.reset(seed=6)[0]


@pytest.mark.reasoning_gym
def test_partial_credit_is_opt_in():
    env = ReasoningGymEnv(task="basic_arithmetic")
    _, info = env.reset(seed=0)
    answer = info["reference"]["entry"]["answer"]
    hedge = f"<answer>{answer} or {int(answer) + 1}</answer>"
    assert V.verify(hedge, info["reference"]).reward == 0.0
    partial = ReasoningGymEnv(task="basic_arithmetic", partial_credit=True)
    _, info = partial.reset(seed=0)
    verdict = V.verify(hedge, info["reference"])
    assert verdict.status == "incorrect" and 0 < verdict.reward < 1


@pytest.mark.reasoning_gym
def test_statuses():
    env = ReasoningGymEnv()
    _, info = env.reset(seed=0)
    assert V.verify("no tags here", info["reference"]).status == "unparsed"
    assert V.verify("", info["reference"]).status == "unparsed"
    assert V.verify("<answer>1</answer>", {"task": "no_such_task", "config": {}, "entry": {}}).status == "error"
    assert last_answer_tag("<answer>1</answer> then <ANSWER> 2 </ANSWER>") == "2"


@pytest.mark.reasoning_gym
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"task": "no_such_task"}, "task"), ({"task": "leg_counting", "bogus": 1}, "bogus|fields"), ({"size": 0}, "size")],
)
def test_config_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ReasoningGymEnv(**kwargs)


def test_last_answer_tag_reads_the_text_itself_after_the_reasoning():
    # `İ`.lower() is two characters: offsets found in a lower-cased copy would cut the wrong span
    assert last_answer_tag("İİİ <answer>42</answer>") == "42"
    assert last_answer_tag("<think><answer>42</answer></think> I am not sure.") is None
    assert last_answer_tag("<think><answer>41</answer></think><answer>42</answer>") == "42"
