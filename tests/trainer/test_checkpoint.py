"""Checkpoints load with AutoModelForCausalLM.from_pretrained; `latest` moves; old ones are pruned."""

from __future__ import annotations

import os

import torch

from rlvr.trainer.checkpoint import latest_checkpoint, load_reference, load_state, load_weights, save_checkpoint
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
