"""rlvr/Math-v0: procedural math problems with exact answers, or a math dataset file; scored by the `math` verifier.

    gym.make("rlvr/Math-v0")                                        # all kinds, difficulty 6
    gym.make("rlvr/Math-v0", difficulty=8, kinds=["linear", "quadratic"])
    gym.make("rlvr/Math-v0", dataset="train.jsonl")                 # problem/question + answer/solution rows

Kinds (`KINDS`) and what `difficulty` (1-10) grows:
- arithmetic: an expression over + - * with 1 + d operands of up to 1 + (d-1)//3 digits;
- fractions: a sum of 2 + (d-1)//2 fractions with denominators up to 3 + 2d (times a fraction from d = 6);
- linear: one equation (d <= 2), or a system of 2 (d <= 5), 3 (d <= 8) or 4 unknowns; coefficients up to 2 + d;
- quadratic: a x^2 + b x + c = 0 with two distinct integer roots up to 2 + 2d and a up to 1 + d//3;
- number_theory: gcd / lcm of 2 + d//4 numbers, a^b mod m, the number of divisors; the numbers grow with d;
- combinatorics: nCr, nPr and arrangements of a word with repeated letters; n and the word length grow with d.

Answers are strings the math verifier reads: an integer, a reduced fraction "p/q", a tuple "(x, y)" for a system
(ordered: the prompt names the order), "r1, r2" for the two roots of a quadratic (a list: any order). Every problem
keeps a wrong answer (off by one) in `meta["wrong"]` for `negative_responses`.

Not handled: problems needing proofs, symbolic answers (expressions, intervals), word problems; use a dataset.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from rlvr.envs.base import Problem, ReasoningEnv, problem_rng
from rlvr.envs.datasets import BOXED_INSTRUCTION, DatasetSource
from rlvr.verifiers import Verifier

KINDS = ("arithmetic", "fractions", "linear", "quadratic", "number_theory", "combinatorics")
MAX_DIFFICULTY = 10


@dataclasses.dataclass(frozen=True)
class MathConfig:
    """difficulty: 1 (small) .. 10 (large); kinds: which categories to draw from (uniformly);
    dataset: a .jsonl/.parquet file instead of generated problems (then `mapping` and `shuffle_seed` apply)."""

    difficulty: int = 6
    kinds: tuple[str, ...] = KINDS
    dataset: str | None = None
    mapping: dict[str, str] | None = None
    shuffle_seed: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.difficulty, bool) or not isinstance(self.difficulty, int):
            raise ValueError(f"difficulty must be an integer in 1..{MAX_DIFFICULTY}, got {self.difficulty!r}")
        if not 1 <= self.difficulty <= MAX_DIFFICULTY:
            raise ValueError(f"difficulty must be in 1..{MAX_DIFFICULTY}, got {self.difficulty}")
        if isinstance(self.kinds, str) or not self.kinds:
            raise ValueError(f"kinds must be a non-empty list of kind names; allowed: {', '.join(KINDS)}")
        unknown = [k for k in self.kinds if k not in KINDS]
        if unknown:
            raise ValueError(f"kinds: unknown kind(s) {unknown}; allowed: {', '.join(KINDS)}")
        object.__setattr__(self, "kinds", tuple(self.kinds))


@dataclasses.dataclass(frozen=True)
class _Generated:
    question: str
    answer: str
    working: str
    wrong: str


def _int(rng: np.random.Generator, lo: int, hi: int) -> int:
    """A uniform integer in [lo, hi]."""
    return int(rng.integers(lo, hi + 1))


def _nonzero(rng: np.random.Generator, bound: int) -> int:
    v = _int(rng, 1, bound)
    return v if rng.random() < 0.5 else -v


def _frac_str(f: Fraction) -> str:
    return str(f.numerator) if f.denominator == 1 else f"{f.numerator}/{f.denominator}"


def _frac_tex(f: Fraction) -> str:
    if f.denominator == 1:
        return str(f.numerator)
    sign = "-" if f < 0 else ""
    return f"{sign}\\frac{{{abs(f.numerator)}}}{{{f.denominator}}}"


# ---------------------------------------------------------------- arithmetic

_PREC = {"+": 1, "-": 1, "*": 2}


def _expr(rng: np.random.Generator, n: int, digits: int, mul_p: float) -> tuple[int, str, int]:
    """A random expression tree over n operands -> (value, text, precedence of its top operator)."""
    if n == 1:
        v = _int(rng, 1, 10**digits - 1)
        return v, str(v), 3
    k = _int(rng, 1, n - 1)
    op = "*" if rng.random() < mul_p else ("+" if rng.random() < 0.5 else "-")
    if op == "*":  # keep products readable: a small side multiplies the other
        lv, lt, lp = _expr(rng, k, digits, mul_p / 2)
        rv, rt, rp = _expr(rng, 1, 1, 0.0) if n - k > 1 else _expr(rng, n - k, digits, 0.0)
    else:
        lv, lt, lp = _expr(rng, k, digits, mul_p)
        rv, rt, rp = _expr(rng, n - k, digits, mul_p)
    if lp < _PREC[op]:
        lt = f"({lt})"
    if rp < _PREC[op] or (rp == _PREC[op] and op == "-"):
        rt = f"({rt})"
    value = lv + rv if op == "+" else lv - rv if op == "-" else lv * rv
    return value, f"{lt} {op} {rt}", _PREC[op]


def _arithmetic(rng: np.random.Generator, d: int) -> _Generated:
    value, text, _ = _expr(rng, 1 + d, 1 + (d - 1) // 3, 0.0 if d == 1 else 0.3)
    tex = text.replace("*", "\\times")
    return _Generated(f"Compute ${tex}$.", str(value), f"{text} = {value}", str(value + 1))


# ---------------------------------------------------------------- fractions


def _fractions(rng: np.random.Generator, d: int) -> _Generated:
    n, max_den = 2 + (d - 1) // 2, 3 + 2 * d
    terms = []
    for _ in range(n):
        den = _int(rng, 2, max_den)
        terms.append(Fraction(_int(rng, 1, den - 1 if den > 2 else 1) + (den if rng.random() < 0.2 else 0), den))
    signs = ["+"] + ["+" if rng.random() < 0.6 else "-" for _ in range(n - 1)]
    total = sum((t if s == "+" else -t for s, t in zip(signs, terms, strict=True)), Fraction(0))
    text = _frac_tex(terms[0]) + "".join(f" {s} {_frac_tex(t)}" for s, t in zip(signs[1:], terms[1:], strict=True))
    if d >= 6:
        factor = Fraction(_int(rng, 1, max_den), _int(rng, 2, max_den))
        text, total = f"\\left({text}\\right) \\times {_frac_tex(factor)}", total * factor
    question = f"Compute ${text}$. Give the result as a fraction in lowest terms (or an integer)."
    return _Generated(question, _frac_str(total), f"the sum is {_frac_str(total)}", _frac_str(total + 1))


# ---------------------------------------------------------------- linear equations and systems

_VARS = "xyzw"


def _term(coef: int, var: str, first: bool) -> str:
    sign = "-" if coef < 0 else ("" if first else "+")
    mag = "" if abs(coef) == 1 else str(abs(coef))
    return f"{sign}{mag}{var}" if first else f" {sign} {mag}{var}"


def _const(c: int, first: bool) -> str:
    if first:
        return str(c)
    return f" - {-c}" if c < 0 else f" + {c}"


def _det(rows: list[list[int]]) -> Fraction:
    """Determinant by exact Gaussian elimination (n <= 4)."""
    m = [[Fraction(x) for x in r] for r in rows]
    n, det = len(m), Fraction(1)
    for c in range(n):
        p = next((r for r in range(c, n) if m[r][c] != 0), None)
        if p is None:
            return Fraction(0)
        if p != c:
            m[c], m[p], det = m[p], m[c], -det
        det *= m[c][c]
        for r in range(c + 1, n):
            f = m[r][c] / m[c][c]
            m[r] = [a - f * b for a, b in zip(m[r], m[c], strict=True)]
    return det


def _linear(rng: np.random.Generator, d: int) -> _Generated:
    n = 1 if d <= 2 else 2 if d <= 5 else 3 if d <= 8 else 4
    cb, sb = 2 + d, 3 + 2 * d
    if n == 1:
        x, a = _int(rng, -sb, sb), _nonzero(rng, cb)
        c = _nonzero(rng, cb)
        while c == a:
            c = _nonzero(rng, cb)
        b = _int(rng, -cb * 3, cb * 3)
        e = (a - c) * x + b
        eq = f"{_term(a, 'x', True)}{_const(b, False)} = {_term(c, 'x', True)}{_const(e, False)}"
        return _Generated(f"Solve for $x$: ${eq}$.", str(x), f"{a - c}x = {e - b}, so x = {x}", str(x + 1))
    sol = [_int(rng, -sb, sb) for _ in range(n)]
    while True:
        rows = [[_int(rng, -cb, cb) for _ in range(n)] for _ in range(n)]
        if _det(rows) != 0 and all(any(r) for r in rows):
            break
    lines = []
    for r in rows:
        terms = [(c, v) for c, v in zip(r, _VARS, strict=False) if c]
        lhs = "".join(_term(c, v, i == 0) for i, (c, v) in enumerate(terms))
        lines.append(f"{lhs} = {sum(c * s for c, s in zip(r, sol, strict=True))}")
    names = ", ".join(_VARS[:n])
    system = " \\\\ ".join(lines)
    question = (
        f"Solve the system of equations\n$$\\begin{{cases}} {system} \\end{{cases}}$$\n"
        f"Give the solution as an ordered tuple $({names})$."
    )
    answer = "(" + ", ".join(map(str, sol)) + ")"
    wrong = "(" + ", ".join(str(s + (i == 0)) for i, s in enumerate(sol)) + ")"
    working = ", ".join(f"{v} = {s}" for v, s in zip(_VARS, sol, strict=False))
    return _Generated(question, answer, working, wrong)


# ---------------------------------------------------------------- quadratic equations


def _quadratic(rng: np.random.Generator, d: int) -> _Generated:
    bound = 4 + 3 * d
    r1 = _int(rng, -bound, bound)
    r2 = _int(rng, -bound, bound)
    while r2 == r1:
        r2 = _int(rng, -bound, bound)
    a = _int(rng, 1, 1 + d // 3) * (1 if d < 4 or rng.random() < 0.7 else -1)
    b, c = -a * (r1 + r2), a * r1 * r2
    poly = _term(a, "x^2", True) + (_term(b, "x", False) if b else "") + (_const(c, False) if c else "")
    lo, hi = sorted((r1, r2))
    question = f"Find all real solutions of ${poly} = 0$. List them separated by commas."
    working = f"{poly} = {a}(x - {lo})(x - {hi})".replace("- -", "+ ")
    return _Generated(question, f"{lo}, {hi}", working, f"{lo}, {hi + 1}")


# ---------------------------------------------------------------- number theory


def _number_theory(rng: np.random.Generator, d: int) -> _Generated:
    sub = ("gcd", "lcm", "modpow", "divisors")[_int(rng, 0, 3)]
    k = 2 + d // 4
    if sub == "gcd":
        g = _int(rng, 2, 10 ** (1 + d // 4))
        nums = [g * _int(rng, 1, 10 ** (1 + d // 3)) for _ in range(k)]
        ans = math.gcd(*nums)
        return _Generated(
            f"What is the greatest common divisor of {', '.join(map(str, nums))}?",
            str(ans),
            f"gcd = {ans}",
            str(ans + 1),
        )
    if sub == "lcm":
        nums = [_int(rng, 2, 6 + 6 * d) for _ in range(k)]
        ans = math.lcm(*nums)
        return _Generated(
            f"What is the least common multiple of {', '.join(map(str, nums))}?", str(ans), f"lcm = {ans}", str(ans + 1)
        )
    if sub == "modpow":
        a, b, m = _int(rng, 2, 10 * d), _int(rng, 2, 10 ** (1 + d // 2)), _int(rng, 3, 10 + 20 * d)
        ans = pow(a, b, m)
        return _Generated(
            f"What is the remainder when ${a}^{{{b}}}$ is divided by ${m}$?",
            str(ans),
            f"{a}^{b} mod {m} = {ans}",
            str((ans + 1) % m if m > 1 else ans + 1),
        )
    primes = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29][: 4 + d // 2]
    chosen = rng.choice(len(primes), size=min(len(primes), 1 + d // 3), replace=False)
    n, count = 1, 1
    for i in sorted(chosen):
        e = _int(rng, 1, 1 + d // 4)
        n, count = n * primes[i] ** e, count * (e + 1)
    return _Generated(
        f"How many positive divisors does ${n}$ have?", str(count), f"{n} has {count} divisors", str(count + 1)
    )


# ---------------------------------------------------------------- combinatorics


def _combinatorics(rng: np.random.Generator, d: int) -> _Generated:
    sub = ("ncr", "npr", "word")[_int(rng, 0, 2)]
    if sub == "ncr":
        n = _int(rng, 2 + 2 * d, 5 + 4 * d)
        r = _int(rng, 2, n - 2)
        ans = math.comb(n, r)
        q = f"In how many ways can a committee of {r} people be chosen from {n} people?"
        return _Generated(q, str(ans), f"C({n}, {r}) = {ans}", str(ans + 1))
    if sub == "npr":
        n = _int(rng, 2 + d, 4 + 2 * d)
        r = _int(rng, 2, min(n, 2 + d // 2))
        ans = math.perm(n, r)
        q = f"{n} runners finish a race with no ties. In how many ways can the first {r} places be filled?"
        return _Generated(q, str(ans), f"P({n}, {r}) = {ans}", str(ans + 1))
    length = 4 + d
    letters = "ABCDEFGH"[: max(2, length // 2)]
    word = "".join(letters[i] for i in rng.integers(0, len(letters), size=length))
    ans = math.factorial(length)
    for ch in set(word):
        ans //= math.factorial(word.count(ch))
    q = f"How many distinct strings can be formed by rearranging all the letters of {word}?"
    return _Generated(q, str(ans), f"{length}! divided by the repeats' factorials = {ans}", str(ans + 1))


GENERATORS: dict[str, Callable[[np.random.Generator, int], _Generated]] = {
    "arithmetic": _arithmetic,
    "fractions": _fractions,
    "linear": _linear,
    "quadratic": _quadratic,
    "number_theory": _number_theory,
    "combinatorics": _combinatorics,
}


class MathSource:
    """Generated problems: the kind is drawn with `problem_rng(seed)`, then its generator uses the same stream."""

    def __init__(self, config: MathConfig) -> None:
        self.config = config

    def problem(self, seed: int) -> Problem:
        rng = problem_rng(seed)
        kind = self.config.kinds[int(rng.integers(len(self.config.kinds)))]
        d = self.config.difficulty
        g = GENERATORS[kind](rng, d)
        return Problem(
            id=f"math/{kind}/d{d}/{seed}",
            domain="math",
            prompt=f"{g.question}\n\n{BOXED_INSTRUCTION}",
            reference=g.answer,
            verifier="math",
            answer_format="boxed",
            difficulty={"difficulty": d, "kind": kind},
            solution=f"{g.working}.\n\nThe final answer is \\boxed{{{g.answer}}}.",
            meta={"wrong": g.wrong},
        )


class MathEnv(ReasoningEnv):
    """rlvr/Math-v0 (see module docstring for kinds and the difficulty knob)."""

    def __init__(
        self,
        difficulty: int = 6,
        kinds: Sequence[str] | None = None,
        dataset: str | None = None,
        mapping: dict[str, str] | None = None,
        shuffle_seed: int | None = None,
        verifier: Verifier | None = None,
        render_mode: str | None = None,
    ) -> None:
        if dataset is not None and kinds is not None:
            raise ValueError("kinds applies to generated problems only; give either kinds or dataset, not both")
        if dataset is None and (mapping is not None or shuffle_seed is not None):
            raise ValueError("mapping and shuffle_seed apply to a dataset; give dataset=... as well")
        self.config = MathConfig(difficulty, KINDS if kinds is None else tuple(kinds), dataset, mapping, shuffle_seed)
        source: Any = (
            MathSource(self.config)
            if dataset is None
            else DatasetSource(dataset, mapping=mapping, domain="math", shuffle_seed=shuffle_seed)
        )
        super().__init__(source, verifier=verifier, render_mode=render_mode)

    def negative_responses(self) -> list[str]:
        if self.problem is None:
            raise RuntimeError("call reset() before negative_responses()")
        ref = str(self.problem.reference)
        wrong = self.problem.meta.get("wrong")
        if wrong is None:  # dataset problem: an integer reference is off by one, anything else gets "+ 1"
            wrong = str(int(ref) + 1) if ref.lstrip("-").isdigit() else f"{ref} + 1"
        return ["", f"The answer is \\boxed{{{wrong}}}.", f"\\boxed{{{ref}}} or \\boxed{{{wrong}}}"]
