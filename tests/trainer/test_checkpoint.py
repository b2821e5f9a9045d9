"""Checkpoints load with AutoModelForCausalLM.from_pretrained; `latest` moves; old ones are pruned; a damaged,
empty or renamed checkpoint is never trusted (manifest), and a full disk says so."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
import torch

from rlvr.trainer.checkpoint import (
    CheckpointError,
    find_checkpoint,
    latest_checkpoint,
    load_reference,
    load_state,
    load_weights,
    save_checkpoint,
    verify_checkpoint,
)
from rlvr.trainer.config import ModelConfig
from rlvr.trainer.model import build_model, load_model


def test_checkpoint_loads_with_from_pretrained_and_latest_moves(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    model, tok = build_model(ModelConfig())
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(input_ids=torch.tensor([[3, 4, 5]])).logits.sum().backward()
    opt.step()
    for step in (1, 2, 3):
        path = save_checkpoint(str(tmp_path), step, model, tok, {"optimizer": opt.state_dict()}, keep_last=2)
    root = tmp_path / "checkpoints"
    assert sorted(os.listdir(root)) == ["latest", "step_2", "step_3"]  # pruned, no temporary names left
    assert os.readlink(root / "latest") == "step_3" and path == str(root / "step_3")

    loaded = AutoModelForCausalLM.from_pretrained(root / "latest")
    loaded_tok = AutoTokenizer.from_pretrained(root / "latest")
    ids = torch.tensor([tok("0110=").input_ids])
    torch.testing.assert_close(loaded(input_ids=ids).logits, model(input_ids=ids).logits)
    assert loaded_tok("0110=").input_ids == tok("0110=").input_ids
    assert loaded_tok.decode([3, 4, 1], skip_special_tokens=True) == "01"
    state = torch.load(root / "latest" / "trainer_state.pt", weights_only=False)
    assert state["step"] == 3 and state["optimizer"]["state"]

    again, again_tok = load_model(ModelConfig(path=str(root / "latest")))
    assert again_tok.padding_side == "left" and again_tok.eos_token_id == tok.eos_token_id


def test_a_write_cut_short_leaves_the_previous_checkpoint_and_state_round_trips(tmp_path):
    torch.manual_seed(0)
    model, tok = build_model(ModelConfig())
    ref = build_model(ModelConfig(init_seed=7))[0]
    save_checkpoint(str(tmp_path), 1, model, tok, {"note": "one"}, reference=ref)
    # a crash while writing step 2: its temporary directory exists, half-written
    partial = tmp_path / "checkpoints" / ".tmp-step_2"
    partial.mkdir()
    (partial / "config.json").write_text("{")
    assert latest_checkpoint(str(tmp_path)) == str(tmp_path / "checkpoints" / "step_1")
    state = load_state(latest_checkpoint(str(tmp_path)))
    assert state["step"] == 1 and state["note"] == "one" and set(state["rng"]) >= {"python", "numpy", "torch"}

    fresh, fresh_ref = build_model(ModelConfig(init_seed=3))[0], build_model(ModelConfig(init_seed=4))[0]
    load_weights(fresh, str(tmp_path / "checkpoints" / "step_1"))
    assert load_reference(fresh_ref, str(tmp_path / "checkpoints" / "step_1"))
    for a, b in ((fresh, model), (fresh_ref, ref)):
        for (name, x), y in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
            torch.testing.assert_close(x, y, rtol=0, atol=0, msg=name)
    assert latest_checkpoint(str(tmp_path / "nothing")) is None


# --- faults: a checkpoint is trusted only when its manifest checks out; resume falls back to the newest good one


def _two_checkpoints(tmp_path):
    torch.manual_seed(0)
    model, tok = build_model(ModelConfig())
    ref = build_model(ModelConfig(init_seed=7))[0]
    for step in (1, 2):
        save_checkpoint(str(tmp_path), step, model, tok, {"note": step}, reference=ref, keep_last=3)
    return model, ref, tmp_path / "checkpoints"


def test_the_manifest_lists_every_file_with_size_and_hash(tmp_path):
    _, _, root = _two_checkpoints(tmp_path)
    manifest = json.loads((root / "step_2" / "manifest.json").read_text())
    assert manifest["step"] == 2
    assert {"model.safetensors", "config.json", "trainer_state.pt", "reference.pt"} <= set(manifest["files"])
    entry = manifest["files"]["trainer_state.pt"]
    assert entry["bytes"] == (root / "step_2" / "trainer_state.pt").stat().st_size and len(entry["sha256"]) == 64
    assert verify_checkpoint(str(root / "step_2")) == ""
    assert find_checkpoint(str(tmp_path)) == (str(root / "step_2"), [])


@pytest.mark.parametrize("damage", ["truncated", "flipped"])
@pytest.mark.parametrize("name", ["trainer_state.pt", "reference.pt", "model.safetensors"])
def test_a_damaged_file_is_named_and_resume_falls_back(tmp_path, name, damage):
    model, ref, root = _two_checkpoints(tmp_path)
    file = root / "step_2" / name
    data = file.read_bytes()
    if damage == "truncated":
        file.write_bytes(data[: len(data) // 2])
    else:  # same size, one byte changed in the middle
        mid = len(data) // 2
        file.write_bytes(data[:mid] + bytes([data[mid] ^ 0xFF]) + data[mid + 1 :])
    path, skipped = find_checkpoint(str(tmp_path))
    assert path == str(root / "step_1") and latest_checkpoint(str(tmp_path)) == path
    assert len(skipped) == 1 and skipped[0].startswith(f"step_2: {name} ")
    assert ("bytes" in skipped[0]) if damage == "truncated" else ("SHA-256" in skipped[0])
    if damage == "truncated":  # loading it anyway: an error that names the file, not a bare torch traceback
        fresh = build_model(ModelConfig(init_seed=3))[0]
        load = {
            "trainer_state.pt": lambda: load_state(str(root / "step_2")),
            "reference.pt": lambda: load_reference(fresh, str(root / "step_2")),
            "model.safetensors": lambda: load_weights(fresh, str(root / "step_2")),
        }[name]
        with pytest.raises(CheckpointError, match=re.escape(str(file))):
            load()


def test_empty_and_renamed_step_directories_are_not_taken(tmp_path):
    _, _, root = _two_checkpoints(tmp_path)
    (root / "step_999999").mkdir()  # empty: no manifest
    path, skipped = find_checkpoint(str(tmp_path))
    assert path == str(root / "step_2") and skipped == ["step_999999: no manifest.json " + skipped[0].split("json ")[1]]
    os.rename(root / "step_2", root / "step_5")  # a checkpoint whose saved step disagrees with its directory
    path, skipped = find_checkpoint(str(tmp_path))
    assert path == str(root / "step_1")
    assert "manifest.json says step 2, the directory says step 5" in skipped[1]
    with pytest.raises(CheckpointError, match=r"holds step 2, but its directory is step_5"):
        load_state(str(root / "step_5"))
    # pruning counts complete checkpoints only: the junk directories neither survive in their place nor vanish
    model, tok = build_model(ModelConfig())
    for step in (6, 7):
        save_checkpoint(str(tmp_path), step, model, tok, keep_last=2)
    assert sorted(os.listdir(root)) == ["latest", "step_5", "step_6", "step_7", "step_999999"]
    assert find_checkpoint(str(tmp_path))[0] == str(root / "step_7")


def test_a_leftover_temporary_directory_is_removed_by_the_next_write(tmp_path):
    _, _, root = _two_checkpoints(tmp_path)
    (root / ".tmp-step_9").mkdir()
    (root / ".tmp-step_9" / "model.safetensors").write_bytes(b"\0" * 100)
    model, tok = build_model(ModelConfig())
    save_checkpoint(str(tmp_path), 3, model, tok, keep_last=3)
    assert not [n for n in os.listdir(root) if n.startswith(".tmp")]


DISK_FULL = """
import json, os, sys
import torch
from rlvr.trainer.checkpoint import CheckpointError, find_checkpoint, save_checkpoint
from rlvr.trainer.config import ModelConfig
from rlvr.trainer.model import build_model

run = sys.argv[1]
model, tok = build_model(ModelConfig())
opt = torch.optim.AdamW(model.parameters())
model(input_ids=torch.tensor([[3, 4]])).logits.sum().backward()
opt.step()
save_checkpoint(run, 1, model, tok, {"optimizer": opt.state_dict()}, reference=model)
free = os.statvfs(run).f_bavail * os.statvfs(run).f_frsize
with open(os.path.join(run, "filler"), "wb") as f:  # leave room for part of a checkpoint only
    f.write(b"x" * (free - 400_000))
try:
    save_checkpoint(run, 2, model, tok, {"optimizer": opt.state_dict()}, reference=model)
    error = ""
except CheckpointError as e:
    error = str(e)
print(json.dumps({"error": error, "files": sorted(os.listdir(os.path.join(run, "checkpoints"))),
                  "found": find_checkpoint(run)}))
"""


def test_a_full_disk_says_so_and_leaves_no_partial_checkpoint(tmp_path):
    """On a real full file system (a 4 MiB tmpfs in a private mount namespace): torch alone says "unexpected pos"."""
    if subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode:
        pytest.skip("needs `unshare -rm` (user and mount namespaces) to mount a small tmpfs")
    script, mount = tmp_path / "full.py", tmp_path / "small"
    script.write_text(DISK_FULL)
    mount.mkdir()
    cmd = f"mount -t tmpfs -o size=4m tmpfs {mount} && exec {sys.executable} {script} {mount}"
    out = subprocess.run(["unshare", "-rm", "sh", "-c", cmd], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert "the disk is full (ENOSPC) while writing checkpoint step_2" in result["error"]
    assert "partial write was removed" in result["error"]
    assert result["files"] == ["latest", "step_1"]  # no .tmp-step_2 left behind
    assert result["found"] == [f"{mount}/checkpoints/step_1", []]


def test_resume_passes_over_damaged_checkpoints_and_loses_nothing(tmp_path, capsys):
    """A run whose newest checkpoint is truncated, with an empty `step_999999/`, a write cut short (`.tmp-step_4`)
    and junk at the end of metrics.jsonl resumes from the newest intact checkpoint, says which and why, and ends
    with the metrics and weights of a run that never broke."""
    from transformers import AutoModelForCausalLM

    from rlvr.cli import main
    from rlvr.trainer.config import load_config
    from rlvr.trainer.run import train

    def run(run_dir):
        return load_config("configs/parity.yaml", [
            "env.kwargs={n_bits: 4, style: plain}", "sft.steps=2", "sft.demos=32", "grpo.steps=3",
            "grpo.prompts_per_step=4", "grpo.samples_per_prompt=4", "grpo.minibatch_samples=8",
            "rollout.max_response_tokens=8",
            "eval.prompts=4", "eval.samples_per_prompt=2", "logging.progress=false", "logging.tensorboard=false",
            "checkpoint.every_steps=1", "checkpoint.keep_last=4", f"logging.run_dir={run_dir}",
        ])  # fmt: skip

    straight, broken = tmp_path / "straight", tmp_path / "broken"
    train(run(straight))
    train(run(broken))
    root = broken / "checkpoints"
    state = root / "step_3" / "trainer_state.pt"
    state.write_bytes(state.read_bytes()[:100])
    (root / "step_999999").mkdir()
    (root / ".tmp-step_4").mkdir()
    with open(broken / "metrics.jsonl", "ab") as f:
        f.write(b'12\n{"phase": "grpo", "step": "x"}\n\xff\xfe{"phase": "grpo", "st')
    capsys.readouterr()
    assert main(["train", "--resume", str(broken)]) == 0
    err = capsys.readouterr().err
    assert "removed unfinished checkpoint writes .tmp-step_4" in err
    assert "passing over step_999999: no manifest.json" in err
    assert "passing over step_3: trainer_state.pt is 100 bytes" in err
    assert "resuming from step_2, the newest intact checkpoint" in err

    def records(d):
        lines = (d / "metrics.jsonl").read_text().splitlines()
        return [{k: v for k, v in json.loads(x).items() if not k.startswith("time")} for x in lines]

    assert records(broken) == records(straight)
    assert (broken / "samples.jsonl").read_text() == (straight / "samples.jsonl").read_text()  # no step twice
    a = AutoModelForCausalLM.from_pretrained(straight / "checkpoints" / "step_3").state_dict()
    b = AutoModelForCausalLM.from_pretrained(root / "step_3").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert verify_checkpoint(str(root / "step_3")) == "" and (root / "step_999999").is_dir()
