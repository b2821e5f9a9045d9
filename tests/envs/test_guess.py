"""rlvr/Guess-v0: the replies, the turn limit and the verifier's statuses (its demonstrations: test_episodes.py)."""

from __future__ import annotations

import gymnasium as gym

import rlvr  # noqa: F401 - registers the ids
from rlvr.verifiers import get_verifier


def test_an_episode_by_hand():
    env = gym.make("rlvr/Guess-v0", letters=7, max_turns=3).unwrapped
    prompt, info = env.reset(seed=0)
    target = info["reference"]["target"]
    assert prompt == "a-g?"
    low, high = "a" if target != "a" else "b", "g" if target != "g" else "f"
    obs, reward, terminated, truncated, step = env.step(low)
    assert (obs, reward, terminated, truncated) == (">" if target > low else "<", 0.0, False, False)
    assert step["verdict"]["detail"] == ("higher" if target > low else "lower")
    obs, reward, terminated, truncated, _ = env.step("xy")  # no guess read: "?"
    assert (obs, terminated, truncated) == ("?", False, False)
    obs, reward, terminated, truncated, _ = env.step(high if high != target else low)
    assert reward == 0.0 and truncated and not terminated  # the third wrong guess ends the episode
    env.reset(seed=0)
    assert env.step(f" {target}\n")[1:3] == (1.0, True)


def test_verifier_statuses():
    v = get_verifier("guess")
    ref = {"target": "d", "letters": "abcdefg"}
    assert v.verify("d", ref).status == "correct"
    assert (v.verify("b", ref).status, v.verify("b", ref).detail) == ("incorrect", "higher")
    assert v.verify("f", ref).detail == "lower"
    for hedge in ("", "dd", "d e", "h", "D"):
        assert v.verify(hedge, ref).status == "unparsed", hedge
    assert v.verify("d", {"target": "z", "letters": "abc"}).status == "error"  # a bad reference: our fault


def test_no_step_is_scored_after_the_episode_ends():
    """After the turn limit (truncated) or the right guess (terminated), a further step would score a turn the
    episode does not have: a loop that forgets to check `truncated` would be paid for a fifth guess."""
    import pytest

    env = gym.make("rlvr/Guess-v0", letters=7, max_turns=2)
    _, info = env.reset(seed=0)
    target = info["reference"]["target"]
    wrong = next(c for c in "abcdefg" if c != target)
    env.step(wrong)
    *_, truncated, _ = env.step(wrong)
    assert truncated
    with pytest.raises(RuntimeError, match="is over .*call reset"):
        env.step(target)
    env.reset(seed=0)
    assert env.step(target)[1:3] == (1.0, True)
    with pytest.raises(RuntimeError, match="is over"):
        env.step(target)
    env.reset(seed=0)
    assert env.step(target)[1] == 1.0  # a reset starts a new episode
