"""Metrics: one JSON object per line in `metrics.jsonl`, and the same scalars as TensorBoard events.

    log = MetricsLogger(run_dir, tensorboard=True)
    log.log("grpo", step, {"reward": 0.5, "kl": 0.01})   # -> {"phase": "grpo", "step": 3, "reward": 0.5, ...}

TensorBoard tags are `phase/key`. TensorBoard is optional: without the `tensorboard` package only the
JSONL is written (and `tensorboard_error` says why). A resumed run (`resume_step`) first drops the records of
GRPO steps after that step (and a truncated last line), so metrics.jsonl reads as if the run had never stopped.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time


class MetricsLogger:
    def __init__(self, run_dir: str, tensorboard: bool = True, resume_step: int | None = None) -> None:
        self.run_dir = run_dir
        self.path = os.path.join(run_dir, "metrics.jsonl")
        if resume_step is not None and os.path.exists(self.path):
            _truncate(self.path, resume_step)
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._tb = None
        self.samples = None  # a samples.SampleLog (samples.jsonl), closed with this logger
        self.tensorboard_error = ""
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(log_dir=run_dir)
            except ImportError as e:
                self.tensorboard_error = f"TensorBoard events not written: {e}"

    def log(self, phase: str, step: int, metrics: dict) -> None:
        record = {"phase": phase, "step": step, "time": time.time(), **metrics}
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        if self._tb is not None:
            for key, value in metrics.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                    self._tb.add_scalar(f"{phase}/{key}", value, step)

    def close(self) -> None:
        self._file.close()
        if self.samples is not None:
            self.samples.close()
        if self._tb is not None:
            self._tb.close()


def _truncate(path: str, step: int) -> None:
    """Keep the SFT records and the others up to `step`; drop lines that are not a whole JSON record (a write cut
    short: half a line, half a UTF-8 character, NUL bytes after a crash). The file is replaced only once the kept
    lines are written in full; a full disk leaves it as it was and says so."""
    kept = []
    with open(path, "rb") as f:
        for raw in f:
            try:
                record = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                continue
            if not isinstance(record, dict) or not isinstance(record.get("step", 0), (int, float)):
                continue
            if record.get("phase") == "sft" or record.get("step", 0) <= step:
                kept.append(json.dumps(record) + "\n")
    tmp = path + ".tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.writelines(kept)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise OSError(e.errno, f"cannot rewrite {path} for the resume ({e.strerror}); it is unchanged") from e
    os.replace(tmp, path)
