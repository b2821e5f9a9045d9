"""Checkpoints: `RUN_DIR/checkpoints/step_N/` is a Hugging Face model directory (model + tokenizer, loadable with
`AutoModelForCausalLM.from_pretrained`) plus `trainer_state.pt` (optimizer state and step).

A checkpoint is written under a temporary name and renamed when complete, so `step_N` is whole or absent;
`latest` is a symlink to the newest complete one, replaced atomically. Only the `keep_last` newest are kept.
Not saved yet (the resume issue): RNG states, data position, the reference policy, controller states.
"""

from __future__ import annotations

import os
import re
import shutil

import torch

_STEP = re.compile(r"^step_(\d+)$")


def save_checkpoint(run_dir: str, step: int, model, tokenizer, optimizer=None, keep_last: int = 2, extra=None) -> str:
    root = os.path.join(run_dir, "checkpoints")
    os.makedirs(root, exist_ok=True)
    final = os.path.join(root, f"step_{step}")
    tmp = os.path.join(root, f".tmp-step_{step}")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    state = {"step": step, **(extra or {})}
    if optimizer is not None:
        state["optimizer"] = optimizer.state_dict()
    torch.save(state, os.path.join(tmp, "trainer_state.pt"))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    link_tmp = os.path.join(root, ".latest-tmp")
    if os.path.lexists(link_tmp):
        os.remove(link_tmp)
    os.symlink(f"step_{step}", link_tmp)
    os.replace(link_tmp, os.path.join(root, "latest"))
    steps = sorted(int(m.group(1)) for m in map(_STEP.match, os.listdir(root)) if m)
    for old in steps[:-keep_last]:
        if old != step:
            shutil.rmtree(os.path.join(root, f"step_{old}"), ignore_errors=True)
    return final
