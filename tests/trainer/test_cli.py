"""`rlvr train` end to end on a shortened default run, then `rlvr eval` on its checkpoint."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from rlvr.cli import main

CONFIGS = Path(__file__).resolve().parents[2] / "configs"

SHORT = [
    "sft.steps=30", "sft.demos=256", "grpo.steps=3", "grpo.prompts_per_step=4", "grpo.samples_per_prompt=4",
    "grpo.minibatch_samples=8",
    "eval.prompts=8", "eval.samples_per_prompt=4", "logging.progress=false", "env.kwargs={n_bits: 6, style: plain}",
    "rollout.max_response_tokens=10",
]  # fmt: skip


def test_train_short_default_run_then_eval(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(["train", *sum((["--set", s] for s in SHORT), []), "--set", f"logging.run_dir={run_dir}"]) == 0
    out = capsys.readouterr().out
    assert "after SFT" in out and "after GRPO" in out and "accuracy" in out and "mean response tokens" in out

    files = set(os.listdir(run_dir))
    assert {"config.yaml", "metrics.jsonl", "results.json", "checkpoints"} <= files
    assert any(f.startswith("events.out.tfevents") for f in files)
    assert sorted(os.listdir(run_dir / "checkpoints")) == ["latest", "step_0", "step_3"]
    assert os.readlink(run_dir / "checkpoints" / "latest") == "step_3"

    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    sft = [r for r in records if r["phase"] == "sft"]
    grpo = [r for r in records if r["phase"] == "grpo"]
    assert [r["step"] for r in sft] == list(range(1, 31)) and all("loss" in r for r in sft)
    assert [r["step"] for r in grpo] == [1, 2, 3]
    assert "kl" not in grpo[0]  # kl_coef 0: no reference policy, so no KL is logged (not a 0)
    for key in ("reward", "accuracy", "entropy", "response_tokens", "clip_fraction", "mismatch",
                "time_generate_s", "time_update_s"):  # fmt: skip
        assert key in grpo[0], key
    results = json.loads((run_dir / "results.json").read_text())
    assert f"{results['after GRPO']['accuracy']:.3f}" in out  # the table shows the run's own numbers

    capsys.readouterr()
    argv = ["eval", "--model", str(run_dir / "checkpoints" / "latest"), "--env", "rlvr/Parity-v0", "--samples", "4",
            "--prompts", "8", "--max-response-tokens", "10", "--set", "n_bits=6", "--set", "style=plain"]  # fmt: skip
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert {"accuracy", "pass@1", "pass@2", "pass@4", "mean_response_tokens"} <= set(result)
    assert 0.0 <= result["pass@1"] <= result["pass@2"] <= result["pass@4"] <= 1.0
    assert result["pass@1"] == pytest.approx(result["accuracy"])
    # seeded, so the same again; verified in isolated worker processes, the same verdicts
    assert main([*argv, "--verifier-backend", "process"]) == 0
    assert json.loads(capsys.readouterr().out) == result
    # no flags: everything from the run's config.yaml (env, kwargs, eval prompts/samples/seed, response length)
    assert main(["eval", "--model", str(run_dir / "checkpoints" / "latest")]) == 0
    assert json.loads(capsys.readouterr().out) == {**result, "env_kwargs": {"n_bits": 6, "style": "plain"}}


def test_train_rejects_bad_overrides(capsys):
    assert main(["train", "--set", "grpo.foo=1"]) == 2
    assert "unknown key grpo.foo; known:" in capsys.readouterr().err


def test_eval_rejects_unknown_env(tmp_path, capsys):
    assert main(["eval", "--model", str(tmp_path), "--env", "rlvr/Nope-v0"]) == 2
    assert "env.id 'rlvr/Nope-v0' is not a registered Gymnasium id" in capsys.readouterr().err
    assert main(["eval", "--model", str(tmp_path)]) == 2
    assert "--env is needed" in capsys.readouterr().err


def test_a_new_run_refuses_the_directory_of_an_earlier_one(tmp_path, capsys):
    """It used to append to the earlier run's metrics.jsonl and keep its checkpoints, so `--resume` took the earlier
    run's step_5 over this run's step_3. A directory whose run logged nothing (a start-up error) is reused."""
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints" / "step_5").mkdir(parents=True)
    (run_dir / "metrics.jsonl").write_text('{"phase": "grpo", "step": 5}\n')
    assert main(["train", "--set", f"logging.run_dir={run_dir}"]) == 2
    err = capsys.readouterr().err
    assert f"logging.run_dir {run_dir} already holds a run (checkpoints step_5): continue it with `rlvr train " \
           f"--resume {run_dir}`, or choose another logging.run_dir" in err  # fmt: skip
    (run_dir / "checkpoints" / "step_5").rmdir()
    assert main(["train", "--set", f"logging.run_dir={run_dir}"]) == 2
    assert "already holds a run (metrics.jsonl, no checkpoint to resume from): choose another logging.run_dir, or " \
           "delete that one" in capsys.readouterr().err  # fmt: skip
    assert (run_dir / "metrics.jsonl").read_text() == '{"phase": "grpo", "step": 5}\n'
    assert sorted(os.listdir(run_dir)) == ["checkpoints", "metrics.jsonl"]  # nothing written


def test_eval_of_a_checkpoint_evaluates_as_the_run_did(tmp_path, monkeypatch, capsys):
    """`rlvr eval --model RUN/checkpoints/step_N` with no other flag passes evaluate() what the run's own evaluation
    passed: the run's top-p, stop strings, turn limit and turn reward too (they were left at their defaults, so a
    multi-turn run with rollout.max_turns=2 was evaluated on 3 turns). It also works from the directory that holds
    the run's task module ("module:Name-v0", as `rlvr train` does), and after the run's SFT data has gone."""
    import sys

    from rlvr.trainer.config import load_config, save_config
    from rlvr.trainer.model import load_model
    from rlvr.trainer.run import run_eval

    task_dir = tmp_path / "task"
    task_dir.mkdir()
    (task_dir / "cli_eval_task_mod.py").write_text(
        "import gymnasium as gym\n"
        "gym.register('CliEvalGuess-v0', entry_point='rlvr.envs.guess:GuessEnv', kwargs={'letters': 7})\n"
    )
    sft_data = tmp_path / "sft.jsonl"
    sft_data.write_text('{"prompt": "?", "response": "d"}\n')
    monkeypatch.chdir(task_dir)
    monkeypatch.syspath_prepend(str(task_dir))  # for load_config here; `rlvr eval` must find it by itself
    cfg = load_config(CONFIGS / "multi-turn.yaml", [
        "env.id=cli_eval_task_mod:CliEvalGuess-v0", "env.kwargs={max_turns: 3}", "rollout.max_turns=2",
        "rollout.turn_reward=last", "rollout.top_p=0.9", "rollout.stop_strings=[c]", f"sft.dataset={sft_data}",
        "eval.prompts=4", "eval.samples_per_prompt=2", f"logging.run_dir={tmp_path / 'run'}",
    ])  # fmt: skip
    ckpt = tmp_path / "run" / "checkpoints" / "step_2"
    model, tok = load_model(cfg.model)
    model.save_pretrained(ckpt)
    tok.save_pretrained(ckpt)
    save_config(cfg, tmp_path / "run" / "config.yaml")
    sft_data.unlink()
    monkeypatch.delitem(sys.modules, "cli_eval_task_mod")
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(task_dir))])

    calls = []
    fake = lambda *a, **kw: calls.append(kw) or {"accuracy": 0.0}  # noqa: E731
    monkeypatch.setattr("rlvr.trainer.run.evaluate", fake)
    monkeypatch.setattr("rlvr.trainer.evaluate.evaluate", fake)
    run_eval(cfg, None, None, step=2)
    assert main(["eval", "--model", str(ckpt)]) == 0, capsys.readouterr().err
    by_run, by_cli = calls
    for key in ("temperature", "top_p", "max_response_tokens", "stop_strings", "chat_template", "holdout",
                "holdout_seed", "max_turns", "turn_reward", "prompts", "samples_per_prompt", "seed"):  # fmt: skip
        assert by_cli[key] == by_run[key], key
    assert (by_cli["max_turns"], by_cli["turn_reward"], by_cli["top_p"]) == (2, "last", 0.9)
