"""The reasoning-gym scorer as a verifier: rebuild the task's dataset and call its own `score_answer`.

Reference (what `rlvr/ReasoningGym-v0` puts in each problem; JSON-serialisable):

    {"task": "basic_arithmetic", "config": {"seed": 0, "size": 100000, ...}, "index": 7, "entry": {...},
     "partial_credit": false}

- the answer is the content of the last `<answer>...</answer>` block (case-insensitive tags); none found: `unparsed`;
- the dataset is rebuilt with `reasoning_gym.create_dataset(task, **config)` (cached per task and config), the
  entry is regenerated as `dataset[index]` (cached; items are deterministic in (config, index)), and
  `dataset.score_answer(answer, entry)` gives a score in [0, 1];
- a score of 1 is `correct`; anything lower is `incorrect` with reward 0 unless the reference sets `partial_credit`
  (reasoning-gym's default scorer gives len(oracle)/len(answer) to any answer that *contains* the oracle, which a
  policy learns to exploit by listing candidates, so partial credit is opt-in);
- a scorer that raises on the model's answer scores it `incorrect` (the answer made it fail, not our
  infrastructure); reasoning-gym not installed, an unknown task or a bad config is `error`.

The stored `entry` went through JSON (tuples became lists, other objects strings: `json_safe`), which breaks
scorers that compare Python objects in `entry["metadata"]` (arc_agi's grids are tuples); that is why the entry is
regenerated from `index`. A reference without `index` is scored against its stored `entry` as it is.
reasoning-gym is optional: `pip install reasoning-gym` (or the `peers` extra).
"""

from __future__ import annotations

import functools
import json
import math
from typing import Any

from rlvr.verifiers.base import Verdict, Verifier

INSTALL_HINT = "reasoning-gym is not installed: pip install reasoning-gym (or the rlvr 'peers' extra)"


def import_reasoning_gym():
    """The `reasoning_gym` module, or an ImportError that says how to install it."""
    try:
        import reasoning_gym
    except ImportError as e:
        raise ImportError(f"{INSTALL_HINT} ({e})") from None
    return reasoning_gym


@functools.lru_cache(maxsize=64)
def _dataset(task: str, config_json: str):
    rg = import_reasoning_gym()
    if task not in rg.factory.DATASETS:
        raise ValueError(f"unknown reasoning-gym task {task!r}; see reasoning_gym.factory.DATASETS")
    return rg.create_dataset(task, **json.loads(config_json))


@functools.lru_cache(maxsize=4096)
def _entry(task: str, config_json: str, index: int) -> dict[str, Any]:
    return _dataset(task, config_json)[index]


def dataset_for(task: str, config: dict[str, Any]):
    """The reasoning-gym dataset for (task, config), built once per process."""
    return _dataset(task, json.dumps(config, sort_keys=True))


def json_safe(value: Any) -> Any:
    """A JSON-serialisable copy: tuples and sets become lists, non-finite floats and other objects become strings."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((json_safe(v) for v in value), key=repr)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return json_safe(value.item())
    return str(value)


def last_answer_tag(text: str) -> str | None:
    """The stripped content of the last `<answer>...</answer>` block, or None (linear: rfind)."""
    lower = text.lower()
    close = lower.rfind("</answer>")
    if close < 0:
        return None
    start = lower.rfind("<answer>", 0, close)
    return None if start < 0 else text[start + len("<answer>") : close].strip()


class ReasoningGymVerifier(Verifier):
    """Scores with the task's own reasoning-gym scorer (see module docstring)."""

    name = "reasoning_gym"

    def _verify(self, response: str, reference: Any) -> Verdict:
        if isinstance(reference, str):
            reference = json.loads(reference)
        if not isinstance(reference, dict) or not {"task", "entry"} <= set(reference):
            return Verdict("error", 0.0, None, "bad reference (data bug): need a dict with 'task' and 'entry'")
        try:
            config_json = json.dumps(reference.get("config") or {}, sort_keys=True)
            dataset = _dataset(reference["task"], config_json)
            index = reference.get("index")
            entry = reference["entry"] if index is None else _entry(reference["task"], config_json, int(index))
        except (ImportError, ValueError, TypeError) as e:
            return Verdict("error", 0.0, None, f"cannot build the reasoning-gym dataset: {e}"[:500])
        if not isinstance(response, str) or not response.strip():
            return Verdict("unparsed", 0.0, None, "empty response")
        answer = last_answer_tag(response)
        if answer is None:
            return Verdict("unparsed", 0.0, None, "no <answer>...</answer> block")
        try:
            score = float(dataset.score_answer(answer, entry))
        except Exception as e:  # noqa: BLE001 - a third-party scorer failing on this answer
            return Verdict("incorrect", 0.0, answer[:200], f"the task's scorer failed on this answer: {e}"[:500])
        if not math.isfinite(score):
            score = 0.0
        score = min(max(score, 0.0), 1.0)
        if score >= 1.0 - 1e-9:
            return Verdict("correct", 1.0, answer[:200], f"{reference['task']} scorer: 1.0")
        reward = score if reference.get("partial_credit") else 0.0
        return Verdict("incorrect", reward, answer[:200], f"{reference['task']} scorer: {score:g}")
