"""reasoning-gym scorers under audit: rlvr's fixes for puzzle24, game_of_life_halting and coin_flip (with the decoys
that broke the tasks' own scorers), the guard that refuses a weak task (cached; allow_weak_scorer opts out), in
Mixture-v0 too, and an audit of every reasoning-gym task."""

from __future__ import annotations

import logging
import os

import gymnasium as gym
import pytest

import rlvr.audit
from rlvr.audit import audit_env
from rlvr.envs.reasoning_gym import GUARD_ITEMS, ReasoningGymEnv, audit_cache_dir
from rlvr.verifiers import get_verifier
from rlvr.verifiers.reasoning_gym import SCORERS, dataset_for

pytestmark = pytest.mark.reasoning_gym
V = get_verifier("reasoning_gym")


@pytest.fixture(autouse=True)
def audit_cache(tmp_path_factory, monkeypatch):
    """Guard verdicts go to a cache of this test session, not the user's."""
    monkeypatch.setenv("RLVR_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "rlvr-cache"))


def _reward(task: str, answer: str, entry: dict, config: dict | None = None) -> float:
    """The reward of `answer` through the verifier, against a stored entry (as a reference without `index`)."""
    ref = {"task": task, "config": config or {"seed": 0, "size": 10}, "entry": entry}
    return V.verify(f"<answer>{answer}</answer>", ref).reward


def test_puzzle24_needs_exactly_the_given_numbers():
    entry = {
        "question": "Make 24 using 1, 3, 5, 9.",
        "answer": "(9 - 3)*(5 - 1)",
        "metadata": {"numbers": [1, 3, 5, 9]},
    }
    own = dataset_for("puzzle24", {"seed": 0, "size": 10}).score_answer
    for decoy in ("9+9+3+3", "6*4*1*1", "9*8*1/3", "24", "(9 - 3)*(5 - 1)*1", "(9 - 3)*4"):
        assert _reward("puzzle24", decoy, entry) == 0.0, decoy
    assert own("9+9+3+3", entry) == own("6*4*1*1", entry) == 1.0  # the hole in reasoning-gym's own scorer
    for right in ("(9 - 3)*(5 - 1)", "(5-1)*(9-3)", "(1 - 5) * (3 - 9)"):
        assert _reward("puzzle24", right, entry) == 1.0, right
    assert _reward("puzzle24", "(9 - 3)*(5 - 1) = 24", entry) == 0.0  # the prompt asks for no '=': unparsed
    assert _reward("puzzle24", "9/(3-3)*5*1", entry) == 0.0  # division by zero, and 3 used twice


def test_puzzle24_other_items_answers_earn_nothing():
    env = ReasoningGymEnv(task="puzzle24", size=1000)
    answers = []
    for seed in range(6):
        _, info = env.reset(seed=seed)
        answers.append(
            (sorted(info["reference"]["entry"]["metadata"]["numbers"]), info["reference"]["entry"]["answer"])
        )
        assert env.step(env.reference_response())[1] == 1.0
    for seed, (numbers, _) in enumerate(answers):
        for other_numbers, other in answers:
            if other_numbers != numbers:
                env.reset(seed=seed)
                assert env.step(f"<answer>{other}</answer>")[1] == 0.0, (seed, other)


def test_halting_answer_must_be_the_expected_boolean():
    own = dataset_for("game_of_life_halting", {"seed": 0, "size": 10}).score_answer
    for expected, opposite in (("True", "False"), ("False", "True")):
        entry = {"question": "Will it halt?", "answer": expected, "metadata": {}}
        assert own(opposite, entry) == own("0", entry) == 1.0  # the hole: any non-empty answer
        for decoy in (opposite, "0", "1", "yes", "no", "", f"{expected} or {opposite}", "maybe"):
            assert _reward("game_of_life_halting", decoy, entry) == 0.0, decoy
        for right in (expected, expected.lower(), f" {expected.upper()}. "):
            assert _reward("game_of_life_halting", right, entry) == 1.0, right


def _coin(numerator: int, flips: int) -> dict:
    rational = {"numerator": numerator, "denominator": 2**flips}
    return {"question": "?", "answer": format(numerator / 2**flips, ".10g"), "metadata": {"rational": rational}}


def test_coin_flip_tolerance_is_relative_to_the_expected_value():
    own = dataset_for("coin_flip", {"seed": 0, "size": 10}).score_answer
    entry = _coin(5, 4)  # 0.3125
    assert own("0", entry) == 1.0  # the hole: "0" is a prefix of "0.3125"
    for decoy in ("0", "1", "0.3", "0.31", "0.4125", "5/15", ""):
        assert _reward("coin_flip", decoy, entry) == 0.0, decoy
    for right in ("0.3125", "5/16", "0.31250", "0.3124"):  # 1e-4 away: reasoning-gym's own tolerance
        assert _reward("coin_flip", right, entry) == 1.0, right
    tiny = _coin(1, 15)  # 3.051757812e-05
    assert own("0.0001", tiny) == own("0", tiny) == 1.0  # within the absolute 1e-4, or a prefix
    for decoy in ("0", "0.0001", "0.00003"):
        assert _reward("coin_flip", decoy, tiny) == 0.0, decoy
    for right in ("1/32768", "0.00003051757812", "3.0518e-05"):
        assert _reward("coin_flip", right, tiny) == 1.0, right


def test_number_sorting_needs_exactly_the_given_numbers():
    own = dataset_for("number_sorting", {"seed": 0, "size": 10}).score_answer
    entry = {"answer": "['-32.0', '7.0', '70.46']", "metadata": {"direction": "ascending"}}
    assert own("['-32.0', '8.0', '70.46']", entry) == 1.0  # the hole: each number may be off by 1
    for decoy in ("['-32.0', '8.0', '70.46']", "['-32.0', '7.0', '70.45']", "['-32.0', '7.0']", "[]", "0", "['7.0']"):
        assert _reward("number_sorting", decoy, entry) == 0.0, decoy
    for right in ("['-32.0', '7.0', '70.46']", '["-32", "7", "70.46"]', "[-32, 7.0, 70.46]"):
        assert _reward("number_sorting", right, entry) == 1.0, right


def test_time_intervals_date_answers_are_a_number_of_days():
    own = dataset_for("time_intervals", {"seed": 0, "size": 10}).score_answer
    entry = {"answer": "11 days", "metadata": {"task_type": "date"}}
    assert own("11 days, 20:28:00", entry) == own("11 or 12", entry) == 1.0  # the hole: the first word is read
    for decoy in ("11 days, 20:28:00", "11 or 12", "12 days", "0", ""):
        assert _reward("time_intervals", decoy, entry) == 0.0, decoy
    for right in ("11 days", "11", " 11 Days. ", "11 day"):
        assert _reward("time_intervals", right, entry) == 1.0, right
    clock = {"answer": "03:30:57", "metadata": {"task_type": "time"}}  # other kinds: the task's own scorer
    assert _reward("time_intervals", "03:30:57", clock) == 1.0 and _reward("time_intervals", "03:30:58", clock) == 0


def test_fixed_tasks_pass_their_audit():
    for task in SCORERS:
        report = audit_env("rlvr/ReasoningGym-v0", {"task": task, "size": 1000}, items=8)
        assert report.reference_full == 8 and report.weak() == [], report.table()


def _unfix(monkeypatch, task):
    monkeypatch.delitem(SCORERS, task)  # the task's own scorer again (and another cache key)


def test_guard_refuses_a_weak_scorer_naming_task_decoy_and_reward(monkeypatch):
    _unfix(monkeypatch, "game_of_life_halting")
    with pytest.raises(ValueError, match=r"'game_of_life_halting'.*reward 1 .*decoy '.*'.*allow_weak_scorer") as e:
        ReasoningGymEnv(task="game_of_life_halting")
    assert "constant" in str(e.value) or "other_item" in str(e.value)
    with pytest.raises(ValueError, match="game_of_life_halting"):
        gym.make("rlvr/ReasoningGym-v0", task="game_of_life_halting")


def test_allow_weak_scorer_builds_it_and_logs_a_warning(monkeypatch, caplog):
    _unfix(monkeypatch, "coin_flip")
    with caplog.at_level(logging.WARNING, logger="rlvr.envs.reasoning_gym"):
        env = ReasoningGymEnv(task="coin_flip", allow_weak_scorer=True)
    assert "'coin_flip'" in caplog.text and "allow_weak_scorer=True" in caplog.text and "'0'" in caplog.text
    env.reset(seed=0)
    with pytest.raises(ValueError, match="allow_weak_scorer"):
        ReasoningGymEnv(task="coin_flip", allow_weak_scorer="yes")


def test_guard_verdict_is_cached_per_version_task_and_config(monkeypatch):
    ReasoningGymEnv(task="leg_counting", min_animals=2, max_animals=3)
    files = os.listdir(audit_cache_dir())
    assert any(f.startswith("leg_counting-") for f in files)

    def no_audit(*args, **kwargs):
        raise AssertionError("audited again despite the cache")

    monkeypatch.setattr(rlvr.audit, "audit_env", no_audit)
    ReasoningGymEnv(task="leg_counting", min_animals=2, max_animals=3)  # cached: no audit
    with pytest.raises(AssertionError, match="audited again"):
        ReasoningGymEnv(task="leg_counting", min_animals=2, max_animals=4)  # another config: audited


def test_guard_leaves_the_env_fresh():
    env = ReasoningGymEnv(task="basic_arithmetic")
    assert env.problem is None and env._verifiers == {}
    a, b = env.reset(seed=3), ReasoningGymEnv(task="basic_arithmetic").reset(seed=3)
    assert a[0] == b[0]


def test_every_mixture_member_is_guarded(monkeypatch):
    _unfix(monkeypatch, "puzzle24")
    envs = {"rlvr/Parity-v0": 0.5, "rlvr/ReasoningGym-v0": 0.5}
    with pytest.raises(ValueError, match="'puzzle24'"):
        gym.make("rlvr/Mixture-v0", envs=envs, env_kwargs={"rlvr/ReasoningGym-v0": {"task": "puzzle24"}})
    kwargs = {"rlvr/ReasoningGym-v0": {"task": "puzzle24", "allow_weak_scorer": True}}
    gym.make("rlvr/Mixture-v0", envs=envs, env_kwargs=kwargs).reset(seed=0)


def test_other_right_answers_are_not_decoys():
    """n_queens lists its solutions; in sokoban, jugs and quantum_lock an answer that the task's simulation accepts
    is right even when it is another item's; none is sent as a wrong answer."""
    env = ReasoningGymEnv(task="n_queens", size=1000)
    env.reset(seed=0)
    valid = env.problem.reference["entry"]["metadata"]["valid_answers"]
    assert all(env.alternative_answer(v) for v in valid) and not env.alternative_answer("_ Q\nQ _")
    for task in ("sokoban", "jugs", "quantum_lock"):
        env = ReasoningGymEnv(task=task, size=1000)
        env.reset(seed=0)
        answer = env.problem.reference["entry"]["answer"]
        assert env.alternative_answer(answer), task
        assert not env.alternative_answer("") and not env.alternative_answer("0"), task
    report = audit_env("rlvr/ReasoningGym-v0", {"task": "jugs", "size": 1000, "seed": 7}, items=12, seed=5)
    assert report.right_skipped > 0 and report.weak() == []  # another item's pours solve this one: not a decoy


def _tasks():
    import reasoning_gym

    return sorted(t for t in reasoning_gym.factory.DATASETS if t != "composite")


@pytest.mark.slow
def test_every_reasoning_gym_task_is_audited_and_credits_no_decoy():
    """Building each task runs the guard's audit (GUARD_ITEMS items: constants, other items' answers, wrong values);
    none may be refused, and a 3-item audit through `step` finds no credited decoy either."""
    tasks = _tasks()
    assert len(tasks) >= 105
    refused, weak = {}, {}
    for task in tasks:
        try:
            env = ReasoningGymEnv(task=task, size=1000)  # word_ladder cannot make 100000 items
        except ValueError as e:
            refused[task] = str(e)
            continue
        report = audit_env(env, items=3, seed=1)
        if report.weak():
            weak[task] = report.weak()[0]
    assert refused == {} and weak == {}, (refused, weak)
    assert GUARD_ITEMS >= 4
