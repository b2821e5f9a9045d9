"""benchmarks/parity.py --quick end to end, in a subprocess as `rlvr bench` runs it: the JSON and the plots."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_parity_quick_writes_json_and_plots(tmp_path):
    out = tmp_path / "results" / "parity.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "parity.py"), "--quick", "--out", str(out)],
        cwd=tmp_path, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(out.read_text())
    assert data["benchmark"] == "parity" and data["quick"] is True
    assert data["machine"]["cpu_count"] >= 1 and "torch" in data["machine"]["versions"]
    cells = data["grid"]
    assert [(c["n_bits"], c["long_fraction"]) for c in cells] == [(6, 0.25), (8, 0.25)]
    for c in cells:
        for key in ("sft_accuracy", "grpo_accuracy"):
            assert 0.0 <= c[key] <= 1.0
        assert c["after_sft"]["accuracy"] == c["sft_accuracy"] and c["after_grpo"]["accuracy"] == c["grpo_accuracy"]
        assert c["grpo_steps"] == [1, 2, 3]  # --quick: 3 GRPO steps, one length per step from metrics.jsonl
        lengths = c["grpo_response_tokens_by_step"]
        assert len(lengths) == 3 and all(0 <= v <= c["max_response_tokens"] for v in lengths)
        assert c["rl_length_first"] == lengths[0] and c["rl_length_last"] == lengths[-1]

    import matplotlib.image

    assert sorted(data["plots"]) == ["parity/accuracy.png", "parity/response_length.png"]
    for rel in data["plots"]:
        img = matplotlib.image.imread(str(out.parent / rel))
        assert img.shape[0] >= 300 and img.shape[1] >= 400
        assert (img[..., :3] < 0.9).any(axis=-1).mean() > 0.01  # ink, not a blank canvas
    assert "d=6" in proc.stdout and "wrote" in proc.stdout
    assert not list(tmp_path.glob("runs")) and sorted(p.name for p in out.parent.iterdir()) == ["parity", "parity.json"]


def test_parity_rejects_a_bad_override(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "parity.py"), "--quick", "--bits", "6", "--set", "grpo.nope=1",
         "--out", str(tmp_path / "p.json")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2 and "grpo.nope" in proc.stderr
    assert not (tmp_path / "p.json").exists()
