"""rlvr/ReasoningGym-v0: any reasoning-gym task by name, scored by the task's own scorer.

    gym.make("rlvr/ReasoningGym-v0")                                          # basic_arithmetic
    gym.make("rlvr/ReasoningGym-v0", task="leg_counting", min_animals=3, max_animals=6)

Every keyword other than `task`, `partial_credit`, `verifier` and `render_mode` goes to the task's reasoning-gym
config (`seed` and `size` included: defaults 0 and 100000). Problem `s` is item `s % size` of the dataset built
from that config, so it is a pure function of (task, config, s). The prompt is the item's question plus the
instruction to answer inside `<answer></answer>`; the verifier "reasoning_gym" rebuilds the dataset from the
reference (task, config, entry) and calls `score_answer` (see rlvr.verifiers.reasoning_gym for the scoring policy,
including why partial credit is off by default).

reasoning-gym is an optional dependency (`pip install reasoning-gym`, or the `peers` extra): without it the
constructor raises ImportError saying so. Not handled: reasoning-gym's composite datasets and curricula (use
rlvr/Mixture-v0 over several ReasoningGym envs), tasks whose items have no single oracle answer (no reference
response: `reference_response()` raises NotImplementedError for them).
"""

from __future__ import annotations

from typing import Any

from rlvr.envs.base import Problem, ReasoningEnv
from rlvr.verifiers import Verifier
from rlvr.verifiers.reasoning_gym import dataset_for, import_reasoning_gym, json_safe

DEFAULT_TASK = "basic_arithmetic"
DEFAULT_SIZE = 100_000
ANSWER_INSTRUCTION = "Put your final answer inside <answer></answer> tags."


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
        entry = self.dataset[index]
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
        verifier: Verifier | None = None,
        render_mode: str | None = None,
        **task_config: Any,
    ) -> None:
        super().__init__(
            ReasoningGymSource(task, task_config, partial_credit), verifier=verifier, render_mode=render_mode
        )

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
