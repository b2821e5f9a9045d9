"""Evaluation is held out: a dataset env's evaluation rows never reach training, training draws rows without
replacement within an epoch, `eval.env_kwargs` gives evaluation its own data, the length schedule applies."""

from __future__ import annotations

import json
import string

import pytest

from rlvr.envs.datasets import holdout_rows
from rlvr.envs.vector import ReasoningVectorEnv
from rlvr.trainer import evaluate as evaluate_mod
from rlvr.trainer.config import load_config
from rlvr.trainer.run import run_eval, train

SMALL = ["sft.steps=0", "grpo.prompts_per_step=4", "grpo.samples_per_prompt=2", "rollout.max_response_tokens=4",
         "eval.samples_per_prompt=2", "logging.progress=false", "logging.tensorboard=false", "optim.lr=1e-4",
         "model.vocab_chars=" + "".join(sorted(set("what is 0123456789+1?\nPut your final answer within \\boxed{}."))),
         ]  # fmt: skip


def _dataset(path, n, offset=0):
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            f.write(json.dumps({"problem": f"what is {i + offset}+1?", "answer": str(i + offset + 1)}) + "\n")
    return str(path)


@pytest.fixture
def seen(monkeypatch):
    """(part, [problem ids]) for every reset of a vector env, part "train" | "eval" from `split_rows`."""
    log: list[tuple[str, list[str]]] = []
    split, reset = evaluate_mod.split_rows, ReasoningVectorEnv.reset

    def tagging_split(venv, part, *args):
        venv._part = part
        return split(venv, part, *args)

    def logging_reset(self, **kwargs):
        out = reset(self, **kwargs)
        log.append((getattr(self, "_part", None), [p.id for p in self.problems[:: self.group_size]]))
        return out

    monkeypatch.setattr(evaluate_mod, "split_rows", tagging_split)
    monkeypatch.setattr("rlvr.trainer.run.split_rows", tagging_split)
    monkeypatch.setattr(ReasoningVectorEnv, "reset", logging_reset)
    return log


def test_dataset_eval_rows_never_train_and_training_covers_each_epoch(tmp_path, seen):
    data = _dataset(tmp_path / "train.jsonl", 40)
    run = f"logging.run_dir={tmp_path / 'run'}"
    cfg = load_config(None, [*SMALL, "env.id=rlvr/Math-v0", f"env.kwargs={{dataset: {data}}}", "grpo.steps=16",
                             "eval.prompts=8", "eval.every_steps=4", run])  # fmt: skip
    results = train(cfg)
    trained = [ids for part, ids in seen if part == "train"]
    evaluated = [ids for part, ids in seen if part == "eval"]
    assert len(trained) == 16 and len(evaluated) == 5  # after SFT, steps 4, 8, 12, the end
    eval_rows = set(evaluated[0])
    assert len(eval_rows) == 8 and all(set(ids) == eval_rows for ids in evaluated)  # the same 8 rows each time
    train_rows = [i for ids in trained for i in ids]
    assert not eval_rows & set(train_rows)  # the overlap is 0
    epoch1, epoch2 = train_rows[:32], train_rows[32:]
    assert len(set(epoch1)) == 32 and set(epoch1) | eval_rows == {f"train.jsonl:{i}" for i in range(1, 41)}
    assert set(epoch2) == set(epoch1) and epoch2 != epoch1  # every row once per epoch, reshuffled
    assert "rows held out of training" in results["after GRPO"]["held_out"]


def test_eval_env_kwargs_bring_their_own_data(tmp_path, seen):
    train_data, test_data = _dataset(tmp_path / "train.jsonl", 12), _dataset(tmp_path / "test.jsonl", 6, offset=100)
    cfg = load_config(None, [*SMALL, "env.id=rlvr/Math-v0", f"env.kwargs={{dataset: {train_data}}}", "grpo.steps=3",
                             f"eval.env_kwargs={{dataset: {test_data}}}", "eval.prompts=10",
                             f"logging.run_dir={tmp_path / 'run'}"])  # fmt: skip
    with pytest.warns(UserWarning, match="6 evaluation rows, fewer than the 10 prompts"):
        results = train(cfg)
    evaluated = [ids for part, ids in seen if part == "eval" and len(ids) == 6]
    assert evaluated and all(sorted(ids) == [f"test.jsonl:{i}" for i in range(1, 7)] for ids in evaluated)
    trained = {i for part, ids in seen if part == "train" for i in ids}
    assert trained == {f"train.jsonl:{i}" for i in range(1, 13)}  # no row held out: evaluation has its own
    assert results["after GRPO"]["prompts"] == 6


def test_eval_env_kwargs_on_the_same_data_still_hold_rows_out(tmp_path, seen):
    """eval.env_kwargs that change how the training file is evaluated (here its order; a code dataset's max_turns)
    used to count as "evaluation has its own data": nothing was held out and evaluation scored training rows."""
    from rlvr.trainer.run import eval_holdout

    data = _dataset(tmp_path / "train.jsonl", 20)
    cfg = load_config(None, [*SMALL, "env.id=rlvr/Math-v0", f"env.kwargs={{dataset: {data}}}", "grpo.steps=3",
                             "eval.env_kwargs={shuffle_seed: 3}", "eval.prompts=4",
                             f"logging.run_dir={tmp_path / 'run'}"])  # fmt: skip
    assert eval_holdout(cfg) == 4
    train(cfg)
    evaluated = {i for part, ids in seen if part == "eval" for i in ids}
    trained = {i for part, ids in seen if part == "train" for i in ids}
    assert len(evaluated) == 4 and not evaluated & trained
    other = load_config(None, [*SMALL, "env.id=rlvr/Math-v0", f"env.kwargs={{dataset: {data}}}",
                               f"eval.env_kwargs={{dataset: {tmp_path / 'test.jsonl'}}}"])  # fmt: skip
    assert eval_holdout(other) == 0  # evaluation's own file: training keeps every row


def test_too_many_held_out_rows_is_refused(tmp_path):
    data = _dataset(tmp_path / "train.jsonl", 8)
    cfg = load_config(None, [*SMALL, "env.id=rlvr/Math-v0", f"env.kwargs={{dataset: {data}}}", "grpo.steps=1",
                             "eval.prompts=8", f"logging.run_dir={tmp_path / 'run'}"])  # fmt: skip
    with pytest.raises(ValueError, match=r"eval.prompts \(8\) rows of 8 would be held out"):
        train(cfg)


def test_evaluation_uses_the_current_length_limit(monkeypatch):
    calls = []
    monkeypatch.setattr("rlvr.trainer.run.evaluate", lambda *a, **kw: calls.append(kw["max_response_tokens"]))
    cfg = load_config(None, ["rollout.max_response_tokens=4", "length.schedule=[[0, 4], [3, 9]]"])
    run_eval(cfg, None, None, step=2)
    run_eval(cfg, None, None, step=5)
    assert calls == [4, 9]


def test_a_mixtures_dataset_components_hold_out_their_rows_too(tmp_path, seen):
    data = _dataset(tmp_path / "train.jsonl", 30)
    envs = f"[{{id: rlvr/Math-v0, kwargs: {{dataset: {data}}}}}, {{id: rlvr/Math-v0, kwargs: {{difficulty: 1}}}}]"
    vocab = string.printable  # generated math problems use most of ASCII
    run = f"logging.run_dir={tmp_path / 'run'}"
    cfg = load_config(None, [*SMALL, f"model.vocab_chars={vocab}", "env.id=rlvr/Mixture-v0", "grpo.steps=6",
                             f"env.kwargs={{envs: {envs}}}", "eval.prompts=6", run])  # fmt: skip
    train(cfg)
    rows = {
        part: {i for p, ids in seen if p == part for i in ids if i.startswith("train.jsonl")}
        for part in seen[0:0] or ("train", "eval")
    }
    held = {f"train.jsonl:{i + 1}" for i in holdout_rows(30, 6, cfg.eval.seed)}
    assert rows["train"] and rows["eval"] and rows["eval"] <= held and not rows["train"] & held
