"""`rlvr report`: plots and an HTML page from a real (tiny) training run and from hand-written metrics."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from rlvr.cli import main as cli_main
from rlvr.report import load_metrics, render_report

ROOT = Path(__file__).resolve().parent.parent
TINY = [
    "sft.steps=5", "sft.demos=256", "grpo.steps=3", "grpo.prompts_per_step=4", "grpo.samples_per_prompt=4",
    "grpo.minibatch_samples=8", "eval.prompts=4", "eval.samples_per_prompt=4", "eval.every_steps=2",
    "env.kwargs={n_bits: 8, style: plain}", "rollout.max_response_tokens=10", "logging.progress=false",
    "logging.tensorboard=false",
]  # fmt: skip


def read_png(path) -> np.ndarray:
    import matplotlib.image

    return matplotlib.image.imread(str(path))


def assert_png_has_content(path) -> None:
    img = read_png(path)
    assert img.ndim == 3 and img.shape[0] >= 200 and img.shape[1] >= 300, img.shape
    rgb = (img[..., :3] * 255).astype(np.uint32)
    packed = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    # A plot, not a blank canvas: many distinct colours (lines, text, anti-aliasing), and ink on the page.
    assert len(np.unique(packed)) > 20 and (packed != 0xFFFFFF).mean() > 0.02


def img_sources(page: str) -> list[str]:
    return re.findall(r"<img src='([^']+)'", page)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from rlvr.trainer.config import load_config
    from rlvr.trainer.run import train

    run_dir = tmp_path_factory.mktemp("run")
    train(load_config(ROOT / "configs" / "parity.yaml", [*TINY, f"logging.run_dir={run_dir}"]))
    return run_dir


def test_report_of_a_real_run(run_dir, tmp_path):
    out = tmp_path / "out"
    report = render_report(str(run_dir), str(out))
    assert report.html == str(out / "report.html") and report.warnings == []
    names = {os.path.basename(p) for p in report.plots}
    expected = {"sft_loss.png", "reward.png", "accuracy.png", "kl.png", "entropy.png", "response_length.png",
                "clip_fraction.png", "pass_at_k.png"}  # fmt: skip
    assert expected <= names
    assert set(os.listdir(out / "plots")) == names
    for p in report.plots:
        assert_png_has_content(p)
    page = (out / "report.html").read_text()
    assert sorted(img_sources(page)) == sorted(f"plots/{n}" for n in names)  # relative, every PNG
    config = (run_dir / "config.yaml").read_text()
    assert "n_bits: 8" in config and "n_bits: 8" in page and "Parity-v0" in page
    assert "after SFT" in page and "after GRPO" in page  # the results.json table
    # Quantities that runs of this trainer version may not log yet are listed, not drawn.
    for title in report.skipped:
        assert title in page


def test_report_through_the_cli_defaults_to_the_run_dir(run_dir, capsys):
    assert cli_main(["report", str(run_dir)]) == 0
    out = capsys.readouterr()
    assert str(run_dir / "report.html") in out.out and out.err == ""
    page = (run_dir / "report.html").read_text()
    pngs = sorted(os.listdir(run_dir / "plots"))
    assert pngs and sorted(img_sources(page)) == [f"plots/{p}" for p in pngs]


def write_metrics(run_dir: Path, records: list[dict], tail: str = "") -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(r) for r in records]  # json writes float("nan") as NaN, as the trainer does
    (run_dir / "metrics.jsonl").write_text("\n".join(lines) + "\n" + tail)
    (run_dir / "config.yaml").write_text("grpo:\n  kl_coef: 0.001\nlogging:\n  name: hand-written\n")


def grpo(step: int, **extra) -> dict:
    base = {"reward": 0.1 * step, "accuracy": 0.1 * step, "kl": 0.01 * step, "kl_coef": 0.001, "entropy": 1.0,
            "response_tokens": 2.0 + step, "max_response_tokens": 24, "clip_fraction": 0.05,
            "kept_fraction": 0.75}  # fmt: skip
    return {"phase": "grpo", "step": step, "time": 0.0, **base, **extra}


def hand_written_run(run_dir: Path) -> None:
    records = [{"phase": "sft", "step": s, "time": 0.0, "loss": 1.0 / s} for s in range(1, 6)]
    records.append({"phase": "eval", "step": 0, "accuracy": 0.5, "pass@1": 0.5, "pass@2": 0.7, "math/pass@1": 0.4})
    for s in range(1, 9):
        extra = {"reward": float("nan"), "kl": float("inf")} if s == 4 else {}
        records.append(grpo(s, **extra))
        if s in (3, 6):
            records.append({"phase": "reset", "step": s, "time": 0.0, "reason": f"kl above target at step {s}"})
    records.append({"phase": "eval", "step": 8, "accuracy": 0.9, "pass@1": 0.9, "pass@2": float("nan"),
                    "math/pass@1": 0.8})  # fmt: skip
    write_metrics(run_dir, records, tail='{"phase": "grpo", "step": 9, "rew')  # the run crashed mid-write


def test_hand_written_metrics_with_resets_nan_and_a_truncated_line(tmp_path, capsys):
    run_dir = tmp_path / "run"
    hand_written_run(run_dir)
    records, warnings = load_metrics(str(run_dir / "metrics.jsonl"))
    assert len(records) == 5 + 1 + 8 + 2 + 1
    n_lines = len((run_dir / "metrics.jsonl").read_text().splitlines())
    assert len(warnings) == 1 and f"line {n_lines}" in warnings[0] and "truncated" in warnings[0]

    assert cli_main(["report", str(run_dir)]) == 0
    err = capsys.readouterr().err
    assert f"line {n_lines}" in err and "warning" in err

    names = set(os.listdir(run_dir / "plots"))
    assert names == {"sft_loss.png", "reward.png", "accuracy.png", "kl.png", "entropy.png", "response_length.png",
                     "clip_fraction.png", "kept_fraction.png", "pass_at_k.png", "pass_at_k_math.png"}  # fmt: skip
    for n in names:
        assert_png_has_content(run_dir / "plots" / n)
    page = (run_dir / "report.html").read_text()
    assert "kl above target at step 3" in page and "kl above target at step 6" in page
    assert f"line {n_lines}" in page  # the warning is on the page too
    assert "reward: 1 non-finite value(s) not drawn (step 4)" in page
    assert "kl: 1 non-finite value(s) not drawn (step 4)" in page
    assert "Not plotted" not in page  # every quantity was logged
    assert "hand-written" in page and "kl_coef: 0.001" in page


def test_reset_lines_are_drawn_on_grpo_plots_only(tmp_path):
    """The same metrics with and without reset records: GRPO plots change, the SFT loss plot does not."""
    with_resets, without = tmp_path / "a", tmp_path / "b"
    hand_written_run(with_resets)
    lines = (with_resets / "metrics.jsonl").read_text().splitlines(keepends=True)
    without.mkdir()
    (without / "metrics.jsonl").write_text("".join(line for line in lines if '"reset"' not in line))
    render_report(str(with_resets))
    report = render_report(str(without))
    assert any("config.yaml" in w for w in report.warnings)  # missing config: a warning, not a failure
    for name in ("reward.png", "kl.png", "response_length.png", "pass_at_k.png"):
        assert not np.array_equal(read_png(with_resets / "plots" / name), read_png(without / "plots" / name)), name
    sft = "plots/sft_loss.png"
    assert np.array_equal(read_png(with_resets / sft), read_png(without / sft))


def test_a_run_without_newer_metrics_lists_them_as_skipped(tmp_path):
    run_dir = tmp_path / "run"
    records = [{"phase": "grpo", "step": s, "reward": 0.5, "response_tokens": 3.0, "kl": float("nan")} for s in (1, 2)]
    write_metrics(run_dir, records)
    report = render_report(str(run_dir), str(tmp_path / "out"))
    assert {os.path.basename(p) for p in report.plots} == {"reward.png", "response_length.png", "kl.png"}
    assert {"SFT loss", "Accuracy", "Entropy", "Clip fraction", "Kept-group fraction (dynamic sampling)",
            "pass@k"} == set(report.skipped)  # fmt: skip
    page = (tmp_path / "out" / "report.html").read_text()
    assert "Not plotted" in page and "kept_fraction" in page and "pass@k" in page
    assert "kl: 2 non-finite value(s) not drawn (step 1, 2)" in page
    assert not (run_dir / "plots").exists()  # --out: nothing written into the run directory


def test_later_record_of_a_step_wins(tmp_path):
    """A resumed run appends to metrics.jsonl: the later record of a (phase, step) replaces the earlier."""
    from rlvr.report import by_phase, series

    records = [grpo(1), grpo(2, reward=0.0), grpo(2, reward=0.9), grpo(3)]
    assert series(by_phase(records)["grpo"], "reward") == ([1, 2, 3], [pytest.approx(0.1), 0.9, pytest.approx(0.3)])


def test_errors(tmp_path, capsys):
    assert cli_main(["report", str(tmp_path / "absent")]) == 2
    assert "rlvr: error:" in capsys.readouterr().err
    assert cli_main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "rlvr: error:" in err and "metrics.jsonl" in err
    (tmp_path / "metrics.jsonl").write_text('{"phase": "grpo", "st')
    assert cli_main(["report", str(tmp_path)]) == 2
    assert "no metrics records" in capsys.readouterr().err


def test_a_bad_line_in_the_middle_is_skipped_with_its_number(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text(
        json.dumps(grpo(1)) + "\nnot json\n[1, 2]\n" + json.dumps({"phase": "grpo", "step": "x"}) + "\n"
        + json.dumps(grpo(2)) + "\n\n"
    )  # fmt: skip
    records, warnings = load_metrics(str(path))
    assert [r["step"] for r in records] == [1, 2]
    assert [w.split(":")[0] for w in warnings] == [f"metrics.jsonl line {n}" for n in (2, 3, 4)]
    assert "truncated" not in " ".join(warnings)
