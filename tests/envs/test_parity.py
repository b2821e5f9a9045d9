import gymnasium as gym
import pytest

import rlvr  # noqa: F401 - registers the ids
from rlvr.envs.parity import ParityEnv


@pytest.mark.parametrize("style", ["instruct", "plain"])
def test_demonstrations_mix_short_and_long_and_are_correct(style):
    env = ParityEnv(n_bits=10, style=style)
    demos = env.demonstrations(400, long_fraction=0.25, seed=7)
    longs = [d for d in demos if d["long"]]
    assert 60 < len(longs) < 140  # ~100 expected
    from rlvr.verifiers import get_verifier

    v = get_verifier("parity")
    for d in demos[:50]:
        bits = d["prompt"][:10] if style == "plain" else "".join(d["prompt"].split(": ")[1].split(".")[0].split())
        assert v.verify(d["response"], {"bits": bits}).correct
    short = next(d for d in demos if not d["long"])
    long = longs[0]
    assert len(long["response"]) > len(short["response"])
    assert env.demonstrations(20, 0.25, seed=7) == demos[:20]


def test_n_bits_changes_problem_size_and_plain_prompt():
    env = gym.make("rlvr/Parity-v0", n_bits=50, style="plain")
    prompt, info = env.reset(seed=0)
    assert len(prompt) == 51 and prompt.endswith("=") and len(info["reference"]["bits"]) == 50
    assert len(env.unwrapped.reference_response()) == 50  # the long form: one running-parity bit per input bit


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="n_bits"):
        ParityEnv(n_bits=0)
    with pytest.raises(ValueError, match="style"):
        ParityEnv(style="fancy")
    with pytest.raises(ValueError, match="long_fraction"):
        ParityEnv().demonstrations(3, 1.5, seed=0)
