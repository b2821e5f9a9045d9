"""Audit an env's scorer with decoy answers: no constant, no other item's answer, no wrong value may earn reward.

    from rlvr.audit import audit_env
    report = audit_env("rlvr/ReasoningGym-v0", {"task": "coin_flip"}, items=8)
    print(report.table()); report.to_dict()            # `rlvr audit rlvr/ReasoningGym-v0 --set task=coin_flip`

A scorer written elsewhere (reasoning-gym's `score_answer`, a dataset's checker) can credit answers that are
wrong: a policy under RL pressure finds such an answer within a few steps and the run reports high reward while
learning nothing. For each of `items` problems (seeds `derive_seed(seed, i)`) the audit reads the expected answer
out of the env's own reference response (the content of its last `<answer>` block, `\\boxed{}`, code block, or the
whole text), builds decoy responses by putting another answer in the same place, and sends each through the env's
`step` after a `reset` to that problem. Decoy classes:

- `constant`: the empty answer, `0`, `1`, `-1`, `True`, `False`, `yes`, `no`, `None` (for code: functions that
  return such constants);
- `other_item`: the answers of the other audited items;
- `wrong_value`: the expected answer's type with a wrong value (an integer plus one, a float scaled, a fraction's
  numerator plus one, a boolean, yes/no, knight/knave or angel/devil swapped, the next option letter, else the first
  digit of a string changed, or its first letter when it has no digit); never a reordering, which is often still
  right (`19 + 72*40/24`, a set of roots, a letter mapping);
- `echo`: the problem's prompt echoed back, as the whole response and in the answer slot (a scorer that looks for
  the answer anywhere in the text, or reads an example answer out of the instructions, credits it);
- `hedge`: the expected answer next to wrong ones (`42 or 43`, `43, 42, 44`), or last in a list of many (spam);
- `junk`: the expected answer buried in unrelated words and numbers.

A decoy is only sent when it is really wrong: its answer must differ from the expected one (compared without case
and spacing, and as numbers when both are numbers), so a constant that happens to be the answer, or another item
with the same answer, is skipped; and an env may name other right answers (`alternative_answer(answer) -> bool`,
e.g. n_queens' listed solutions), which are not sent as other items' answers or wrong values (`right_skipped`).
Constants stay decoys: a scorer that credits an empty answer has a hole even if it calls that a solution. Tasks
with several right answers that the env cannot name can still credit a decoy that is in fact right; the report
keeps the credited decoys so that a person can judge. Rewards strictly between 0 and 1 are partial credit. The
reference response itself is sent too: an audit whose references do not score 1 says so (`reference_full`) rather
than pass. A problem without a reference response (`NotImplementedError`) gets the constants only, in the bare
answer format, unchecked.

`STRICT` classes are the ones no scorer may credit at all; `report.weak()` lists their decoys that earned full
reward, which is what `rlvr/ReasoningGym-v0` refuses (see rlvr.envs.reasoning_gym). Hedges and junk are reported,
not refused: a lenient reader of "The answer is 42." can legitimately find 42. Verdicts with status `error` (our
infrastructure failed, e.g. no sandbox) are counted per class (`errors`): such an audit proves nothing.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

from rlvr.verifiers.tags import answer_span

CLASSES = ("constant", "other_item", "wrong_value", "echo", "hedge", "junk")
STRICT = ("constant", "other_item", "wrong_value", "echo")
CONSTANTS = ("", "0", "1", "-1", "True", "False", "yes", "no", "None")
CODE_CONSTANTS = ("None", "0", "1", "True", "False", "''", "[]")
JUNK = "zq 7 lorem {} 93 ipsum, kx -2 dolor"
MAX_EXAMPLES = 5
_SWAP = {
    "true": "false",
    "false": "true",
    "yes": "no",
    "no": "yes",
    "knight": "knave",
    "knave": "knight",
    "angel": "devil",
    "devil": "angel",
}
_WORD = re.compile(r"\b(?:true|false|yes|no|knight|knave|angel|devil)\b", re.IGNORECASE)
_INT = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(r"^[+-]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?$")
_FRACTION = re.compile(r"^([+-]?\d+)\s*/\s*(\d+)$")
_FENCE = re.compile(r"```[^\n`]*\n(.*?)```", re.DOTALL)
_DEF = re.compile(r"^def\s+([A-Za-z_]\w*)\s*\(", re.MULTILINE)


@dataclasses.dataclass(frozen=True)
class Slot:
    """Where the answer sits in a reference response: `prefix + answer + suffix`; `kind` is the answer format."""

    prefix: str
    answer: str
    suffix: str
    kind: str

    def fill(self, answer: str) -> str:
        return f"{self.prefix}{answer}{self.suffix}"


def answer_slot(response: str, answer_format: str) -> Slot:
    """Split a reference response around its answer, by the env's answer format (see module docstring)."""
    if answer_format == "answer_tags" and (span := answer_span(response)) is not None:
        a, b = span
        return Slot(response[:a], response[a:b], response[b:], "text")
    if answer_format in ("boxed", "choice"):
        from rlvr.verifiers.math_extract import top_level_boxes

        boxes = top_level_boxes(response)
        if boxes:
            _, begin, end = boxes[-1]
            return Slot(response[:begin], response[begin:end], response[end:], "text")
    if answer_format == "code_block":
        fences = list(_FENCE.finditer(response))
        if fences:
            m = fences[-1]
            return Slot(response[: m.start(1)], m.group(1), response[m.end(1) :], "code")
    return Slot("", response, "", "text")


_BLANK = {
    "answer_tags": Slot("<answer>", "", "</answer>", "text"),
    "boxed": Slot("\\boxed{", "", "}", "text"),
    "choice": Slot("\\boxed{", "", "}", "text"),
    "code_block": Slot("```python\n", "", "```", "code"),
}


def blank_slot(answer_format: str) -> Slot:
    """The answer slot of a problem without a reference response: the bare answer format, no expected answer."""
    return _BLANK.get(answer_format, Slot("", "", "", "text"))


def _number(text: str) -> float | None:
    t = text.strip().replace(",", "")
    m = _FRACTION.match(t)
    try:
        if m:
            return int(m.group(1)) / int(m.group(2)) if int(m.group(2)) else None
        return float(t) if _FLOAT.match(t) else None
    except (ValueError, OverflowError):
        return None


def same_answer(a: str, b: str) -> bool:
    """Whether two answers are the same: equal without case and spacing, or equal as numbers."""
    if " ".join(a.split()).casefold() == " ".join(b.split()).casefold():
        return True
    x, y = _number(a), _number(b)
    return x is not None and y is not None and x == y


def _swap_word(text: str) -> str:
    """`text` with its first true/false, yes/no, knight/knave or angel/devil word swapped, or "" when it has none."""
    m = _WORD.search(text)
    if m is None:
        return ""
    word = m.group(0)
    swapped = _SWAP[word.casefold()]
    swapped = swapped.capitalize() if word[:1].isupper() else swapped
    return text[: m.start()] + swapped + text[m.end() :]


def _bump_char(text: str) -> str:
    """`text` with its first digit changed to the next one (9 -> 0; a big change: the leading digit of a number),
    else its first ASCII letter (z -> a), or "" when it has neither."""
    for i, c in enumerate(text):
        if c.isdigit():
            return text[:i] + str((int(c) + 1) % 10) + text[i + 1 :]
    for i, c in enumerate(text):
        if c.isascii() and c.isalpha():
            base = ord("a") if c.islower() else ord("A")
            return text[:i] + chr(base + (ord(c) - base + 1) % 26) + text[i + 1 :]
    return ""


def wrong_values(answer: str) -> list[str]:
    """Answers of the same type as `answer` with a wrong value (see module docstring)."""
    a = answer.strip()
    out: list[str] = []
    if a.casefold() in _SWAP:
        swapped = _SWAP[a.casefold()]
        out.append(swapped.capitalize() if a[:1].isupper() else swapped)
    elif _INT.match(a):
        n = int(a)
        out += [str(n + 1), str(2 * n + 7)]
    elif (m := _FRACTION.match(a)) is not None:
        out.append(f"{int(m.group(1)) + 1}/{m.group(2)}")
    elif _FLOAT.match(a):
        x = float(a)
        decimals = len(a.split(".")[1]) if "." in a and "e" not in a.lower() else 6
        out += [f"{x * 2 + 1:.{decimals}f}", f"{-x - 1:.{decimals}f}"]
    elif len(a) == 1 and a.isalpha():
        out.append(chr(ord(a) + 1) if a not in "zZ" else chr(ord(a) - 1))
    else:
        out += [_swap_word(a), _bump_char(a)]
    return [w for w in dict.fromkeys(out) if w and not same_answer(w, a)]


def _code_constants(expected: str) -> list[str]:
    m = _DEF.search(expected)
    if m is None:
        return [f"print({c})\n" for c in CODE_CONSTANTS]
    return [f"def {m.group(1)}(*args, **kwargs):\n    return {c}\n" for c in CODE_CONSTANTS]


def decoys(slot: Slot, others: list[str], prompt: str = "") -> list[tuple[str, str]]:
    """(class, answer) pairs for one item whose answer slot is `slot`; `others` are the other items' answers,
    `prompt` the item's prompt (the `echo` decoy; `audit_env` also sends it as the whole response). Every answer of
    a strict class differs from the expected one (`same_answer`)."""
    expected = slot.answer.strip()
    echo = [("echo", prompt)] if prompt.strip() and not same_answer(prompt, expected) else []
    if not expected:  # no reference answer: constants (and the prompt) only, unchecked
        return [("constant", c) for c in (_code_constants("") if slot.kind == "code" else CONSTANTS)] + echo
    if slot.kind == "code":
        pairs = [("constant", c) for c in _code_constants(expected)]
        pairs += [("other_item", o) for o in others if o.strip() != expected]
        return list(dict.fromkeys(pairs + echo))
    wrong = wrong_values(expected)
    pairs = [("constant", c) for c in CONSTANTS]
    pairs += [("other_item", o.strip()) for o in others]
    pairs += [("wrong_value", w) for w in wrong]
    pairs += echo
    if wrong:
        pairs += [("hedge", f"{expected} or {wrong[0]}"), ("hedge", ", ".join([wrong[0], expected, *wrong[1:2]]))]
    spam = [a for a in dict.fromkeys([*wrong, *(o.strip() for o in others), *CONSTANTS[1:]]) if a != expected]
    pairs.append(("hedge", ", ".join([*spam[:15], expected])))  # spam: every candidate at hand, the answer last
    pairs.append(("junk", JUNK.format(expected)))
    kept = [(cls, text) for cls, text in pairs if cls in ("hedge", "junk") or not same_answer(text, expected)]
    return list(dict.fromkeys(kept))


@dataclasses.dataclass
class ClassResult:
    """How one decoy class fared: decoys sent, how many earned full reward (1.0) and partial reward (0 < r < 1)."""

    tried: int = 0
    full: int = 0
    partial: int = 0
    errors: int = 0  # verdicts with status "error": the decoy was not judged
    max_reward: float = 0.0
    credited: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # up to MAX_EXAMPLES at full reward
    partly_credited: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # and at partial reward


@dataclasses.dataclass
class AuditReport:
    env_id: str
    env_kwargs: dict[str, Any]
    items: int
    seed: int
    reference_full: int = 0
    without_reference: int = 0  # items without a reference response: only constants are sent, unchecked
    right_skipped: int = 0  # decoys the env knows to be right answers too (`alternative_answer`), not sent
    classes: dict[str, ClassResult] = dataclasses.field(default_factory=lambda: {c: ClassResult() for c in CLASSES})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def weak(self, classes: tuple[str, ...] = STRICT) -> list[dict[str, Any]]:
        """The decoys of `classes` that earned full reward, each with its class (partial credit for a wrong answer is
        what an env's partial-credit option means; it is counted in the table, not called weak)."""
        return [{"class": c, **ex} for c in classes for ex in self.classes[c].credited]

    def table(self) -> str:
        """A fixed-width table: one row per decoy class."""
        rows = [f"{self.env_id} {json.dumps(self.env_kwargs, sort_keys=True)}: {self.items} items, seed {self.seed}"]
        n = self.items - self.without_reference
        rows.append(f"reference responses at full reward: {self.reference_full}/{n}")
        if self.without_reference:
            rows.append(f"items without a reference response (constants only, unchecked): {self.without_reference}")
        rows.append(f"{'class':12} {'tried':>6} {'full':>6} {'partial':>8} {'errors':>6} {'max':>6}  example credited")
        for name, r in self.classes.items():
            ex = (r.credited or r.partly_credited or [None])[0]
            shown = f"{ex['decoy'][:40]!r} for {str(ex['expected'])[:30]!r} -> {ex['reward']:g}" if ex else ""
            rows.append(f"{name:12} {r.tried:6d} {r.full:6d} {r.partial:8d} {r.errors:6d} {r.max_reward:6.2f}  {shown}")
        return "\n".join(rows)


def audit_env(env: Any, env_kwargs: dict[str, Any] | None = None, items: int = 8, seed: int = 0) -> AuditReport:
    """Audit `env` (an env id, made with `env_kwargs`, or a made env) on `items` problems (see module docstring).

    An env may define `alternative_answer(answer) -> bool` (true when `answer` is also right for the current problem:
    tasks with several right answers); decoys it names are not sent (`right_skipped`)."""
    import gymnasium as gym

    import rlvr  # noqa: F401 - registers the ids
    from rlvr.envs.base import derive_seed

    if isinstance(items, bool) or not isinstance(items, int) or items < 2:
        raise ValueError(f"items must be an integer >= 2 (other items' answers are decoys), got {items!r}")
    env_kwargs = dict(env_kwargs or {})
    owned = isinstance(env, str)
    env_id = env if owned else getattr(getattr(env, "spec", None), "id", None) or type(env).__name__
    if owned:
        env = gym.make(env, **env_kwargs)
    report = AuditReport(env_id, env_kwargs, items, seed)
    alternative = getattr(env.unwrapped, "alternative_answer", None)
    try:
        seeds, slots, prompts = [], [], []
        for i in range(items):
            s = derive_seed(seed, i)
            prompt, info = env.reset(seed=s)
            prompts.append(prompt if isinstance(prompt, str) else "")
            fmt = info.get("answer_format", "text")
            try:
                slot = answer_slot(env.unwrapped.reference_response(), fmt)
            except NotImplementedError:
                slot = blank_slot(fmt)
            if slot.answer.strip():
                report.reference_full += float(env.step(slot.fill(slot.answer))[1]) >= 1.0
            else:
                report.without_reference += 1
            seeds.append(s)
            slots.append(slot)
        for k, (s, slot) in enumerate(zip(seeds, slots, strict=True)):
            expected = slot.answer.strip() or None
            others = [o.answer for j, o in enumerate(slots) if j != k and o.answer.strip()]
            pairs = decoys(slot, others, prompts[k])
            sends = [(cls, answer, slot.fill(answer)) for cls, answer in pairs]
            sends += [(cls, answer, answer) for cls, answer in pairs if cls == "echo"]  # the bare echo too
            for cls, answer, response in sends:
                env.reset(seed=s)
                if cls in ("other_item", "wrong_value") and alternative is not None and alternative(answer):
                    report.right_skipped += 1
                    continue
                _, reward, _, _, info = env.step(response)
                reward = float(reward)
                r = report.classes[cls]
                r.tried += 1
                r.errors += info.get("verdict", {}).get("status") == "error"
                r.full += reward >= 1.0
                r.partial += 0.0 < reward < 1.0
                r.max_reward = max(r.max_reward, reward)
                examples = r.credited if reward >= 1.0 else r.partly_credited if reward > 0 else None
                if examples is not None and len(examples) < MAX_EXAMPLES:
                    examples.append({"seed": s, "expected": expected, "decoy": answer, "reward": reward})
    finally:
        if owned:
            env.close()
    return report


def summary_row(report: AuditReport | str, label: str, header: bool = False) -> str:
    """One line per audit for sweeps (`rlvr audit --over`): full/tried per class (+partial), then the verdict;
    `report` may be the error an env raised instead (a refused scorer). `header` prepends the column names."""
    head = f"{'':30} {'ref':>5}" + "".join(f" {c:>13}" for c in CLASSES) + "  verdict"
    if isinstance(report, str):
        line = f"{label[:30]:30} {'-':>5}" + "".join(f" {'-':>13}" for _ in CLASSES) + f"  not built: {report[:160]}"
    else:
        n = report.items - report.without_reference
        cells = []
        for c in CLASSES:
            r = report.classes[c]
            cells.append(f"{r.full}/{r.tried}" + (f"+{r.partial}p" if r.partial else ""))
        weak, errors = report.weak(), sum(report.classes[c].errors for c in CLASSES)
        notes = ["constants only (no reference answers)"] if n == 0 else []
        notes += [f"references at 1.0: {report.reference_full}/{n}"] if report.reference_full < n else []
        notes += [f"verifier errors: {errors}"] if errors else []
        if weak:
            w = weak[0]
            notes.append(f"WEAK: {w['class']} {w['decoy'][:30]!r} for {str(w['expected'])[:30]!r} -> {w['reward']:g}")
        elif report.reference_full == n and not errors:
            notes.append("ok")
        verdict = "; ".join(notes)
        line = f"{label[:30]:30} {report.reference_full:>2}/{n:<2}" + "".join(f" {c:>13}" for c in cells)
        line += f"  {verdict}"
    return f"{head}\n{line}" if header else line
