"""rlvr/Instruction-v0: a short writing task plus verifiable constraints on the form of the answer (IFEval style).

    gym.make("rlvr/Instruction-v0")                                   # 1-3 constraints, partial credit
    gym.make("rlvr/Instruction-v0", num_constraints=4, mode="all")   # exactly 4, reward 1 only if all hold

A problem is a writing task from a small built-in list (`TASKS` x `TOPICS`) and 1-k constraint kinds from
`rlvr.verifiers.constraints`, drawn so that they can hold together (`CONFLICTS`: never all_lowercase with
all_uppercase, json_format with paragraphs or a title, quotation with start/end phrases, ...). The prompt lists each
constraint's `describe()`; the verifier is "instruction" with the reference {"constraints": [...], "mode": mode}.

The reference response is written first, by a small constructive writer (paragraphs of template sentences about the
topic, then section headers, bullets, highlights, placeholders, capital words, a title and a postscript as the
constraints ask, then the case, JSON and quotation wrappers). Constraints with a count or a phrase (word, sentence,
paragraph, letter, keyword and capital-word counts, start/end phrases, included keywords) take their parameters from
that response - an exact value, a lower or an upper bound, or a range around what it has - so every sampled problem
is satisfiable and its solution is checked against the verifier when it is made (a failure there is a bug and
raises). Excluded keywords come from a pool the writer never uses.

Not handled: the content is template prose (it satisfies the form, not a reader); constraint kinds outside
`rlvr.verifiers.constraints`; response languages other than English.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from rlvr.envs.base import Problem, ReasoningEnv, problem_rng
from rlvr.verifiers import Verifier
from rlvr.verifiers.constraints import CONSTRAINTS
from rlvr.verifiers.instruction import InstructionVerifier, describe_constraints

MODES = ("fraction", "all")
KINDS = tuple(sorted(CONSTRAINTS))
STRUCTURAL = ("paragraph_count", "bullet_count", "section_count", "title", "start_phrase", "end_phrase",
              "quotation", "postscript")  # fmt: skip
CONFLICTS = frozenset(
    frozenset(p)
    for p in [
        ("all_lowercase", "all_uppercase"),
        ("all_lowercase", "capital_words"),
        ("quotation", "start_phrase"),
        ("quotation", "end_phrase"),
        ("quotation", "section_count"),  # a section header must start its line, not follow the opening quote
        ("start_phrase", "title"),
        ("start_phrase", "section_count"),
        *(("json_format", k) for k in STRUCTURAL),
    ]
)

TASKS = (
    "Write a short blog post about {topic}.",
    "Write a letter to a friend about {topic}.",
    "Write a product description for a course on {topic}.",
    "Write a short essay on {topic}.",
    "Write a brief report for a newsletter about {topic}.",
    "Write advice for a beginner interested in {topic}.",
)
# topic -> nouns the writer uses (single lowercase words, none in FORBIDDEN)
TOPICS: dict[str, tuple[str, ...]] = {
    "urban gardening": ("garden", "soil", "seeds", "balcony", "compost", "tomatoes", "water"),
    "learning a language": ("grammar", "vocabulary", "practice", "teacher", "words", "habit", "language"),
    "remote work": ("office", "schedule", "team", "meetings", "focus", "laptop", "routine"),
    "ocean conservation": ("ocean", "reefs", "plastic", "fish", "coast", "volunteers", "water"),
    "home cooking": ("kitchen", "recipe", "spices", "vegetables", "bread", "dinner", "flavor"),
    "city cycling": ("bicycle", "streets", "helmet", "traffic", "commute", "route", "city"),
    "astronomy for beginners": ("telescope", "stars", "planets", "night", "moon", "sky", "orbit"),
    "saving money": ("budget", "savings", "expenses", "income", "bank", "plan", "goals"),
}
ADJECTIVES = ("useful", "simple", "steady", "quiet", "practical", "clear", "patient", "careful", "modest", "bright")
FORBIDDEN = ("very", "really", "basically", "literally", "actually", "stuff", "thing", "awesome", "totally", "amazing")
SENTENCES = (
    "The {n1} shapes how people think about {n2}.",
    "Many people agree that {n1} and {n2} belong together.",
    "A careful look at the {n1} reveals {adj} details.",
    "Good {n1} starts with patience and {adj} practice.",
    "Every {n1} tells a story about {n2}.",
    "People often underestimate the role of {n1}.",
    "With time the {n1} becomes part of daily life.",
    "It helps to compare the {n1} with the {n2} before deciding.",
    "Small steps with the {n1} lead to {adj} results.",
    "Nobody needs to be an expert to enjoy the {n1}.",
)
PLACEHOLDER_NAMES = ("name", "address", "date", "city", "email", "phone", "company")
CAPITAL_WORDS = ("KEY", "NOTE", "MUST", "ALWAYS", "TODAY", "FOCUS", "RULE")


@dataclasses.dataclass(frozen=True)
class InstructionConfig:
    """num_constraints: an exact count or a (min, max) range, 1..8; mode: "fraction" (partial credit) or "all";
    kinds: the constraint kinds to draw from (default all)."""

    num_constraints: int | tuple[int, int] = (1, 3)
    mode: str = "fraction"
    kinds: tuple[str, ...] = KINDS

    def __post_init__(self) -> None:
        n = self.num_constraints
        lo, hi = (n, n) if isinstance(n, int) and not isinstance(n, bool) else tuple(n) if _pair(n) else (None, None)
        if lo is None or not 1 <= lo <= hi <= 8:
            raise ValueError(f"num_constraints must be an integer or a (min, max) pair within 1..8, got {n!r}")
        object.__setattr__(self, "num_constraints", (lo, hi))
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if isinstance(self.kinds, str) or not self.kinds:
            raise ValueError(f"kinds must be a non-empty list; allowed: {', '.join(KINDS)}")
        unknown = [k for k in self.kinds if k not in KINDS]
        if unknown:
            raise ValueError(f"kinds: unknown constraint kind(s) {unknown}; allowed: {', '.join(KINDS)}")
        object.__setattr__(self, "kinds", tuple(dict.fromkeys(self.kinds)))


def _pair(n: Any) -> bool:
    return (
        isinstance(n, (list, tuple)) and len(n) == 2 and all(isinstance(x, int) and not isinstance(x, bool) for x in n)
    )


def compatible(kinds: Sequence[str]) -> bool:
    """True when no two of `kinds` are in `CONFLICTS`."""
    return not any(frozenset((a, b)) in CONFLICTS for i, a in enumerate(kinds) for b in kinds[i + 1 :])


def _int(rng: np.random.Generator, lo: int, hi: int) -> int:
    return int(rng.integers(lo, hi + 1))


def _pick(rng: np.random.Generator, seq: Sequence):
    return seq[int(rng.integers(len(seq)))]


def _sample_kinds(rng: np.random.Generator, cfg: InstructionConfig) -> list[str]:
    want = _int(rng, *cfg.num_constraints)
    chosen: list[str] = []
    for i in rng.permutation(len(cfg.kinds)):
        kind = cfg.kinds[int(i)]
        if len(chosen) < want and compatible([*chosen, kind]):
            chosen.append(kind)
    return chosen


def _bounds(rng: np.random.Generator, n: int, exact_ok: bool) -> dict[str, int]:
    """min/max params that `n` satisfies: exact, at least, at most, or a range around n."""
    slack = _int(rng, 0, max(1, n // 5))
    forms = ["at_most"] if n == 0 else ["at_least", "at_most", "range"] + (["exact"] if exact_ok else [])
    form = _pick(rng, forms)
    if form == "exact":
        return {"min": n, "max": n}
    if form == "at_least":
        return {"min": max(1, n - slack)}
    if form == "at_most":
        return {"max": n + slack}
    return {"min": max(0, n - slack), "max": n + slack + 1}


def _sentence(rng: np.random.Generator, nouns: Sequence[str]) -> str:
    n1, n2 = (nouns[int(i)] for i in rng.choice(len(nouns), size=2, replace=False))
    return _pick(rng, SENTENCES).format(n1=n1, n2=n2, adj=_pick(rng, ADJECTIVES))


def write(rng: np.random.Generator, kinds: Sequence[str], topic: str) -> tuple[str, dict[str, dict[str, Any]]]:
    """The constructive writer: a response for `topic` that satisfies `kinds`, and the params it fixed while writing
    (the exact-count kinds and the marker words); measured kinds get their params later from the text."""
    has = set(kinds)
    nouns = TOPICS[topic]
    params: dict[str, dict[str, Any]] = {}
    sections = _int(rng, 1, 4) if "section_count" in has else 0
    n_par = 1 if "json_format" in has else max(sections, _int(rng, 1, 4 if "paragraph_count" in has else 3))
    paragraphs = [[_sentence(rng, nouns) for _ in range(_int(rng, 2, 4))] for _ in range(n_par)]

    def add(sentence: str) -> None:
        paragraphs[_int(rng, 0, n_par - 1)].insert(_int(rng, 1, 2), sentence)

    if "highlights" in has:
        count = _int(rng, 1, 3)
        for _ in range(count):
            add(f"This part is *{_pick(rng, ADJECTIVES)}* for the {_pick(rng, nouns)}.")
        params["highlights"] = {"min": _int(rng, 1, count)}
    if "placeholders" in has:
        count = _int(rng, 1, 3)
        names = [str(x) for x in rng.choice(PLACEHOLDER_NAMES, size=count, replace=False)]
        add("Fill in " + " and ".join(f"[{x}]" for x in names) + " before you share this.")
        params["placeholders"] = {"min": _int(rng, 1, count)}
    if "capital_words" in has:
        words = [str(x) for x in rng.choice(CAPITAL_WORDS, size=_int(rng, 1, 3), replace=False)]
        add(f"Remember the words {' '.join(words)} when you start.")
    lines = [[" ".join(p)] for p in paragraphs]
    if sections:
        marker = _pick(rng, ("Section", "Part"))
        starts = [0, *sorted(int(i) + 1 for i in rng.choice(n_par - 1, size=sections - 1, replace=False))]
        for number, start in enumerate(starts, 1):
            lines[start].insert(0, f"{marker.upper()} {number}")
        params["section_count"] = {"count": sections, "marker": marker}
    if "bullet_count" in has:
        count = _int(rng, 1, 5)
        lines[0] += [f"* {_pick(rng, ADJECTIVES).capitalize()} {_pick(rng, nouns)}" for _ in range(count)]
        params["bullet_count"] = {"count": count}
    if "title" in has:
        lines[0].insert(0, f"<<{topic.title()}>>")
    if "postscript" in has:
        marker = _pick(rng, ("P.S.", "P.P.S"))
        lines[-1].append(f"{marker} {_sentence(rng, nouns)}")
        params["postscript"] = {"marker": marker}
    text = "\n\n".join("\n".join(block) for block in lines)
    if "all_lowercase" in has:
        text = text.lower()
    if "all_uppercase" in has:
        text = text.upper()
    if "json_format" in has:
        key = "RESPONSE" if "all_uppercase" in has else "response"
        text = json.dumps({key: text})
    if "quotation" in has:
        text = f'"{text}"'
    return text, params


def _measured(rng: np.random.Generator, kind: str, text: str, nouns: Sequence[str]) -> dict[str, Any]:
    """Params for `kind` that `text` satisfies, read off the text."""
    check = CONSTRAINTS[kind]
    if kind in ("word_count", "sentence_count", "paragraph_count", "capital_words"):
        count = next(n for n in range(100_000) if check.check(text, min=n, max=n))
        return _bounds(rng, count, exact_ok=kind != "word_count")
    if kind in ("keywords_included", "keyword_frequency"):
        present = [n for n in nouns if CONSTRAINTS["keywords_included"].check(text, keywords=[n])]
        if kind == "keywords_included":
            size = _int(rng, 1, min(3, len(present)))
            return {"keywords": [str(x) for x in rng.choice(present, size=size, replace=False)]}
        keyword = _pick(rng, present)
        count = next(n for n in range(100_000) if check.check(text, keyword=keyword, min=n, max=n))
        return {"keyword": keyword, **_bounds(rng, count, exact_ok=True)}
    if kind == "letter_frequency":
        letter = _pick(rng, sorted({c for c in text.lower() if "a" <= c <= "z"}))
        return {"letter": letter, **_bounds(rng, text.lower().count(letter), exact_ok=True)}
    if kind in ("start_phrase", "end_phrase"):
        line = text.strip().split("\n")[0 if kind == "start_phrase" else -1].split()
        k = _int(rng, 2, min(5, len(line)))
        return {"phrase": " ".join(line[:k] if kind == "start_phrase" else line[-k:])}
    if kind == "keywords_excluded":
        return {"keywords": [str(x) for x in rng.choice(FORBIDDEN, size=_int(rng, 1, 3), replace=False)]}
    return {}


class InstructionSource:
    """Task, topic, kinds, the writer's choices and the measured params all come from `problem_rng(seed)`."""

    def __init__(self, config: InstructionConfig) -> None:
        self.config = config
        self._verifier = InstructionVerifier()

    def problem(self, seed: int) -> Problem:
        cfg = self.config
        rng = problem_rng(seed)
        topic = _pick(rng, sorted(TOPICS))
        task = _pick(rng, TASKS).format(topic=topic)
        kinds = _sample_kinds(rng, cfg)
        text, fixed = write(rng, kinds, topic)
        constraints = [{"kind": k, **fixed.get(k, {}), **_measured(rng, k, text, TOPICS[topic])} for k in kinds]
        reference = {"constraints": constraints, "mode": cfg.mode}
        verdict = self._verifier.verify(text, reference)
        if not verdict.correct:  # the writer and the constraint kinds disagree: a bug here, not a bad config
            raise RuntimeError(f"instruction writer failed its own constraints for seed {seed}: {verdict.detail}")
        prompt = task + "\n\n" + "\n".join(describe_constraints(reference))
        return Problem(
            id=f"instruction/{len(kinds)}/{seed}",
            domain="instruction",
            prompt=prompt,
            reference=reference,
            verifier="instruction",
            answer_format="text",
            difficulty={"num_constraints": len(kinds), "kinds": list(kinds)},
            solution=text,
        )


def _mutations(solution: str) -> list[str]:
    """Edits of a satisfying response, each of which breaks some constraint kinds (used to find a wrong answer)."""
    half = solution[: len(solution) // 2]
    return [
        "Hello, World! " + half,
        solution.swapcase() + "\n\nAND, MORE: *x* [y] " + " ".join(FORBIDDEN),
        "\n\n".join([solution] * 3) + "\n\nP.S. ok",
        "\n\n".join([solution] * 10),
        half,
        solution.upper(),
        solution.lower(),
        "ok",
    ]


class InstructionEnv(ReasoningEnv):
    """rlvr/Instruction-v0 (see module docstring)."""

    def __init__(
        self,
        num_constraints: int | Sequence[int] = (1, 3),
        mode: str = "fraction",
        kinds: Sequence[str] | None = None,
        verifier: Verifier | None = None,
        render_mode: str | None = None,
    ) -> None:
        self.config = InstructionConfig(num_constraints, mode, KINDS if kinds is None else tuple(kinds))
        super().__init__(InstructionSource(self.config), verifier=verifier, render_mode=render_mode)

    def negative_responses(self) -> list[str]:
        """The empty response, the first edit of the solution that breaks a constraint, and "two drafts" (the
        solution followed by that edit) when that breaks one too."""
        if self.problem is None:
            raise RuntimeError("call reset() before negative_responses()")
        v, ref, sol = self.verifier_for(self.problem), self.problem.reference, self.problem.solution or ""
        out = [""]
        wrong = next((m for m in _mutations(sol) if v.verify(m, ref).reward < 1), None)
        if wrong is not None:
            out.append(wrong)
            drafts = f"{sol}\n\nOr, if you prefer:\n\n{wrong}"
            if v.verify(drafts, ref).reward < 1:
                out.append(drafts)
        return out
