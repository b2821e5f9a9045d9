"""`rlvr.integrations.verl.compute_score` against verl's documented custom reward function contract: called as
`compute_score(data_source=..., solution_str=..., ground_truth=..., extra_info=...)` (verl's NaiveRewardManager
passes these keywords; extra_info may be None), returning a float or a dict whose "score" is the reward and whose
other keys are logged per sample."""

from __future__ import annotations

import inspect
import math

import gymnasium as gym
import pytest

import rlvr  # noqa: F401 - registers the ids
from rlvr.integrations.common import encode_reference
from rlvr.integrations.verl import compute_score


def call(data_source, solution_str, ground_truth, extra_info=None):
    """As verl's reward managers call it: keywords only."""
    result = compute_score(
        data_source=data_source, solution_str=solution_str, ground_truth=ground_truth, extra_info=extra_info
    )
    assert isinstance(result, dict) and isinstance(result["score"], float) and 0.0 <= result["score"] <= 1.0
    assert all(isinstance(v, float) and math.isfinite(v) for v in result.values())  # verl averages them
    return result


def test_signature_is_verls():
    params = list(inspect.signature(compute_score).parameters.values())
    assert [p.name for p in params[:4]] == ["data_source", "solution_str", "ground_truth", "extra_info"]
    assert params[3].default is None
    assert [p.kind for p in params[4:]] == [inspect.Parameter.VAR_KEYWORD]


def test_the_keywords_verls_reward_loop_adds_are_accepted():
    """verl's reward loop (NaiveRewardLoopManager.run_single) also passes the reward model's router address and
    tokenizer; `custom_reward_function.reward_kwargs` adds the user's own. A TypeError here stops verl's training."""
    for extra in ({"reward_router_address": None, "reward_model_tokenizer": None},
                  {"reward_model": None, "reward_model_tokenizer": None}, {"my_option": 3}):  # fmt: skip
        result = compute_score(data_source="math", solution_str=r"\boxed{2}", ground_truth="2", extra_info={}, **extra)
        assert result == {"score": 1.0, "acc": 1.0, "error": 0.0}


def test_verifier_name_as_data_source():
    assert call("math", r"so \boxed{\frac{1}{2}}", "0.5") == {"score": 1.0, "acc": 1.0, "error": 0.0}
    assert call("math", r"\boxed{0.25}", "0.5")["score"] == 0.0
    assert call("math", "", "0.5")["score"] == 0.0
    assert call("math", r"\boxed{3} or \boxed{5}", "3")["score"] == 0.0  # a hedge
    assert call("math", r"\boxed{72}", 72)["score"] == 1.0  # a number read from a dataset


@pytest.mark.parametrize("env_id", ["rlvr/Countdown-v0", "rlvr/STEM-v0", "rlvr/Instruction-v0", "rlvr/Parity-v0"])
def test_env_id_as_data_source_with_the_rows_verifier(env_id):
    env = gym.make(env_id)
    for seed in range(3):
        _, info = env.reset(seed=seed)
        extra = {"verifier": info["verifier"], "seed": seed}
        truth = encode_reference(info["reference"])
        assert call(env_id, env.unwrapped.reference_response(), truth, extra)["score"] == 1.0
        for bad in env.unwrapped.negative_responses():
            assert call(env_id, bad, truth, extra)["score"] < 1.0
        # a struct column (the reference as a dict) scores the same as its JSON text
        if isinstance(info["reference"], dict):
            assert call(env_id, env.unwrapped.reference_response(), info["reference"], extra)["score"] == 1.0


def test_rows_that_cannot_be_scored_are_errors_naming_the_field():
    with pytest.raises(ValueError, match=r"extra_info\['verifier'\]"):
        call("rlvr/STEM-v0", "x", "1", None)
    with pytest.raises(ValueError, match=r"extra_info\['verifier'\]"):
        call("rlvr/STEM-v0", "x", "1", {"verifier": "nope"})
    with pytest.raises(ValueError, match="neither an rlvr verifier name nor a registered rlvr env id"):
        call("openai/gsm8k", "x", "1")
    with pytest.raises(ValueError, match="ground_truth must be text"):
        call("math", "x", ["1"])


def test_infrastructure_errors_score_0_and_are_counted():
    from rlvr.integrations import common
    from rlvr.verifiers import Verifier

    class Broken(Verifier):
        name = "math"

        def _verify(self, response, reference):
            raise RuntimeError("sandbox down")

    saved = common._VERIFIERS.get("math")
    common._VERIFIERS["math"] = Broken()
    try:
        assert call("math", r"\boxed{1}", "1") == {"score": 0.0, "acc": 0.0, "error": 1.0}
    finally:
        if saved is None:
            common._VERIFIERS.pop("math")
        else:
            common._VERIFIERS["math"] = saved
