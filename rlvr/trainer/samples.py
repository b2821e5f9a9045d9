"""What the model wrote: `RUN_DIR/samples.jsonl`, one record per line,

    {"phase": "grpo" | "eval", "step": N, "prompt": str, "response": str, "reward": float, "status": str, "env": str}

`grpo` records: every `logging.samples_every_steps` GRPO steps, the first `logging.samples_groups` groups of the
step's first sampling round, every sample of each (on a small run that is a handful per step, on a large one a
sample of its groups; the groups are random problems already). `reward` is the env's (the verifier's), before
length shaping; `status` the verdict's; `env` the id that drew the problem (a mixture's component). A multi-turn
episode's record also holds the whole episode, `"turns": [{"response", "reward", "reply"}, ...]` (each turn's
response, the env's reward for it and its reply, the last turn without one); `response` is its last turn's.
`eval` records: at every evaluation, the first sample of each held-out prompt (`rlvr report` shows the best and
the worst of them per evaluation).

Only rank 0 writes. A resumed run drops the records after its checkpoint's step first (as metrics.jsonl does).
Choosing which samples to keep draws no random numbers: the training RNG streams are untouched, so a run with
samples logged samples exactly what a run without does.
"""

from __future__ import annotations

import json
import os

from rlvr.trainer.metrics import _truncate

FILE = "samples.jsonl"
FIELDS = ("prompt", "response", "reward", "status", "env")  # besides phase and step (and a multi-turn one's turns)


def env_name(problem) -> str:
    """The env that drew `problem`: a mixture's component, else its domain (without the `rlvr/` prefix)."""
    return str(problem.meta.get("component", problem.domain)).removeprefix("rlvr/")


def episode_turns(episode) -> dict:
    """{"turns": [...]} for an episode of several turns (episodes.py's `Episode`), else {}."""
    if getattr(episode, "turns", 1) <= 1:
        return {}
    replies = [*episode.observations, None]
    turns = [{"response": t, "reward": float(w)} | ({"reply": o} if o is not None else {})
             for t, w, o in zip(episode.texts, episode.rewards, replies, strict=False)]  # fmt: skip
    return {"turns": turns}


def records(prompts, responses, rewards, status, envs, episodes=None) -> list[dict]:
    """Records (without phase and step) from parallel lists; with `episodes`, multi-turn ones hold their turns."""
    rows = [
        {"prompt": p, "response": r, "reward": float(w), "status": s, "env": e}
        for p, r, w, s, e in zip(prompts, responses, rewards, status, envs, strict=True)
    ]
    for row, episode in zip(rows, episodes or [], strict=False):
        row.update(episode_turns(episode))
    return rows


class SampleLog:
    """Appends sample records to `RUN_DIR/samples.jsonl`. `step` is the GRPO step being sampled (run.py sets it);
    `add` is called by the GRPO step with each sampling round's results and keeps the first round's first
    `groups` groups when the step is one to record."""

    def __init__(self, run_dir: str, every_steps: int, groups: int, resume_step: int | None = None) -> None:
        self.path = os.path.join(run_dir, FILE)
        if resume_step is not None and os.path.exists(self.path):
            _truncate(self.path, resume_step)
        self.every_steps, self.groups = every_steps, groups
        self.step = 0
        self._done = -1  # the last step recorded (later rounds of the same step are not)
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def add(self, prompts, samples, rewards, status, problems) -> None:
        """One sampling round of the GRPO step `self.step`: P prompts, P*G samples (G per prompt, in order), their
        env rewards and verdict statuses, the P*G problems (as the vector env holds them)."""
        if not self.every_steps or self.step % self.every_steps or self._done == self.step:
            return
        self._done = self.step
        G = len(samples) // len(prompts)
        n = min(self.groups, len(prompts)) * G
        rows = records([prompts[i // G] for i in range(n)], [s.text for s in samples[:n]], rewards[:n],
                       status[:n], [env_name(p) for p in problems[:n]], samples[:n])  # fmt: skip
        self.write("grpo", self.step, rows)

    def write(self, phase: str, step: int, rows: list[dict]) -> None:
        for row in rows:
            self._file.write(json.dumps({"phase": phase, "step": step, **row}) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def load(run_dir: str) -> list[dict]:
    """The records of a run's samples.jsonl ([] when it has none); lines that do not parse are left out."""
    path = os.path.join(run_dir, FILE)
    if not os.path.isfile(path):
        return []
    out = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(rec, dict) and "response" in rec:
                out.append(rec)
    return out


def best_and_worst(rows: list[dict], n: int = 2) -> tuple[list[dict], list[dict]]:
    """The n records with the highest reward and the n with the lowest (distinct when there are 2n or more; ties
    keep file order). Records whose status is `error` are neither."""
    scored = [r for r in rows if r.get("status") != "error" and isinstance(r.get("reward"), (int, float))]
    order = sorted(range(len(scored)), key=lambda i: (-scored[i]["reward"], i))
    best = [scored[i] for i in order[:n]]
    worst = [scored[i] for i in reversed(order[max(n, len(order) - n) :])]
    return best, worst
