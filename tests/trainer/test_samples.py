"""samples.jsonl: what the model wrote at GRPO steps and evaluations; `rlvr report` shows the best and worst per
evaluation; `rlvr eval --show N` prints responses with their verdicts."""

from __future__ import annotations

import json

from rlvr.trainer.samples import FIELDS, SampleLog, best_and_worst
from rlvr.trainer.samples import load as load_samples

from .conftest import G


def test_a_recorded_step_holds_its_first_groups_as_sampled_and_verified(make_trainer, tmp_path):
    trainer = make_trainer()
    log = trainer.sample_log = SampleLog(str(tmp_path), every_steps=2, groups=1)
    for step in (1, 2):
        log.step = step
        trainer.step(step)
    log.close()
    rows = load_samples(str(tmp_path))
    assert [r["step"] for r in rows] == [2] * G and {r["phase"] for r in rows} == {"grpo"}  # step 1 not recorded
    assert all(set(r) == {"phase", "step", *FIELDS} for r in rows)
    last = trainer.last  # step 2's rollout (no dynamic sampling: its groups are the ones generated)
    assert [r["response"] for r in rows] == [e.text for e in last.episodes[:G]]
    assert [r["status"] for r in rows] == last.status[:G]
    assert all(r["reward"] == (1.0 if r["status"] == "correct" else 0.0) for r in rows)  # parity's reward
    assert len({r["prompt"] for r in rows}) == 1 and all(r["prompt"].endswith("=") for r in rows)
    assert {r["env"] for r in rows} == {"parity"}


def test_best_and_worst_are_distinct_and_leave_errors_out():
    verdicts = [(0.0, "incorrect"), (1.0, "correct"), (0.0, "error"), (0.5, "incorrect"), (1.0, "correct")]
    rows = [{"reward": r, "status": s, "response": str(i)} for i, (r, s) in enumerate(verdicts)]
    best, worst = best_and_worst(rows, 2)
    assert [r["response"] for r in best] == ["1", "4"] and [r["response"] for r in worst] == ["0", "3"]
    best, worst = best_and_worst(rows[:2], 2)  # fewer than 2n: no record is both
    assert [r["response"] for r in best] == ["1", "0"] and worst == []


def test_a_run_writes_samples_and_the_report_and_eval_show_them(tmp_path, capsys):
    from rlvr.cli import main
    from rlvr.trainer.config import load_config
    from rlvr.trainer.run import train

    def run(run_dir, *extra):
        return load_config("configs/parity.yaml", [
            "env.kwargs={n_bits: 4, style: plain}", "sft.steps=2", "sft.demos=32", "grpo.steps=3",
            "grpo.prompts_per_step=4", "grpo.samples_per_prompt=4", "grpo.minibatch_samples=8",
            "rollout.max_response_tokens=8",
            "eval.prompts=3", "eval.samples_per_prompt=2", "eval.every_steps=2", "logging.progress=false",
            "logging.tensorboard=false", f"logging.run_dir={run_dir}", *extra,
        ])  # fmt: skip

    train(run(tmp_path / "a", "logging.samples_every_steps=2", "logging.samples_groups=1"))
    train(run(tmp_path / "b", "logging.samples_every_steps=0"))
    rows = load_samples(str(tmp_path / "a"))
    grpo = [r for r in rows if r["phase"] == "grpo"]
    evals = [r for r in rows if r["phase"] == "eval"]
    assert [r["step"] for r in grpo] == [2] * 4  # one group of 4, at step 2 only
    assert [r["step"] for r in evals] == [0] * 3 + [2] * 3 + [3] * 3  # after SFT, every 2 steps, at the end
    metrics = [json.loads(x) for x in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    ev3 = next(m for m in metrics if m["phase"] == "eval" and m["step"] == 3)
    assert ev3["prompts"] == 3
    # recording draws no random numbers: a run that records nothing at GRPO steps trains identically
    strip = lambda d: [{k: v for k, v in json.loads(x).items() if not k.startswith("time")}  # noqa: E731
                       for x in (d / "metrics.jsonl").read_text().splitlines()]  # fmt: skip
    assert strip(tmp_path / "a") == strip(tmp_path / "b")
    assert {r["phase"] for r in load_samples(str(tmp_path / "b"))} == {"eval"}

    capsys.readouterr()
    assert main(["report", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    assert [line for line in out.splitlines() if line.startswith("eval at step")] == [
        "eval at step 0:", "eval at step 2:", "eval at step 3:"]  # fmt: skip
    assert out.count("  best ") == 6 and out.count("  worst") == 3  # 3 records per evaluation: 2 best, 1 worst
    page = (tmp_path / "a" / "report.html").read_text()
    assert "Samples at each evaluation" in page and page.count("<td>best</td>") == 6

    ckpt = tmp_path / "a" / "checkpoints" / "latest"
    argv = ["eval", "--model", str(ckpt), "--env", "rlvr/Parity-v0", "--set", "n_bits=4", "--set", "style=plain",
            "--prompts", "2", "--samples", "2", "--max-response-tokens", "8", "--show", "3"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    summary = json.loads(out[: out.index("--- sample")])
    shown = out[out.index("--- sample") :].split("--- sample ")[1:]
    assert len(shown) == 3 and shown[0].startswith("1/3 (prompt 0, sample 0, env parity): ")
    assert shown[2].startswith("3/3 (prompt 1, sample 0, env parity): ")
    statuses = [s.split(": ", 1)[1].split(",")[0] for s in shown]
    assert set(statuses) <= {"correct", "incorrect", "unparsed"} and "\nresponse: " in shown[0]
    assert summary["prompts"] == 2
