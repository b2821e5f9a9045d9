"""Property tests across the registry: every env id (ENV_IDS and PUZZLE_IDS) whose module exists.

For several seeds: the reference response scores 1.0 (status correct), every negative response scores below 1, a
seed names one problem and different seeds differ, Gymnasium's env checker passes, and the vector env keeps GRPO
groups together. Family-specific behaviour is tested in each env's own file.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import rlvr  # noqa: F401 - registers the ids
from rlvr.envs.puzzles import PUZZLE_IDS
from rlvr.envs.registration import ENV_IDS

from ..conftest import require

ALL_IDS = {**ENV_IDS, **PUZZLE_IDS}
SEEDS = (0, 1, 2, 3, 7, 12345)
# ids that need an optional package: id -> module to import (skips with the reason when absent)
OPTIONAL = {"rlvr/ReasoningGym-v0": "reasoning_gym"}
# ids with few distinct problems (id -> how many): Guess-v0 hides one of 15 letters
SMALL_SPACES = {"rlvr/Guess-v0": 15}
# ids whose verifier runs programs: they need a sandbox backend
SANDBOXED = {"rlvr/Code-v0", "rlvr/CodeFeedback-v0"}
# the marker of each id's need (the sandbox, the optional package): skipped with the reason, failed under RLVR_REQUIRE
NEEDS = {**{i: pytest.mark.bwrap for i in SANDBOXED}, **{i: getattr(pytest.mark, m) for i, m in OPTIONAL.items()}}
PARAMS = [pytest.param(i, marks=NEEDS[i]) if i in NEEDS else i for i in sorted(ALL_IDS)]


def _make(env_id: str, **kwargs):
    if env_id in OPTIONAL:
        require(OPTIONAL[env_id])
    return gym.make(env_id, **kwargs)


@pytest.fixture(params=PARAMS)
def env_id(request):
    return request.param


def test_reference_scores_one_and_negatives_below(env_id):
    env = _make(env_id)
    for seed in SEEDS:
        prompt, info = env.reset(seed=seed)
        assert isinstance(prompt, str) and prompt.strip()
        assert info["problem_id"] and info["verifier"]
        response = env.unwrapped.reference_response()
        _, reward, terminated, truncated, step_info = env.step(response)
        assert reward == 1.0 and step_info["verdict"]["status"] == "correct", (seed, step_info["verdict"])
        assert terminated and not truncated
        with pytest.raises(RuntimeError, match="is over"):  # a finished episode is not scored again
            env.step(response)
        negatives = env.unwrapped.negative_responses()
        assert "" in negatives and len(negatives) >= 2, negatives
        for bad in negatives:
            env.reset(seed=seed)
            _, reward, *_, step_info = env.step(bad)
            assert reward < 1.0 and step_info["verdict"]["status"] != "correct", (seed, bad, step_info["verdict"])


def test_a_response_that_is_not_text_is_unparsed_not_an_infrastructure_error(env_id):
    """`error` means our infrastructure failed and the trainer masks the sample; a None or a number from a user's
    rollout code is the response's fault: reward 0, status unparsed."""
    env = _make(env_id)
    for bad in (None, 42, [{"role": "assistant", "content": "x"}]):
        env.reset(seed=0)
        _, reward, *_, info = env.step(bad)
        assert (reward, info["verdict"]["status"]) == (0.0, "unparsed"), (bad, info["verdict"])


def test_same_seed_same_problem_different_seeds_differ(env_id):
    env = _make(env_id)
    other = _make(env_id)
    prompts = []
    for seed in SEEDS:
        p1, i1 = env.reset(seed=seed)
        p2, i2 = other.reset(seed=seed)
        assert p1 == p2 and i1["reference"] == i2["reference"] and i1["problem_id"] == i2["problem_id"]
        prompts.append((p1, json.dumps(i1["reference"], sort_keys=True)))  # Guess-v0: one prompt, many references
    if env_id in SMALL_SPACES:  # a handful of problems: many seeds cover them all
        problems = {json.dumps(env.reset(seed=s)[1]["reference"], sort_keys=True) for s in range(200)}
        assert len(problems) == SMALL_SPACES[env_id]
        return
    assert len(set(prompts)) >= len(SEEDS) - 1, "different seeds should give different problems"


def test_gymnasium_env_checker(env_id):
    env = _make(env_id)
    check_env(env.unwrapped, skip_render_check=True)


def test_vector_env_keeps_groups_together(env_id):
    _make(env_id)  # skips when an optional package is absent
    venv = gym.make_vec(env_id, num_envs=4, vectorization_mode="vector_entry_point", group_size=2)
    obs, infos = venv.reset(seed=3)
    problems = [(o, json.dumps(r, sort_keys=True)) for o, r in zip(obs, infos["reference"], strict=True)]
    assert problems[0] == problems[1] and problems[2] == problems[3] and problems[0] != problems[2]
    assert list(infos["group"]) == [0, 0, 1, 1]
    solo = gym.make(env_id)
    answers = []
    for seed in infos["seed"]:
        solo.reset(seed=int(seed))
        answers.append(solo.unwrapped.reference_response())
    _, rewards, terminated, _, step_infos = venv.step(answers)
    assert list(rewards) == [1.0] * 4, step_infos["verdict"]
    assert terminated.all()
    venv.close()


def test_vector_rewards_match_the_single_env(env_id):
    """Mixed good and bad responses: each slot's reward equals what the single env gives the same response."""
    _make(env_id)
    venv = gym.make_vec(env_id, num_envs=4, vectorization_mode="vector_entry_point", group_size=2)
    _, infos = venv.reset(seed=11)
    solo = gym.make(env_id)
    responses, expected = [], []
    for i, seed in enumerate(infos["seed"]):
        solo.reset(seed=int(seed))
        response = solo.unwrapped.reference_response() if i % 2 == 0 else solo.unwrapped.negative_responses()[1]
        responses.append(response)
        expected.append(solo.step(response)[1])
    _, rewards, *_ = venv.step(responses)
    assert list(rewards) == pytest.approx(expected)
    assert 0 < sum(rewards) < 4  # the test would be vacuous if every slot scored the same
    venv.close()


def test_thousand_seeds_give_distinct_problems(env_id):
    """At default difficulty at least 95% of 1,000 seeds give different problems."""
    source = _make(env_id).unwrapped.source
    if env_id in SMALL_SPACES:
        problems = {json.dumps(source.problem(seed).reference, sort_keys=True) for seed in range(1000)}
        assert len(problems) == SMALL_SPACES[env_id]
        return
    prompts = {source.problem(seed).prompt for seed in range(1000)}
    assert len(prompts) >= 950, f"{env_id}: only {len(prompts)} distinct problems in 1,000 seeds"


_PRINT_PROBLEMS = """
import json, sys, gymnasium as gym, rlvr
out = {}
for env_id in sys.argv[1:]:
    env = gym.make(env_id)
    out[env_id] = [[env.reset(seed=s)[0], env.unwrapped.problem.reference] for s in (0, 5, 99)]
print(json.dumps(out))
"""


def test_same_seed_same_problem_in_another_process():
    ids = [i for i in sorted(ALL_IDS) if i not in OPTIONAL or importlib.util.find_spec(OPTIONAL[i])]
    out = subprocess.run([sys.executable, "-c", _PRINT_PROBLEMS, *ids], capture_output=True, text=True, check=True)
    theirs = json.loads(out.stdout)
    for env_id in ids:
        env = gym.make(env_id)
        ours = [[env.reset(seed=s)[0], env.unwrapped.problem.reference] for s in (0, 5, 99)]
        assert json.loads(json.dumps(ours)) == theirs[env_id], env_id


@pytest.mark.bwrap
def test_vector_env_verifies_through_the_isolated_pool():
    venv = gym.make_vec(
        "rlvr/Mixture-v0", num_envs=6, vectorization_mode="vector_entry_point", group_size=2, verifier_backend="bwrap"
    )
    _, infos = venv.reset(seed=5)
    solo = gym.make("rlvr/Mixture-v0")
    answers = []
    for seed in infos["seed"]:
        solo.reset(seed=int(seed))
        answers.append(solo.unwrapped.reference_response())
    _, rewards, *_ = venv.step(answers)
    assert list(rewards) == [1.0] * 6
    from rlvr.verifiers.pool import VerifierPool

    pools = list(venv.env._verifiers.values())
    assert pools and all(isinstance(v, VerifierPool) for v in pools)
    venv.close()
    assert venv.env._verifiers == {}
