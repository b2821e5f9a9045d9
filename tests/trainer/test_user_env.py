"""A user's own task: any id Gymnasium can make trains, and an env that does not speak the text protocol is refused
at start-up with what is missing (README: Add your own task)."""

from __future__ import annotations

import json
import os

import gymnasium as gym
import pytest

from rlvr.trainer.config import load_config
from rlvr.trainer.run import train

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "examples")
SMALL = ["sft.steps=0", "grpo.steps=2", "grpo.prompts_per_step=2", "grpo.samples_per_prompt=4", "eval.prompts=4",
         "eval.samples_per_prompt=2", "logging.progress=false", "logging.tensorboard=false"]  # fmt: skip


class EchoEnv(gym.Env):
    """A plain Gymnasium text env (not an rlvr ReasoningEnv): says a bit, wants it back; verdict in info."""

    def __init__(self, action_space=None, verdict=True):
        from rlvr.envs.base import TextSpace

        self.observation_space, self.action_space = TextSpace(), action_space or TextSpace()
        self.verdict, self.bit = verdict, "0"

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.bit = str(int(self.np_random.integers(2)))
        return f"{self.bit}=", {}

    def step(self, action):
        ok = str(action).strip() == self.bit
        info = {"verdict": {"status": "correct" if ok else "incorrect", "reward": float(ok)}} if self.verdict else {}
        return "", float(ok), True, False, info


gym.register("test/Echo-v0", entry_point=EchoEnv)
gym.register("test/EchoDiscrete-v0", entry_point=EchoEnv, kwargs={"action_space": gym.spaces.Discrete(2)})
gym.register("test/EchoNoVerdict-v0", entry_point=EchoEnv, kwargs={"verdict": False})


def _records(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_module_colon_id_trains_the_readme_example(tmp_path, monkeypatch):
    """examples/reverse.yaml's env id "reverse_task:Reverse-v0": gym imports the module, which registers the env and
    its verifier; SFT on its demonstrations and GRPO run, and the custom verifier scores the held-out table."""
    monkeypatch.syspath_prepend(EXAMPLES)
    cfg = load_config(os.path.join(EXAMPLES, "reverse.yaml"), [
        *SMALL, "sft.steps=200", "grpo.steps=2", "eval.prompts=16", "eval.samples_per_prompt=4",
        f"logging.run_dir={tmp_path}",
    ])  # fmt: skip
    results = train(cfg)
    assert results["after SFT"]["accuracy"] > 0.1  # the demonstrations taught it (a random model scores ~0)
    assert [r["step"] for r in _records(tmp_path) if r["phase"] == "grpo"] == [1, 2]
    from rlvr.verifiers import get_verifier

    assert type(get_verifier("reverse")).__name__ == "ReverseVerifier"


def test_a_plain_gymnasium_text_env_trains(tmp_path):
    cfg = load_config(None, [*SMALL, "env.id=test/Echo-v0", "env.kwargs={}", f"logging.run_dir={tmp_path}"])
    results = train(cfg)
    grpo = [r for r in _records(tmp_path) if r["phase"] == "grpo"]
    assert len(grpo) == 2 and all(0.0 <= r["reward"] <= 1.0 for r in grpo)
    assert 0.0 <= results["after GRPO"]["accuracy"] <= 1.0


@pytest.mark.parametrize(
    "env_id, message",
    [
        ("test/EchoDiscrete-v0", r"action space Discrete\(2\) does not hold strings"),
        ("test/EchoNoVerdict-v0", r"step\(\) must return info\['verdict'\]"),
    ],
)
def test_an_env_without_the_text_protocol_is_refused_at_start(tmp_path, env_id, message):
    cfg = load_config(None, [*SMALL, f"env.id={env_id}", "env.kwargs={}", f"logging.run_dir={tmp_path}"])
    with pytest.raises(ValueError, match=message):
        train(cfg)


def test_unknown_ids_name_the_key():
    with pytest.raises(ValueError, match=r"env.id 'test/Nope-v0' is not a registered Gymnasium id"):
        load_config(None, ["env.id=test/Nope-v0"])
    with pytest.raises(ValueError, match=r"env.id 'no_such_module_xyz:Task-v0' is not a registered"):
        load_config(None, ["env.id=no_such_module_xyz:Task-v0"])


def test_keys_that_cannot_act_are_refused_at_start(tmp_path):
    """A key that cannot apply to this run is an error naming it, not a silent no-op."""
    run = f"logging.run_dir={tmp_path}"
    cfg = load_config(None, [*SMALL, "env.id=rlvr/Countdown-v0", "grpo.step_reward_weight=0.5", run])
    with pytest.raises(ValueError, match=r"grpo.step_reward_weight = 0.5: rlvr/Countdown-v0's verifiers "
                                         r"\(puzzle/countdown\) have no step checker"):  # fmt: skip
        train(cfg)
    cfg = load_config(None, [*SMALL, "env.id=rlvr/Math-v0", "env.kwargs={difficulty: 1}", run])
    with pytest.raises(ValueError, match=r"model.vocab_chars '01=' lacks characters that the prompts of rlvr/Math-v0"):
        train(cfg)
    cfg = load_config(None, [*SMALL, "runtime.distributed=ddp", run])
    with pytest.raises(ValueError, match=r"runtime.distributed='ddp' needs a torchrun launch"):
        train(cfg)


def test_env_kwargs_the_env_does_not_take_name_the_key():
    """A keyword the env does not take was a TypeError traceback out of the env's constructor; YAML reads the
    common slip `--set env.kwargs={n_bits:4}` (no space) as the key "n_bits:4"."""
    from rlvr.trainer.evaluate import make_venv

    with pytest.raises(ValueError, match=r"env.kwargs \{'n_bits:4': None\} do not fit rlvr/Parity-v0: .*'n_bits:4'"):
        make_venv("rlvr/Parity-v0", load_config(None, ["env.kwargs={n_bits:4}"]).env.kwargs, 1, 2)
    with pytest.raises(ValueError, match=r"env.kwargs \{'bits': 2\} do not fit test/Echo-v0: .*'bits'"):
        make_venv("test/Echo-v0", {"bits": 2}, 1, 2)
