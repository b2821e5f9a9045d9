import gymnasium as gym
import pytest

import rlvr  # noqa: F401 - registers the ids
from rlvr.envs.code import TASKS, CodeEnv

WRONG = "```python\ndef {name}(*args):\n    return None\n```"


def test_difficulty_selects_harder_tasks_and_bigger_inputs():
    easy, hard = CodeEnv(difficulty=1).source, CodeEnv(difficulty=3).source
    assert {t.tier for t in easy.tasks} == {1} and {t.tier for t in hard.tasks} == {1, 2, 3}
    for task in TASKS:
        small = CodeEnv(difficulty=1, tasks=[task.name]).source.problem(0).reference["tests"]
        big = CodeEnv(difficulty=3, tasks=[task.name]).source.problem(0).reference["tests"]
        size = lambda tests: sum(len(repr(t["args"])) for t in tests)  # noqa: E731
        assert size(big) > size(small), task.name


def test_hidden_tests_are_not_in_the_prompt():
    p = CodeEnv(num_tests=10).source.problem(4)
    assert len(p.reference["tests"]) == 10
    assert repr(p.reference["tests"][5]["args"])[1:-1] not in p.prompt


@pytest.mark.bwrap
def test_feedback_turns_until_correct_or_truncated():
    env = gym.make("rlvr/CodeFeedback-v0", max_turns=3, difficulty=1)
    env.reset(seed=2)
    wrong = WRONG.format(name=env.unwrapped.problem.reference["fn_name"])
    obs, reward, terminated, truncated, info = env.step(wrong)
    assert not terminated and not truncated and reward == 0.0 and info["turn"] == 1
    assert "did not pass every test" in obs and "tests passed" in obs
    obs, reward, terminated, truncated, _ = env.step(env.unwrapped.reference_response())
    assert terminated and reward == 1.0 and obs == ""
    env.reset(seed=2)
    results = [env.step(wrong) for _ in range(3)]
    assert [r[3] for r in results] == [False, False, True]  # truncated at the turn limit


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="difficulty"):
        CodeEnv(difficulty=4)
    with pytest.raises(ValueError, match="num_tests"):
        CodeEnv(num_tests=1)
    with pytest.raises(ValueError, match="tasks"):
        CodeEnv(tasks=["quicksort_in_cobol"])
