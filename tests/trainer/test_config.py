"""Config: YAML + --set overrides with typed parsing, validation errors that name the field, the shipped configs."""

from __future__ import annotations

import os
import re

import pytest
import yaml

from rlvr.trainer.config import TrainConfig, load_config, save_config, to_dict

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PARITY = os.path.join(ROOT, "configs", "parity.yaml")
PRORL = os.path.join(ROOT, "configs", "prorl-1.5b.yaml")


def test_yaml_then_overrides_with_typed_parsing(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("grpo:\n  kl_coef: 0.01\n  steps: 3\nmodel:\n  hidden_size: 32\n")
    cfg = load_config(
        path,
        [
            "grpo.kl_coef=0.5",
            "grpo.eps_high=1e-1",
            "sft.steps=7",
            "model.gradient_checkpointing=true",
            "env.kwargs={n_bits: 5, style: plain}",
            "rollout.stop_strings=['</answer>']",
            "logging.name=abc",
        ],
    )
    assert cfg.grpo.kl_coef == 0.5 and cfg.grpo.steps == 3 and cfg.model.hidden_size == 32
    assert cfg.grpo.eps_high == pytest.approx(0.1) and isinstance(cfg.sft.steps, int) and cfg.sft.steps == 7
    assert cfg.model.gradient_checkpointing is True
    assert cfg.env.kwargs == {"n_bits": 5, "style": "plain"}
    assert cfg.rollout.stop_strings == ["</answer>"]
    assert cfg.logging.name == "abc"


def test_resolved_config_round_trips(tmp_path):
    cfg = load_config(PARITY, ["grpo.steps=2"])
    save_config(cfg, tmp_path / "config.yaml")
    again = load_config(tmp_path / "config.yaml")
    assert to_dict(again) == to_dict(cfg)
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["grpo"]["steps"] == 2


@pytest.mark.parametrize(
    "override, match",
    [
        ("grpo.foo=1", r"unknown key grpo.foo; known: .*grpo.kl_coef"),
        ("bogus.x=1", r"unknown key bogus.x"),
        ("grpo.advantage=ppo", r"grpo.advantage must be one of \['dr_grpo', 'grpo', 'reinforce_pp_baseline'\]"),
        ("grpo.loss_agg=sum", r"grpo.loss_agg must be one of"),
        ("grpo.kl=k4", r"grpo.kl must be one of \['k1', 'k2', 'k3'\]"),
        ("rollout.engine=sglang", r"rollout.engine must be one of"),
        ("grpo.kl_coef=-1", r"grpo.kl_coef must be >= 0"),
        ("grpo.steps=abc", r"grpo.steps must be int"),
        ("model.gradient_checkpointing=maybe", r"model.gradient_checkpointing must be a bool"),
        ("model.dtype=float8", r"model.dtype must be one of"),
        ("model.head_dim=16", r"model.head_dim must be >= 32"),
        ("rollout.temperature=0", r"rollout.temperature must be > 0"),
        ("rollout.top_p=1.5", r"rollout.top_p must be in"),
        ("env.id=rlvr/Nope-v0", r"env.id .rlvr/Nope-v0. is not a registered Gymnasium id"),
        ("eval.seed=0", r"eval.seed must differ from env.seed"),
        ("grpo.minibatch_samples=7", r"grpo.minibatch_samples \(7\) must divide"),
        ("sft.long_fraction=2", r"sft.long_fraction must be in \[0, 1\]"),
        ("grpo.steps", r"must look like part.field=value"),
        ("grpo.kl_coef=nan", r"grpo.kl_coef must be finite \(not nan or inf\), got nan"),
        ("grpo.eps_low=nan", r"grpo.eps_low must be finite"),
        ("grpo.eps_high=nan", r"grpo.eps_high must be finite"),
        ("grpo.entropy_coef=nan", r"grpo.entropy_coef must be finite"),
        ("grpo.entropy_coef=-0.1", r"grpo.entropy_coef must be >= 0"),
        ("optim.max_grad_norm=nan", r"optim.max_grad_norm must be finite"),
        ("optim.lr=nan", r"optim.lr must be finite"),
        ("optim.lr=inf", r"optim.lr must be finite"),
        ("eval.temperature=nan", r"eval.temperature must be finite"),
        ("length.cosine_wrong=[.nan, 0]", r"length.cosine_wrong must be finite"),
        ("rollout.vllm_gpu_memory_utilization=0", r"rollout.vllm_gpu_memory_utilization must be in \(0, 1\]"),
        ("rollout.vllm_max_model_len=4", r"rollout.vllm_max_model_len \(4\) must exceed the longest response"),
        ("logging.samples_every_steps=-1", r"logging.samples_every_steps must be >= 0"),
        ("grpo.samples_per_prompt=1", r"grpo.samples_per_prompt must be >= 2, got 1: every advantage \(grpo, "),
        # were accepted, then failed after the run had started (num_envs 0; KeyError 'pass@3' at the first validation)
        ("eval.prompts=0", r"eval.prompts must be >= 1"),
        ("reset.metric=pass@3", r"reset.metric must be accuracy or pass@k .*pass@1, pass@2, pass@4, pass@8\), got"),
        ("reset.metric=pass@16", r"reset.metric must be accuracy or pass@k with k a power of two <= eval.samples_per"),
    ],
)
def test_validation_errors_name_the_field(override, match):
    with pytest.raises(ValueError, match=match):
        load_config(PARITY, [override])


def test_reset_metric_may_name_any_reported_pass_at_k():
    assert load_config(PARITY, ["reset.metric=pass@8"]).reset.metric == "pass@8"  # eval.samples_per_prompt 8
    assert load_config(PARITY, ["reset.metric=accuracy"]).reset.metric == "accuracy"


def test_yaml_type_errors_and_unknown_parts(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("grpo:\n  steps: three\n")
    with pytest.raises(ValueError, match="grpo.steps must be int"):
        load_config(bad)
    bad.write_text("trainer:\n  steps: 3\n")
    with pytest.raises(ValueError, match="unknown config part 'trainer'"):
        load_config(bad)


def test_every_float_key_must_be_finite():
    """Checked by field type: NaN and inf are refused for every float key, naming it (NaN passes `x < 0` checks)."""
    import dataclasses

    from rlvr.trainer.config import PARTS, _field_types

    keys = [f"{part}.{f.name}" for part in PARTS for f in dataclasses.fields(getattr(TrainConfig(), part))
            if _field_types(type(getattr(TrainConfig(), part)))[f.name] is float]  # fmt: skip
    assert len(keys) > 20 and "optim.lr" in keys and "eval.temperature" in keys
    for key in keys:
        for bad in ("nan", "inf", "-inf"):
            with pytest.raises(ValueError, match=rf"^{re.escape(key)} must be finite"):
                load_config(PARITY, [f"{key}={bad}"])


def test_defaults_validate():
    from rlvr.trainer.config import validate

    validate(TrainConfig())


def test_prorl_config_loads_and_validates():
    cfg = load_config(PRORL)
    assert cfg.model.path.endswith("DeepSeek-R1-Distill-Qwen-1.5B") and cfg.model.chat_template
    ids = [c["id"] for c in cfg.env.kwargs["envs"]]
    assert cfg.env.id == "rlvr/Mixture-v0" and {"rlvr/Math-v0", "rlvr/Code-v0"} <= set(ids)
    assert ids.count("rlvr/ReasoningGym-v0") >= 10  # several reasoning-gym tasks, as ProRL mixed them
    assert sum(c["weight"] for c in cfg.env.kwargs["envs"]) == pytest.approx(1.0)
    assert cfg.grpo.samples_per_prompt == 16 and cfg.rollout.temperature == 1.2
    assert (cfg.grpo.eps_low, cfg.grpo.eps_high) == (0.2, 0.4)
    assert cfg.optim.lr == 2e-6 and cfg.rollout.max_response_tokens == 8192
    assert cfg.sft.steps == 0 and cfg.grpo.kl_coef > 0


@pytest.mark.reasoning_gym  # the ProRL mixture includes reasoning-gym tasks
def test_prorl_mixture_ids_are_registered():
    from rlvr.envs.puzzles import PUZZLE_IDS
    from rlvr.envs.registration import ENV_IDS
    from rlvr.trainer.evaluate import make_venv

    cfg = load_config(PRORL)
    assert {c["id"] for c in cfg.env.kwargs["envs"]} <= set(ENV_IDS) | set(PUZZLE_IDS)
    venv = make_venv(cfg.env.id, cfg.env.kwargs, 4, 2)  # the kwargs are the env's real constructor arguments
    try:
        prompts, _ = venv.reset(seed=0)
        assert len(prompts) == 8 and all(prompts)
    finally:
        venv.close()


def test_prorl_v2_config_is_the_published_recipe():
    cfg = load_config(os.path.join(ROOT, "configs", "prorl-v2-1.5b.yaml"))
    g, c = cfg.grpo, cfg.length
    assert g.advantage == "reinforce_pp_baseline" and g.policy_loss == "clip" and g.loss_agg == "token_mean"
    assert (g.eps_low, g.eps_high) == (0.2, 0.27) and (g.kl, g.kl_coef, g.kl_in) == ("k2", 1e-4, "loss")
    assert (g.is_correction, g.is_bounds, g.is_level) == ("icepop", [0.5, 5.0], "token")
    assert g.dynamic_sampling and g.max_sampling_rounds == 10 and c.truncated_reward_scale == 0.0
    assert c.cosine and c.cosine_cycle_steps == [100, 100] and cfg.reset.every_steps > 0
    assert g.minibatch_samples == g.prompts_per_step * g.samples_per_prompt  # one update per rollout
    assert cfg.env.kwargs["envs"] == load_config(PRORL).env.kwargs["envs"]  # ProRL v1's mixture


def test_cosine_cycle_and_truncated_reward_keys_are_validated():
    with pytest.raises(ValueError, match="length.cosine_cycle_steps schedules the cosine"):
        load_config(None, ["length.cosine_cycle_steps=[10, 10]"])
    with pytest.raises(ValueError, match=r"length.cosine_cycle_steps must be \[on_steps, off_steps\]"):
        load_config(None, ["length.cosine=true", "length.cosine_cycle_steps=[10]"])
    with pytest.raises(ValueError, match="length.truncated_reward_scale must be in"):
        load_config(None, ["length.truncated_reward_scale=1.5"])
