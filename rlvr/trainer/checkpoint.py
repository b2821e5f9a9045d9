"""Checkpoints: `RUN_DIR/checkpoints/step_N/` is a Hugging Face model directory (model + tokenizer, loadable with
`AutoModelForCausalLM.from_pretrained`) plus the full trainer state, so `rlvr train --resume RUN_DIR` continues
exactly where the run was:

    trainer_state.pt    step, optimizer, scheduler, every RNG (python, numpy, torch, CUDA; `rng` is this process's,
                        `rng_ranks` every rank's in a data-parallel run), controller states (KL coefficient,
                        reset trigger, non-finite counter), the evaluations so far
    reference.pt        the reference policy's state dict (it differs from the policy after reference resets)

The data position is the step itself: a step's prompts come from seeds derived from (env.seed, step).
A checkpoint is written under a temporary name and renamed when complete, so `step_N` is whole or absent;
`latest` is a symlink to the newest complete one, replaced atomically. Only the `keep_last` newest are kept.
"""

from __future__ import annotations

import os
import random
import re
import shutil

import numpy as np
import torch

_STEP = re.compile(r"^step_(\d+)$")
STATE_FILE, REFERENCE_FILE = "trainer_state.pt", "reference.pt"


def rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    run_dir: str, step: int, model, tokenizer, state: dict | None = None, reference=None, keep_last: int = 2
) -> str:
    """Write `step_N` (model, tokenizer, `state` + the RNG states, the reference's weights); returns its path."""
    root = os.path.join(run_dir, "checkpoints")
    os.makedirs(root, exist_ok=True)
    final = os.path.join(root, f"step_{step}")
    tmp = os.path.join(root, f".tmp-step_{step}")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    torch.save({"step": step, "rng": rng_state(), **(state or {})}, os.path.join(tmp, STATE_FILE))
    if reference is not None:
        torch.save(reference.state_dict(), os.path.join(tmp, REFERENCE_FILE))
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


def latest_checkpoint(run_dir: str) -> str | None:
    """The newest complete checkpoint directory of a run, or None (leftover temporary directories are ignored)."""
    root = os.path.join(run_dir, "checkpoints")
    if not os.path.isdir(root):
        return None
    steps = sorted(int(m.group(1)) for m in map(_STEP.match, os.listdir(root)) if m)
    return os.path.join(root, f"step_{steps[-1]}") if steps else None


def load_state(path: str) -> dict:
    """The trainer state of a checkpoint directory (our own file: it holds python RNG tuples, so not weights-only)."""
    return torch.load(os.path.join(path, STATE_FILE), weights_only=False)


def load_weights(model, path: str) -> None:
    """Load the model weights saved in checkpoint directory `path` into `model` (same architecture)."""
    src = type(model).from_pretrained(path, dtype=next(model.parameters()).dtype)
    model.load_state_dict(src.state_dict())


def load_reference(ref, path: str) -> bool:
    """Load the reference weights of checkpoint `path` into `ref`; False when the checkpoint has none."""
    file = os.path.join(path, REFERENCE_FILE)
    if not os.path.isfile(file):
        return False
    ref.load_state_dict(torch.load(file, weights_only=True))
    return True
