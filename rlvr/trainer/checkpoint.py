"""Checkpoints: `RUN_DIR/checkpoints/step_N/` is a Hugging Face model directory (model + tokenizer, loadable with
`AutoModelForCausalLM.from_pretrained`) plus the full trainer state, so `rlvr train --resume RUN_DIR` continues
exactly where the run was:

    trainer_state.pt    step, optimizer, scheduler, every RNG (python, numpy, torch, CUDA; `rng` is this process's,
                        `rng_ranks` every rank's in a data-parallel run), controller states (KL coefficient,
                        reset trigger, non-finite counter), the evaluations so far
    reference.pt        the reference policy's state dict (it differs from the policy after reference resets)
    manifest.json       written last: {"step": N, "files": {name: {"bytes": n, "sha256": hex}}} of every other file

The data position is the step itself: a step's prompts come from seeds derived from (env.seed, step).

What can go wrong, and what happens then:
- killed during a write (kill -9, power loss before the rename): a checkpoint is written under `.tmp-step_N` and
  renamed when complete, so `step_N` is whole or absent; `latest` is a symlink to the newest one, replaced
  atomically. Leftover `.tmp-step_*` directories are removed by the next writer and when a run resumes.
- a file damaged after the rename (truncated, a disk error, a copy cut short), an empty or hand-made `step_N/`, a
  directory renamed to another step: `find_checkpoint` checks the manifest (sizes, SHA-256, the step it names)
  and takes the newest checkpoint that passes, with a line per newer one it passed over saying why. Loading a
  file that still fails raises `CheckpointError` naming the file.
- a full disk (ENOSPC, or a quota): the partial `.tmp-step_N` is removed and `CheckpointError` says that the disk
  is full, with the free space (torch's own message is "unexpected pos"). The previous checkpoints are untouched.
Only the `keep_last` newest complete checkpoints are kept; directories that fail the check are never deleted
(they may hold what someone wants to look at) and never count as complete.
Not handled: the bytes are not fsync'ed before the rename, so a power cut can leave a renamed checkpoint with
short files; the manifest check then passes over it.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import random
import re
import shutil

import numpy as np
import torch

_STEP = re.compile(r"^step_(\d+)$")
_TMP = re.compile(r"^\.tmp-step_\d+$")
STATE_FILE, REFERENCE_FILE, MANIFEST_FILE = "trainer_state.pt", "reference.pt", "manifest.json"


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be written or read; the message names the file (or says the disk is full)."""


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


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _files(directory: str) -> list[str]:
    """Every file under `directory`, as sorted relative paths (the manifest excluded)."""
    out = []
    for base, _, names in os.walk(directory):
        out += [os.path.relpath(os.path.join(base, n), directory) for n in names]
    return sorted(f for f in out if f != MANIFEST_FILE)


def _write_manifest(directory: str, step: int) -> None:
    files = {f: {"bytes": os.path.getsize(os.path.join(directory, f)), "sha256": _sha256(os.path.join(directory, f))}
             for f in _files(directory)}  # fmt: skip
    with open(os.path.join(directory, MANIFEST_FILE), "w", encoding="utf-8") as f:
        json.dump({"step": step, "files": files}, f, indent=1)


def _torch_save(obj, path: str) -> None:
    """torch.save through our own file object: a failed write then keeps its OSError (errno) in the chain, where
    saving to a path only says "unexpected pos"."""
    with open(path, "wb") as f:
        torch.save(obj, f)


def _disk_full(exc: BaseException) -> bool:
    """True when `exc` or an exception in its chain is ENOSPC/EDQUOT (safetensors only says so in its text)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "No space left on device" in str(exc) or "os error 28" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def save_checkpoint(
    run_dir: str, step: int, model, tokenizer, state: dict | None = None, reference=None, keep_last: int = 2
) -> str:
    """Write `step_N` (model, tokenizer, `state` + the RNG states, the reference's weights, then the manifest);
    returns its path. On a full disk the partial write is removed and `CheckpointError` says so."""
    root = os.path.join(run_dir, "checkpoints")
    os.makedirs(root, exist_ok=True)
    final = os.path.join(root, f"step_{step}")
    tmp = os.path.join(root, f".tmp-step_{step}")
    remove_partial(root)
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        _torch_save({"step": step, "rng": rng_state(), **(state or {})}, os.path.join(tmp, STATE_FILE))
        if reference is not None:
            _torch_save(reference.state_dict(), os.path.join(tmp, REFERENCE_FILE))
        _write_manifest(tmp, step)  # last: a checkpoint with a manifest was written to the end
    except Exception as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if _disk_full(e):
            free = shutil.disk_usage(root).free
            raise CheckpointError(
                f"the disk is full (ENOSPC) while writing checkpoint step_{step} in {root}: the partial write was "
                f"removed ({free / 2**20:.1f} MiB free now); the previous checkpoints are intact. Free space, "
                "lower checkpoint.keep_last, or set checkpoint.save_optimizer=false, then `rlvr train --resume`"
            ) from e
        raise
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    link_tmp = os.path.join(root, ".latest-tmp")
    if os.path.lexists(link_tmp):
        os.remove(link_tmp)
    os.symlink(f"step_{step}", link_tmp)
    os.replace(link_tmp, os.path.join(root, "latest"))
    complete = [s for s in _steps(root) if (_manifest(os.path.join(root, f"step_{s}"))[0] or {}).get("step") == s]
    for old in complete[:-keep_last]:
        if old != step:
            shutil.rmtree(os.path.join(root, f"step_{old}"), ignore_errors=True)
    return final


def remove_partial(root: str) -> list[str]:
    """Remove the `.tmp-step_*` directories under checkpoints dir `root` (writes cut short); returns their names."""
    gone = sorted(n for n in os.listdir(root) if _TMP.match(n)) if os.path.isdir(root) else []
    for name in gone:
        shutil.rmtree(os.path.join(root, name), ignore_errors=True)
    return gone


def _steps(root: str) -> list[int]:
    return sorted(int(m.group(1)) for m in map(_STEP.match, os.listdir(root)) if m)


def _manifest(path: str) -> tuple[dict | None, str]:
    """(the manifest of checkpoint `path`, "") or (None, why it has no usable one)."""
    file = os.path.join(path, MANIFEST_FILE)
    if not os.path.isfile(file):
        return None, f"no {MANIFEST_FILE} (empty, written by hand, or not written to the end)"
    try:
        with open(file, encoding="utf-8") as f:
            manifest = json.load(f)
        manifest["step"], manifest["files"].items()  # noqa: B018 - the keys it must have
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        return None, f"{MANIFEST_FILE} cannot be read: {e}"
    return manifest, ""


def verify_checkpoint(path: str) -> str:
    """Why checkpoint directory `path` cannot be trusted ("" when it can): every file of its manifest must be
    there with the size and SHA-256 written, and the manifest's step must be the directory's."""
    manifest, why = _manifest(path)
    if manifest is None:
        return why
    m = _STEP.match(os.path.basename(os.path.normpath(path)))
    if m and int(m.group(1)) != manifest["step"]:
        return f"{MANIFEST_FILE} says step {manifest['step']}, the directory says step {m.group(1)} (renamed?)"
    for name, want in manifest["files"].items():
        file = os.path.join(path, name)
        if not os.path.isfile(file):
            return f"{name} is missing"
        size = os.path.getsize(file)
        if size != want["bytes"]:
            return f"{name} is {size} bytes, {want['bytes']} were written (truncated or overwritten)"
        if _sha256(file) != want["sha256"]:
            return f"{name} does not match its SHA-256 (corrupted)"
    return ""


def find_checkpoint(run_dir: str) -> tuple[str | None, list[str]]:
    """The newest checkpoint of a run that passes `verify_checkpoint` (None: there is none), and one line for each
    newer `step_N` passed over, saying why. Temporary directories are never candidates."""
    root = os.path.join(run_dir, "checkpoints")
    if not os.path.isdir(root):
        return None, []
    skipped = []
    for step in reversed(_steps(root)):
        path = os.path.join(root, f"step_{step}")
        why = verify_checkpoint(path)
        if not why:
            return path, skipped
        skipped.append(f"step_{step}: {why}")
    return None, skipped


def latest_checkpoint(run_dir: str) -> str | None:
    """The newest checkpoint directory of a run that passes `verify_checkpoint`, or None."""
    return find_checkpoint(run_dir)[0]


def _load(path: str, file: str, what: str, **kwargs):
    try:
        return torch.load(os.path.join(path, file), **kwargs)
    except Exception as e:
        raise CheckpointError(f"{os.path.join(path, file)}: cannot read the {what} (truncated or corrupted?): {e}") \
            from e  # fmt: skip


def load_state(path: str) -> dict:
    """The trainer state of a checkpoint directory (our own file: it holds python RNG tuples, so not weights-only).
    Refused when the step it holds is not the directory's."""
    state = _load(path, STATE_FILE, "trainer state", weights_only=False)
    m = _STEP.match(os.path.basename(os.path.normpath(path)))
    if not isinstance(state, dict) or "step" not in state:
        raise CheckpointError(f"{os.path.join(path, STATE_FILE)}: not a trainer state (no step)")
    if m and int(m.group(1)) != state["step"]:
        raise CheckpointError(f"{os.path.join(path, STATE_FILE)} holds step {state['step']}, but its directory is "
                              f"step_{m.group(1)}: refusing a checkpoint that disagrees with its name")  # fmt: skip
    return state


def load_weights(model, path: str) -> None:
    """Load the model weights saved in checkpoint directory `path` into `model` (same architecture)."""
    try:
        src = type(model).from_pretrained(path, dtype=next(model.parameters()).dtype)
    except Exception as e:
        raise CheckpointError(f"{_weights_culprit(path)}: cannot load the model weights (truncated or corrupted?): "
                              f"{e}") from e  # fmt: skip
    model.load_state_dict(src.state_dict())


def _weights_culprit(path: str) -> str:
    """The first weights file of `path` whose safetensors header does not read (else the directory itself)."""
    from safetensors import safe_open

    for name in sorted(n for n in os.listdir(path) if n.endswith(".safetensors")):
        try:
            with safe_open(os.path.join(path, name), framework="pt") as f:
                for key in f.keys():
                    f.get_slice(key)
        except Exception:  # noqa: BLE001 - any failure names this file
            return os.path.join(path, name)
    return path


def load_reference(ref, path: str) -> bool:
    """Load the reference weights of checkpoint `path` into `ref`; False when the checkpoint has none."""
    if not os.path.isfile(os.path.join(path, REFERENCE_FILE)):
        return False
    ref.load_state_dict(_load(path, REFERENCE_FILE, "reference weights", weights_only=True))
    return True
