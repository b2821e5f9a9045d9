"""`rlvr export`: verl-style rows, deterministic per seed, that round-trip through compute_score."""

from __future__ import annotations

import json

import gymnasium as gym
import pytest

import rlvr  # noqa: F401 - registers the ids
from rlvr.cli import main
from rlvr.integrations.export import rows, write
from rlvr.integrations.verl import compute_score


def read(path):
    if str(path).endswith(".jsonl"):
        return [json.loads(line) for line in open(path, encoding="utf-8")]
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


def check_layout(row, env_id):
    assert set(row) == {"data_source", "prompt", "ability", "reward_model", "extra_info"}
    assert row["data_source"] == env_id
    assert [m["role"] for m in row["prompt"]] == ["user"] and row["prompt"][0]["content"]
    assert row["reward_model"]["style"] == "rule" and isinstance(row["reward_model"]["ground_truth"], str)
    assert {"index", "seed", "problem_id", "verifier", "env_id", "env_kwargs"} <= set(row["extra_info"])


def round_trip(row):
    """The env at the row's seed shows the row's prompt, and its reference response scores 1.0 against the row."""
    info = row["extra_info"]
    env = gym.make(row["data_source"], **json.loads(info["env_kwargs"]))
    prompt, _ = env.reset(seed=info["seed"])
    assert prompt == row["prompt"][0]["content"]
    truth = row["reward_model"]["ground_truth"]
    good = compute_score(row["data_source"], env.unwrapped.reference_response(), truth, info)
    bad = compute_score(row["data_source"], env.unwrapped.negative_responses()[0], truth, info)
    assert good["score"] == 1.0 and bad["score"] < 1.0


def test_jsonl_rows_round_trip_and_are_deterministic_per_seed(tmp_path):
    a, b, c = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    assert main(["export", "rlvr/Mixture-v0", "--n", "12", "--seed", "3", "--out", str(a)]) == 0
    assert main(["export", "rlvr/Mixture-v0", "--n", "12", "--seed", "3", "--out", str(b)]) == 0
    assert main(["export", "rlvr/Mixture-v0", "--n", "12", "--seed", "4", "--out", str(c)]) == 0
    assert a.read_bytes() == b.read_bytes()
    assert read(a) != read(c)
    data = read(a)
    assert [r["extra_info"]["index"] for r in data] == list(range(12))
    assert len({r["extra_info"]["verifier"] for r in data}) > 1  # a mixture: rows name their own verifiers
    for row in data:
        check_layout(row, "rlvr/Mixture-v0")
        round_trip(row)


@pytest.mark.pyarrow
@pytest.mark.parametrize("env_id", ["rlvr/Math-v0", "rlvr/Sudoku-v0", "rlvr/Instruction-v0"])
def test_parquet_rows_round_trip(tmp_path, env_id):
    out = tmp_path / "rows.parquet"
    assert main(["export", env_id, "--n", "5", "--seed", "0", "--out", str(out), "--kwargs", "{}"]) == 0
    data = read(out)
    assert data == list(rows(env_id, 5, seed=0))
    for row in data:
        check_layout(row, env_id)
        round_trip(row)


def test_env_kwargs_travel_with_the_rows(tmp_path):
    out = tmp_path / "hard.jsonl"
    assert main(["export", "rlvr/Math-v0", "--n", "3", "--out", str(out), "--kwargs", '{"difficulty": 9}']) == 0
    for row in read(out):
        assert json.loads(row["extra_info"]["env_kwargs"]) == {"difficulty": 9}
        round_trip(row)


def test_bad_arguments_are_clear_errors(tmp_path, capsys):
    assert main(["export", "rlvr/Math-v0", "--n", "3", "--out", str(tmp_path / "x.csv")]) == 2
    assert "out must end in .parquet or .jsonl" in capsys.readouterr().err
    assert main(["export", "rlvr/Math-v0", "--n", "0", "--out", str(tmp_path / "x.jsonl")]) == 2
    assert "n must be a positive integer" in capsys.readouterr().err
    assert main(["export", "rlvr/Math-v0", "--n", "2", "--out", str(tmp_path / "x.jsonl"), "--kwargs", "3"]) == 2
    assert "--kwargs must be a JSON object" in capsys.readouterr().err
    assert main(["export", "rlvr/Nope-v0", "--n", "2", "--out", str(tmp_path / "x.jsonl")]) == 2
    assert "cannot make rlvr/Nope-v0" in capsys.readouterr().err
    assert not (tmp_path / "x.jsonl").exists()
    with pytest.raises(ValueError, match="n must be a positive integer"):
        write(str(tmp_path / "y.jsonl"), "rlvr/Math-v0", -1)


def test_a_dataset_env_exports_each_row_once(tmp_path):
    """`rlvr export rlvr/Math-v0 --kwargs '{"dataset": ...}' --n N` over an N-row file writes the whole file: row i
    was problem derive_seed(seed, i), i.e. N draws with repeats (10 rows gave 6 distinct, one of them 4 times)."""
    data = tmp_path / "ten.jsonl"
    lines = [json.dumps({"problem": f"What is {i} + 1?", "answer": str(i + 1)}) for i in range(10)]
    data.write_text("\n".join(lines) + "\n")
    kwargs = {"dataset": str(data)}
    exported = list(rows("rlvr/Math-v0", 10, seed=0, env_kwargs=kwargs))
    assert sorted(r["reward_model"]["ground_truth"] for r in exported) == sorted(str(i + 1) for i in range(10))
    more = list(rows("rlvr/Math-v0", 25, seed=1, env_kwargs={**kwargs, "shuffle_seed": 3}))
    for start in (0, 10):  # every full pass holds each row once
        assert len({r["extra_info"]["problem_id"] for r in more[start : start + 10]}) == 10
    assert list(rows("rlvr/Math-v0", 25, seed=1, env_kwargs={**kwargs, "shuffle_seed": 3})) == more
    for row in exported[:3] + more[-3:]:
        check_layout(row, "rlvr/Math-v0")
        round_trip(row)
