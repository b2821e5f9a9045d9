"""rlvr/ReasoningGym-v0: any reasoning-gym task by name, scored by the task's own scorer.

    gym.make("rlvr/ReasoningGym-v0")                                          # basic_arithmetic
    gym.make("rlvr/ReasoningGym-v0", task="leg_counting", min_animals=3, max_animals=6)

Every keyword other than `task`, `partial_credit`, `allow_weak_scorer`, `verifier` and `render_mode` goes to the
task's reasoning-gym config (`seed` and `size` included: defaults 0 and 100000). Problem `s` is item `s % size` of
the dataset built from that config, so it is a pure function of (task, config, s). The prompt is the item's
question plus the instruction to answer inside `<answer></answer>`; the verifier "reasoning_gym" rebuilds the
dataset from the reference (task, config, entry) and calls `score_answer` (see rlvr.verifiers.reasoning_gym for
the scoring policy, including why partial credit is off by default).

Guarded by default: building the env audits the task's scorer (rlvr.audit: constants, other items' answers and
wrong values of the expected type, on `GUARD_ITEMS` items, sent through `step`) and raises ValueError naming the
task, the decoy and its reward when one earns full reward. The verdict is cached per reasoning-gym version, task,
config and rlvr scoring version in `audit_cache_dir()` (`$RLVR_CACHE_DIR`, else `$XDG_CACHE_HOME/rlvr`, else
`~/.cache/rlvr`), so a second start costs a file read. `allow_weak_scorer=True` builds it anyway and logs a warning
naming the decoy. Five weak scorers are replaced by rlvr's own (see rlvr.verifiers.reasoning_gym.SCORERS).

reasoning-gym is an optional dependency (`pip install reasoning-gym`, or the `peers` extra): without it the
constructor raises ImportError saying so. Not handled: reasoning-gym's composite datasets and curricula (use
rlvr/Mixture-v0 over several ReasoningGym envs), tasks whose items have no single oracle answer (no reference
response: `reference_response()` raises NotImplementedError for them).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from typing import Any

from rlvr.envs.base import Problem, ReasoningEnv
from rlvr.verifiers import Verifier
from rlvr.verifiers.reasoning_gym import (
    SCORERS,
    alternative_answer,
    dataset_for,
    entry_for,
    import_reasoning_gym,
    json_safe,
)

logger = logging.getLogger(__name__)

DEFAULT_TASK = "basic_arithmetic"
DEFAULT_SIZE = 100_000
ANSWER_INSTRUCTION = "Put your final answer inside <answer></answer> tags."
GUARD_ITEMS = 6
# Bump when the audit's decoys or rlvr's scorers change: cached verdicts of older versions are not reused.
GUARD_VERSION = 4


class ReasoningGymSource:
    """Items of one reasoning-gym dataset; the config is validated by building the dataset once."""

    def __init__(self, task: str, config: dict[str, Any], partial_credit: bool = False) -> None:
        rg = import_reasoning_gym()
        if not isinstance(task, str) or task not in rg.factory.DATASETS:
            names = ", ".join(sorted(rg.factory.DATASETS))
            raise ValueError(f"task: unknown reasoning-gym task {task!r}; allowed: {names}")
        config = {"seed": 0, "size": DEFAULT_SIZE, **config}
        safe = json_safe(config)
        if safe != config:
            raise ValueError(f"the {task} config must be JSON-like (numbers, strings, lists, dicts), got {config!r}")
        size = config["size"]
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"size must be a positive integer, got {size!r}")
        try:
            self.dataset = dataset_for(task, safe)
        except (TypeError, AssertionError, ValueError) as e:
            _, config_cls = rg.factory.DATASETS[task]
            fields = ", ".join(sorted(getattr(config_cls, "__dataclass_fields__", {})))
            raise ValueError(f"invalid config for reasoning-gym task {task!r}: {e}; its fields: {fields}") from None
        self.task, self.config, self.partial_credit = task, safe, bool(partial_credit)

    def problem(self, seed: int) -> Problem:
        index = int(seed) % self.config["size"]
        entry = entry_for(self.task, self.config, index)  # the verifier's cache: each item is generated once
        safe = json_safe(entry)
        answer = safe.get("answer")
        meta = safe.get("metadata") if isinstance(safe.get("metadata"), dict) else {}
        return Problem(
            id=f"reasoning_gym/{self.task}/{seed}",
            domain="reasoning_gym",
            prompt=f"{safe['question']}\n\n{ANSWER_INSTRUCTION}",
            reference={
                "task": self.task,
                "config": self.config,
                "index": index,
                "entry": safe,
                "partial_credit": self.partial_credit,
            },
            verifier="reasoning_gym",
            answer_format="answer_tags",
            difficulty={"task": self.task, **({"difficulty": meta["difficulty"]} if "difficulty" in meta else {})},
            solution=f"<answer>{answer}</answer>" if isinstance(answer, str) and answer.strip() else None,
        )


class ReasoningGymEnv(ReasoningEnv):
    """rlvr/ReasoningGym-v0 (see module docstring)."""

    def __init__(
        self,
        task: str = DEFAULT_TASK,
        partial_credit: bool = False,
        allow_weak_scorer: bool = False,
        verifier: Verifier | None = None,
        render_mode: str | None = None,
        **task_config: Any,
    ) -> None:
        if not isinstance(allow_weak_scorer, bool):
            raise ValueError(f"allow_weak_scorer must be true or false, got {allow_weak_scorer!r}")
        super().__init__(
            ReasoningGymSource(task, task_config, partial_credit), verifier=verifier, render_mode=render_mode
        )
        guard_scorer(self.source, allow_weak_scorer)

    def alternative_answer(self, answer: str) -> bool:
        """Whether `answer` is also right for the current problem (tasks with several right answers; see
        rlvr.verifiers.reasoning_gym.alternative_answer): the audit does not count it as a decoy."""
        if self.problem is None:
            raise RuntimeError("call reset() before alternative_answer()")
        ref = self.problem.reference
        own_score = dataset_for(ref["task"], ref["config"]).score_answer
        return alternative_answer(ref["task"], answer, entry_for(ref["task"], ref["config"], ref["index"]), own_score)

    def negative_responses(self) -> list[str]:
        """Empty, a wrong answer (an integer off by one, True/False swapped, else "?"; reasoning-gym scorers are
        lenient, e.g. they read the number out of "not 42"), and the right answer followed by the wrong one (the
        last tag counts)."""
        if self.problem is None:
            raise RuntimeError("call reset() before negative_responses()")
        answer = self.problem.reference["entry"].get("answer")
        if not isinstance(answer, str):
            return [""]
        swap = {"True": "False", "False": "True", "Yes": "No", "No": "Yes"}
        wrong = str(int(answer) + 1) if answer.strip().lstrip("-").isdigit() else swap.get(answer.strip(), "?")
        return ["", f"<answer>{wrong}</answer>", f"<answer>{answer}</answer> or maybe <answer>{wrong}</answer>"]


def audit_cache_dir() -> str:
    """Where guard verdicts are cached: `$RLVR_CACHE_DIR`, else `$XDG_CACHE_HOME/rlvr`, else `~/.cache/rlvr`."""
    root = os.environ.get("RLVR_CACHE_DIR")
    if not root:
        root = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "rlvr")
    return os.path.join(root, "scorer-audit")


def _audit_findings(source: ReasoningGymSource) -> list[dict[str, Any]]:
    """The full-reward decoys of a quick audit of `source`'s scorer (rlvr.audit), cached on disk (module docstring)."""
    from importlib.metadata import version

    from rlvr.audit import audit_env

    key = {
        "reasoning_gym": version("reasoning-gym"),
        "task": source.task,
        "config": source.config,
        "partial_credit": source.partial_credit,
        "rlvr_scorer": sorted(SCORERS),
        "guard_version": GUARD_VERSION,
        "items": GUARD_ITEMS,
    }
    text = json.dumps(key, sort_keys=True)
    path = os.path.join(audit_cache_dir(), f"{source.task}-{hashlib.sha256(text.encode()).hexdigest()[:16]}.json")
    try:
        with open(path, encoding="utf-8") as f:
            cached = json.load(f)
        if cached.get("key") == key:
            return cached["weak"]
    except (OSError, ValueError, AttributeError):
        pass
    twin = ReasoningGymEnv.__new__(ReasoningGymEnv)  # the same problems, unguarded (no recursion), in this process
    ReasoningEnv.__init__(twin, source)
    try:
        weak = audit_env(twin, items=GUARD_ITEMS).weak()
    finally:
        twin.close()
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"key": key, "weak": weak}, f)
        os.replace(tmp, path)
    except OSError as e:  # a read-only home: audit again next time rather than fail
        logger.debug("cannot cache the scorer audit in %s: %s", path, e)
    return weak


def guard_scorer(source: ReasoningGymSource, allow_weak_scorer: bool) -> None:
    """Refuse (ValueError) a task whose scorer gives full reward to a decoy, or log a warning when allowed."""
    weak = _audit_findings(source)
    if not weak:
        return
    w = weak[0]
    found = (
        f"reasoning-gym task {source.task!r}: its scorer gives reward {w['reward']:g} to a wrong answer "
        f"({w['class']} decoy {w['decoy'][:80]!r}, expected {str(w['expected'])[:80]!r}, problem seed {w['seed']}; "
        f"{len(weak)} such decoy(s) in a {GUARD_ITEMS}-item audit)"
    )
    if not allow_weak_scorer:
        raise ValueError(
            f"{found}. Training on it rewards wrong answers; see `rlvr audit rlvr/ReasoningGym-v0 --set "
            f"task={source.task} --set allow_weak_scorer=true`, or pass allow_weak_scorer=True to use it anyway"
        )
    logger.warning("%s; used anyway (allow_weak_scorer=True)", found)
