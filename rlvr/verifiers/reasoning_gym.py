"""The reasoning-gym scorer as a verifier: rebuild the task's dataset and call its own `score_answer`.

Reference (what `rlvr/ReasoningGym-v0` puts in each problem; JSON-serialisable):

    {"task": "basic_arithmetic", "config": {"seed": 0, "size": 100000, ...}, "index": 7, "entry": {...},
     "partial_credit": false}

- the answer is the content of the last `<answer>...</answer>` block (case-insensitive tags) after the last
  `</think>` (a reasoning model's draft is not its answer); none found: `unparsed`;
- the dataset is rebuilt with `reasoning_gym.create_dataset(task, **config)` (cached per task and config), the
  entry is regenerated as `dataset[index]` (cached; items are deterministic in (config, index)), and
  `dataset.score_answer(answer, entry)` gives a score in [0, 1];
- a score of 1 is `correct`; anything lower is `incorrect` with reward 0 unless the reference sets `partial_credit`
  (reasoning-gym's default scorer gives len(oracle)/len(answer) to any answer that *contains* the oracle, which a
  policy learns to exploit by listing candidates, so partial credit is opt-in);
- five tasks are scored by rlvr instead (`SCORERS`), because their own scorer credits wrong answers (found by
  `rlvr audit`, see rlvr.audit): `puzzle24` (reasoning-gym accepts any four numbers in range that make 24: the
  expression must use exactly the given numbers, checked with the Countdown parser), `game_of_life_halting` (any
  answer earned 1.0: it must be the expected boolean, `True` or `False`), `coin_flip` (`0` earned 1.0 through a
  digit-prefix partial credit: the probability must match the exact one within min(1e-4, 1e-3 * expected)),
  `number_sorting` (each number could be off by 1: they must be the given numbers), `time_intervals` (a date answer
  was read from its first word, so `11 days, 20:28:00` was 11 days: it must be `N days`);
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
import re
from collections import Counter
from collections.abc import Callable
from fractions import Fraction
from typing import Any

from rlvr.verifiers.base import Verdict, Verifier
from rlvr.verifiers.tags import after_reasoning, answer_span

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


def entry_for(task: str, config: dict[str, Any], index: int) -> dict[str, Any]:
    """Item `index` of that dataset, generated once per process (the verifier reads the same cache)."""
    return _entry(task, json.dumps(config, sort_keys=True), index)


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
    """The stripped content of the last `<answer>...</answer>` block after the reasoning (`tags`), or None."""
    span = answer_span(text, after_reasoning(text))
    return None if span is None else text[span[0] : span[1]].strip()


def score_puzzle24(answer: str, entry: dict[str, Any], own: Callable[..., float] | None = None) -> float:
    """1.0 when `answer` is an expression of exactly the item's four numbers (each once, no other number) equal to
    24, evaluated exactly; else 0.0. `+ - * /` and parentheses, as reasoning-gym's prompt allows."""
    from rlvr.verifiers.puzzles.countdown import evaluate, literals, parse

    numbers = entry.get("metadata", {}).get("numbers")
    tree = parse(answer.strip().rstrip("."))
    if not isinstance(numbers, list) or isinstance(tree, str) or Counter(literals(tree)) != Counter(numbers):
        return 0.0
    try:
        return 1.0 if evaluate(tree) == 24 else 0.0
    except ZeroDivisionError:
        return 0.0


def score_halting(answer: str, entry: dict[str, Any], own: Callable[..., float] | None = None) -> float:
    """1.0 when `answer` is the expected boolean (`True`/`False`, any case, an optional final period); else 0.0."""
    said = answer.strip().rstrip(".").strip().casefold()
    return 1.0 if said in ("true", "false") and said == str(entry["answer"]).strip().casefold() else 0.0


COIN_FLIP_ABS_TOL, COIN_FLIP_REL_TOL = Fraction(1, 10_000), Fraction(1, 1_000)


def score_coin_flip(answer: str, entry: dict[str, Any], own: Callable[..., float] | None = None) -> float:
    """1.0 when `answer` (a decimal or a fraction) is within min(1e-4, 1e-3 * p) of the exact probability p (from
    the item's rational numerator / denominator); else 0.0. Never looser than reasoning-gym's absolute 1e-4, and
    relative for small p, so that `0` is not 0.0001 away from 0.0001220703125; no credit for a matching prefix."""
    rational = entry.get("metadata", {}).get("rational") or {}
    try:
        expected = Fraction(rational["numerator"], rational["denominator"])
    except (KeyError, TypeError, ZeroDivisionError):
        expected = Fraction(str(entry["answer"]))
    try:
        given = Fraction(answer.strip().rstrip(".").replace(",", "").replace(" ", ""))
    except (ValueError, ZeroDivisionError):
        return 0.0
    tol = min(COIN_FLIP_ABS_TOL, COIN_FLIP_REL_TOL * abs(expected))
    return 1.0 if abs(given - expected) <= tol else 0.0


def score_number_sorting(answer: str, entry: dict[str, Any], own: Callable[..., float] | None = None) -> float:
    """1.0 when `answer` is a list (JSON or Python literal, numbers or numeric strings) of exactly the expected
    numbers in the expected order; else 0.0 (reasoning-gym let each number be off by up to 1)."""
    try:
        given = json.loads(answer.strip().replace("'", '"'))
        expected = json.loads(str(entry["answer"]).replace("'", '"'))
        if not isinstance(given, list) or isinstance(given, bool) or len(given) != len(expected):
            return 0.0
        return 1.0 if all(Fraction(str(g)) == Fraction(str(e)) for g, e in zip(given, expected, strict=True)) else 0.0
    except (ValueError, TypeError, ZeroDivisionError):
        return 0.0


_DAYS = re.compile(r"\s*[+-]?\d+\s*(?:days?)?\s*\.?\s*", re.IGNORECASE)


def score_time_intervals(answer: str, entry: dict[str, Any], own: Callable[..., float] | None = None) -> float:
    """A date-difference answer must be `N days` (or `N`) before the task's own scorer reads its first word (it read
    `11 days, 20:28:00` as 11 days); other answers go to the task's own scorer as they are."""
    if entry.get("metadata", {}).get("task_type") == "date" and _DAYS.fullmatch(answer) is None:
        return 0.0
    return float(own(answer, entry)) if own is not None else 0.0


# task -> scorer(answer, entry, the task's own score_answer) used instead of the latter (see module docstring)
SCORERS: dict[str, Callable[[str, dict[str, Any], Callable[..., float]], float]] = {
    "puzzle24": score_puzzle24,
    "game_of_life_halting": score_halting,
    "coin_flip": score_coin_flip,
    "number_sorting": score_number_sorting,
    "time_intervals": score_time_intervals,
}
# tasks whose own scorer plays the answer on the item (a simulation): any answer it accepts is a right one
SIMULATED = ("sokoban", "jugs", "quantum_lock")


def alternative_answer(task: str, answer: str, entry: dict[str, Any], own_score: Callable[..., float]) -> bool:
    """Whether `answer` is a right answer of `entry` other than its stored one, where the task has several and we
    can tell: n_queens lists them; a 24-game answer is right when `score_puzzle24` says so; in the `SIMULATED` tasks
    (sokoban, jugs, quantum_lock) an answer is right when playing it on this item reaches the goal (`own_score`,
    reasoning-gym's simulation: another item's moves can solve this one). The audit does not send such answers as
    other items' answers or wrong values."""
    if task == "n_queens":
        valid = entry.get("metadata", {}).get("valid_answers") or []
        return " ".join(answer.split()) in {" ".join(str(v).split()) for v in valid}
    if task == "puzzle24":
        return score_puzzle24(answer, entry) == 1.0
    if task in SIMULATED:
        try:
            return float(own_score(answer, entry)) == 1.0
        except Exception:  # noqa: BLE001 - a third-party scorer failing on this answer: not a right one
            return False
    return False


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
            fix = SCORERS.get(reference["task"])
            score = float(fix(answer, entry, dataset.score_answer) if fix else dataset.score_answer(answer, entry))
        except Exception as e:  # noqa: BLE001 - a third-party scorer failing on this answer
            return Verdict("incorrect", 0.0, answer[:200], f"the task's scorer failed on this answer: {e}"[:500])
        if not math.isfinite(score):
            score = 0.0
        score = min(max(score, 0.0), 1.0)
        if score >= 1.0 - 1e-9:
            return Verdict("correct", 1.0, answer[:200], f"{reference['task']} scorer: 1.0")
        reward = score if reference.get("partial_credit") else 0.0
        return Verdict("incorrect", reward, answer[:200], f"{reference['task']} scorer: {score:g}")
