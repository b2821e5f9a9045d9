"""Math verifier: is the final answer of a response the reference answer?

Pipeline: extract the answer (math_extract) -> identical text? -> plain numbers compared as `fractions.Fraction`
without sympy -> parse both sides with our own parser (math_parse; never `sympify`/`parse_expr`/`parse_latex`) ->
structural comparison, with expressions compared exactly (rationals), numerically at 30 digits (constants) or by
probing at fixed pseudo-random points (expressions with variables). `simplify` is never called: its running time is
unbounded. Comparisons run under a cooperative budget (`TIME_BUDGET_S`), and the whole call (extraction, parsing,
comparison) under a hard wall-time limit (HARD_LIMIT_FACTOR x the budget, `deadline.call_with_deadline`: any thread,
no SIGALRM). Model text yields only correct / incorrect / unparsed / timeout; `error` is kept for a bad reference.

Grading policy (what a careful human grader accepts; tests/verifiers/data/math.jsonl and test_math_conventions.py pin
both sides of each rule):
  * Decimals: two values a decimal writes exactly (integers, `0.125`) must be equal
    (`1234567890.5` is not `1234567891`, `1.099511628 \\times 10^{12}` is not 2^40), unless one is written beyond 6
    decimal places and they agree rounded to 6 (`0.0666668` = `0.066666793`: `same_to_six_places`). A decimal
    standing for a value it cannot write exactly (1/3, pi, sqrt 2) must be that value rounded or truncated to its
    written digits, with at least 6 decimal places or 7 significant digits: `0.333333`, `3.141593` pass; `0.333`,
    `3.14159`, `2.6667` for 8/3 fail. Odd roots of variables are real roots (`x^{2/3}` = `\\sqrt[3]{x}^2`).
  * Percent: `50%` equals `50%`, `50` and `0.5`, in both directions (reference or response); `0.5%` is not `50%`.
  * Units and currency: ignored when only one side has one (`5\\text{ cm}` = `5`, `\\$16,386.20` = 16386.2, `12 m` = 12,
    `1,000.99€`); single-letter units (m, g, s, h, l, L, J, N, W, V) count as units only when the reference has no
    variables. When both sides have units they must be the same (no conversion: `500 cm` is not `5 m`). Degrees are a
    unit: `30^\\circ` = `30`, but `\\pi/6` is not `30^\\circ`.
  * Equations: `x = 5` = `5`; `y = 2x+1` = `2x+1`; `f(x) = 2x` = `2x`; two equations are equal when solved for the
    same variable or when their sides' differences are proportional. A chain of equalities is its last side
    (`x = 5+5+1 = 11` = 11; `x = 5+5+1 = 7 = 11` = 11 too: a wrong step is the working's fault, the last side is
    what the chain concludes, as math-verify and other graders' labels read it). `f(x) = 1` is 1.
    What follows the first `\\approx` is a rounding, not the answer: `x = \\frac13 \\approx 0.333` = 1/3 (even with a
    wrong rounding); `x \\approx 0.333333` alone is the decimal answer. A quantity named by upper-case points or
    subscripted symbols is its value: `AB = 4` = 4, `|AB| = 1`, `\\frac{NO}{BO} = c`, `V_1 : V_2 = 11 : 21` = `11:21`
    (not `2x = 6` = 6, nor `xy = 4` = 4). Ratios `a:b` are compared part by part (`12:00` is not `1:00`, `7:32` is
    not the point (7, 32)); a named ratio with one value (`A:B = 1`) is that value.
  * Relations and sets: `x \\le 3` = `3 \\ge x` = `(-\\infty, 3]` = `x \\in (-\\infty, 3]`, in both directions;
    `0 < f(x) < 1` (a range) = `(0, 1)`; `x < 2 or x > 3` is the union of two intervals ("and" is not: an
    intersection is never read as a union); `(a, b) = (1, 2)` is the point (1, 2).
  * Several answers: a top-level list (`2, 3`, `x=2 or x=3`, `\\boxed{2}, \\boxed{3}`) matches a list or set with the
    same elements in any order (an element written twice counts once); against a single reference a list is a hedge
    and is wrong (`3 or 5`, `\\boxed{3, 5}`). A decimal comma (`1,22`, `2,74`: a comma not before exactly three
    digits) is read as a decimal against a single number, where the list reading could never be right.
  * `(a, b)` is a point or an open interval; `[a, b)` is an interval (closedness matters; ignored at infinity);
    `\\{...\\}` is a set (order and repeats ignored); tuples keep order; a column or row matrix equals a tuple;
    matrices may be added, scaled and multiplied inside an answer.
  * Powers too large to compute (`2^{2^{40}}`) are compared structurally after writing the base as a smallest power
    (`4^{2^{39}}` = `2^{2^{40}}`); a symbolic base keeps any exponent (`(x+1)^{100000}` = `(1+x)^{100000}`).
  * An answer sentence that does not parse (`Final Answer: Jane started 3 hours ago.`, a last line `not 10, it's
    1,000.99€`) is the last number it states outside math and does not deny (`is not 42`), unless it hedges (`or`,
    `maybe`), gives a bound or a range (`at least 5`, `3 to 5`) or is cut off inside math (`is \\boxed{42`: a
    truncated response). Otherwise an answer found only as the last line that does not parse is `unparsed`; an
    explicit answer (boxed, tagged, "the answer is") that does not parse, or is too large to evaluate
    (`9^{9^{9^9}}`, `\\lfloor e^{9999} \\rfloor`), is `incorrect`. Only what follows the last `</think>` is read.
  * A reference that is a whole solution without a box (`... #### 18`, `... The final answer is $28\\%$.`) is the
    answer its final-answer phrase gives. A chat template's end-of-turn token (`<|im_end|>`, `<|im_start|>`,
    `<|endoftext|>`, `<|eot_id|>`) ends a response: a made-up next turn after it is not the answer.
  * Where math-verify's own tests label otherwise, on purpose (benchmarks/data/README.md lists them):
    `$ \\n 9 \\n $` is the answer 9 (math-verify
    reads no inline math across lines); `0.33` is not 1/3 even when a caller would ask for 2-digit rounding;
    `x \\in [-2, 7]` = `-2 \\le x \\le 7` in both directions (math-verify: only with `allow_set_relation_comp`);
    `4 4/9%` = 40/9 (a percent on one side only is ignored); `{1,3}` (a list) is not `(1,3)` (maybe an interval).
  * A reference that is text (`\\text{yes}`, "No solution") is compared as normalised words; a reference our grammar
    does not read (`\\vec{a} - \\vec{b}`) as text without layout but with every operator and letter kept.
"""

from __future__ import annotations

import cmath
import contextlib
import math
import re
import time
from fractions import Fraction
from typing import Any

import sympy

from rlvr.verifiers.base import Verdict, Verifier
from rlvr.verifiers.deadline import Deadline, call_with_deadline
from rlvr.verifiers.math_extract import BOUND, denied, extract_answer, extract_reference
from rlvr.verifiers.math_parse import (
    MAX_CHARS,
    Interval,
    Matrix,
    ParseError,
    Quantity,
    Rel,
    Seq,
    Union,
    parse_answer,
)
from rlvr.verifiers.steps import StepScore, equality_chains

TIME_BUDGET_S = 1.0
HARD_LIMIT_FACTOR = 2.0  # a whole verify call (extraction, parsing, comparison) is stopped at this x TIME_BUDGET_S
# A decimal standing for a value no decimal writes exactly: its last digit at most DECIMAL_PRECISION (relative above 1),
# and within DECIMAL_RTOL relative of the value (see `decimal_match`).
DECIMAL_PRECISION = Fraction(1, 10**6)
DECIMAL_RTOL = Fraction(1, 10**5)
EXACT_RTOL = 1e-20  # two exact forms compared at 30 digits
PROBE_RTOL = 1e-9  # double-precision probes of expressions with variables
MAX_ITEMS = 64  # list / set / tuple length we compare


class _Timeout(Exception):
    pass


class _Ctx:
    def __init__(self, ulp: Fraction | None, budget_s: float = TIME_BUDGET_S) -> None:
        self.deadline = time.perf_counter() + budget_s
        self.ulp = ulp  # unit of the last digit of the coarsest written decimal on either side; None: no decimal
        self.decimal = ulp is not None

    def tick(self) -> None:
        if time.perf_counter() > self.deadline:
            raise _Timeout


# ---------------------------------------------------------------- numbers without sympy

_PLAIN = re.compile(r"(-?)(?:([0-9]+(?:\.[0-9]*)?|\.[0-9]+)|\\[dt]?frac\{([0-9]+)\}\{([0-9]+)\}|([0-9]+)/([0-9]+))")


def _plain_number(s: str) -> tuple[Fraction, Fraction | None] | None:
    """`-12`, `0.5`, `\\frac{1}{2}`, `3/4` as an exact Fraction (and the unit of its last digit if it was a decimal)."""
    m = _PLAIN.fullmatch(s.strip())
    if m is None or len(s) > 60:
        return None
    sign = -1 if m.group(1) else 1
    if m.group(2) is not None:
        text = m.group(2)
        return sign * Fraction(text), Fraction(1, 10 ** len(text.partition(".")[2])) if "." in text else None
    num, den = (m.group(3), m.group(4)) if m.group(3) is not None else (m.group(5), m.group(6))
    return (sign * Fraction(int(num), int(den)), None) if int(den) else None


_AMBIGUOUS_COMMA = re.compile(r"-?[0-9]+,(?![0-9]{3}$)[0-9]+")


def _comma_decimal(s: str) -> str:
    """`1,22` -> `1.22`: a comma not followed by exactly three digits, read as a decimal comma ("" otherwise).

    Used only when the other side is a single number: there the list reading (`1,22` = 1 and 22) can never be
    right, so the decimal reading is the only one a grader could mean. `1,220` stays ambiguous (thousands)."""
    s = s.strip()
    return s.replace(",", ".") if _AMBIGUOUS_COMMA.fullmatch(s) else ""


def _terminating(x: Fraction) -> bool:
    """Can a decimal write `x` exactly (denominator 2^a 5^b)? Integers can."""
    q = x.denominator
    for p in (2, 5):
        while q % p == 0:
            q //= p
    return q == 1


def same_to_six_places(a: Fraction, b: Fraction) -> bool:
    """Two exactly written decimals, one written beyond 6 decimal places, that agree rounded to 6 places and within
    DECIMAL_RTOL relative: `0.0666668` = `0.066666793` (a gold carried to more digits than the answer; math-verify's
    default `float_rounding=6`). `0.50001` is still not `0.5`, nor `0.1234566` `0.1234564`, nor `1e-7` `2e-7`."""
    if max(a.denominator, b.denominator) <= 10**6:
        return False  # neither written beyond 6 decimal places: they must be equal
    return round(a, 6) == round(b, 6) and abs(a - b) <= DECIMAL_RTOL * max(abs(a), abs(b))


def decimal_match(diff: float | Fraction, magnitude: float | Fraction, ulp: Fraction | None) -> bool:
    """Is a written decimal within `diff` of a value it cannot write exactly close enough to stand for it?

    It must be the value rounded or truncated to its written digits (within one unit of its last digit), written to
    at least 6 decimal places or 7 significant digits (that unit at most DECIMAL_PRECISION, relative above 1), and
    within DECIMAL_RTOL relative: `0.333333` and `3.141593` stand for 1/3 and pi; `3.14159`, `0.333`, `2.6667` for
    8/3 do not. The caller decides that the tolerance applies at all: never between two values a decimal writes
    exactly (`1234567890.5` is not `1234567891`; `1.099511628 \\times 10^{12}` is not 2^40).
    """
    if ulp is None:
        return False
    d, m = abs(diff), abs(magnitude)
    return d <= ulp and ulp <= DECIMAL_PRECISION * max(1, m) and d <= DECIMAL_RTOL * m


def _close(a: complex, b: complex, rtol: float, atol: float = 0.0) -> bool:
    d = abs(a - b)
    return d <= atol or d <= rtol * max(abs(a), abs(b))


# ---------------------------------------------------------------- float evaluation of sympy trees (probing)

_CFUNCS = {
    sympy.sin: cmath.sin, sympy.cos: cmath.cos, sympy.tan: cmath.tan, sympy.asin: cmath.asin,
    sympy.acos: cmath.acos, sympy.atan: cmath.atan, sympy.sinh: cmath.sinh, sympy.cosh: cmath.cosh,
    sympy.tanh: cmath.tanh, sympy.exp: cmath.exp, sympy.log: cmath.log, sympy.Abs: abs,
    sympy.cot: lambda z: 1 / cmath.tan(z), sympy.sec: lambda z: 1 / cmath.cos(z), sympy.csc: lambda z: 1 / cmath.sin(z),
}  # fmt: skip
_BIG = 1e250


def _fnum(e: sympy.Basic, env: dict[sympy.Symbol, float]) -> complex | None:
    """`e` at the point `env` in double precision, or None (overflow, a pole, something we do not evaluate)."""
    try:
        v = _fnum_raw(e, env)
    except (OverflowError, ZeroDivisionError, ValueError, TypeError, RecursionError):
        return None
    if v is None or not cmath.isfinite(v) or abs(v) > _BIG:
        return None
    return v


def _fnum_raw(e: sympy.Basic, env: dict) -> complex | None:
    if e.is_Rational:
        return complex(int(e.p) / int(e.q))
    if e.is_Float:
        return complex(float(e))
    if e.is_Symbol:
        return complex(env[e]) if e in env else None
    if e is sympy.pi:
        return complex(math.pi)
    if e is sympy.E:
        return complex(math.e)
    if e is sympy.I:
        return 1j
    args = []
    for a in e.args:
        v = _fnum_raw(a, env)
        if v is None or abs(v) > _BIG:
            return None
        args.append(v)
    if e.is_Add:
        return sum(args)
    if e.is_Mul:
        out = complex(1)
        for v in args:
            out *= v
        return out
    if e.is_Pow:
        b, x = args
        if x.imag == 0 and x.real.is_integer() and abs(x.real) <= 1000:
            return b ** int(x.real)
        if b == 0:
            return complex(0) if x.real > 0 else None
        ex = e.args[1]
        if ex.is_Rational and ex.q % 2 and b.imag == 0 and b.real < 0 and e.args[0].free_symbols:
            # `x^{2/3}` = `\\sqrt[3]{x^2}` = `\\sqrt[3]{x}^2` at x < 0: an odd root of a variable is its real root
            return complex((-1) ** (int(ex.p) % 2) * (-b.real) ** (int(ex.p) / int(ex.q)))
        return cmath.exp(x * cmath.log(b)) if b.imag or b.real < 0 else complex(b.real**x) if not x.imag else b**x
    f = _CFUNCS.get(e.func)
    if f is not None and len(args) == 1:
        return complex(f(args[0]))
    if e.func in (sympy.floor, sympy.ceiling) and args[0].imag == 0:
        return complex((math.floor if e.func is sympy.floor else math.ceil)(args[0].real))
    if e.func is sympy.factorial and args[0].imag == 0:
        return complex(math.gamma(args[0].real + 1))
    if e.func is sympy.binomial and args[0].imag == 0 and args[1].imag == 0:
        n, k = args[0].real, args[1].real
        return complex(math.gamma(n + 1) / (math.gamma(k + 1) * math.gamma(n - k + 1)))
    return None


_PROBE_VALUES = (0.5772, 1.3247, 2.1718, 0.8660, 1.6180, 2.5029, 0.4142, 1.9021, 2.7320, 1.1447, 0.6931, 2.3026)


def _probe_points(symbols: list[sympy.Symbol], count: int = 6) -> list[dict[sympy.Symbol, float]]:
    """Fixed pseudo-random points (deterministic verdicts), distinct per variable, a negative one included."""
    pts = []
    for k in range(count):
        pt = {}
        for j, s in enumerate(symbols):
            v = _PROBE_VALUES[(k * 5 + j * 7) % len(_PROBE_VALUES)] + 0.013 * j
            pt[s] = -v if (k + j) % 4 == 3 else v
        pts.append(pt)
    return pts


# ---------------------------------------------------------------- expression equality


def _invalid(e: sympy.Expr) -> bool:
    return e.has(sympy.zoo, sympy.nan)


def expr_equal(a: sympy.Expr, b: sympy.Expr, ctx: _Ctx) -> bool:
    """Exact for rationals, 30-digit numeric for constants, probing for expressions with variables."""
    ctx.tick()
    if a == b:
        return not _invalid(a)
    if _invalid(a) or _invalid(b) or a.has(sympy.oo) or b.has(sympy.oo):
        return False
    if a.is_Rational and b.is_Rational:
        fa, fb = Fraction(int(a.p), int(a.q)), Fraction(int(b.p), int(b.q))
        if _terminating(fa) and _terminating(fb):
            return same_to_six_places(fa, fb)  # both exactly writable as decimals, and different
        return decimal_match(fa - fb, max(abs(fa), abs(fb)), ctx.ulp)
    symbols = sorted(a.free_symbols | b.free_symbols, key=lambda s: s.name)
    if not symbols:
        fa, fb = _fnum(a, {}), _fnum(b, {})
        if fa is None or fb is None or not _close(fa, fb, 1e-5, 1e-12):
            return False  # too large to evaluate safely, or clearly different
        diff = complex(sympy.N(a - b, 30))
        mag = max(abs(fa), abs(fb))
        if abs(diff) <= max(EXACT_RTOL * mag, 1e-25):
            return True
        return abs(diff.imag) <= EXACT_RTOL * mag and decimal_match(diff.real, mag, ctx.ulp)
    return _probe(a, b, symbols, ctx, ratio=False) is not None


def _probe(a: sympy.Expr, b: sympy.Expr, symbols: list, ctx: _Ctx, ratio: bool) -> complex | None:
    """Compare at probe points: returns the common value of a/b (ratio) or 1 (equality) if consistent, else None."""
    common, valid = None, 0
    for pt in _probe_points(symbols):
        ctx.tick()
        fa, fb = _fnum(a, pt), _fnum(b, pt)
        if fa is None or fb is None:
            continue
        if ratio:
            if abs(fb) < 1e-9:
                if abs(fa) > 1e-9:
                    return None
                continue
            r = fa / fb
            if common is None:
                common = r
            elif not _close(r, common, PROBE_RTOL, 1e-12):
                return None
        elif not _close(fa, fb, PROBE_RTOL, 1e-12):
            return None
        valid += 1
    if valid < 3:
        return None
    return common if ratio else complex(1)


# ---------------------------------------------------------------- structural comparison


def _lone_symbol(v: Any) -> bool:
    return isinstance(v, sympy.Symbol)


_FUNCTION_NAMES = frozenset(sympy.Symbol(c) for c in "fghpqFGPQ")


def _function_definition(lhs: Any, rhs: Any) -> bool:
    """`f(x) = 2x` (parsed as f*x = 2x): a function name times its argument, the argument in the value, not the name;
    or a constant function `f(x) = 1`, whose value is the number."""
    if not (isinstance(lhs, sympy.Mul) and len(lhs.args) == 2 and all(a.is_Symbol for a in lhs.args)):
        return False
    if not isinstance(rhs, sympy.Expr):
        return False
    free = rhs.free_symbols
    return any(f in _FUNCTION_NAMES and (x in free or not free) and f not in free
               for f, x in (lhs.args, lhs.args[::-1]))  # fmt: skip


def _application(v: Any) -> bool:
    """`f(x)` as parsed (f*x): a function name times one variable."""
    return (
        isinstance(v, sympy.Mul)
        and len(v.args) == 2
        and all(a.is_Symbol for a in v.args)
        and any(a in _FUNCTION_NAMES for a in v.args)
    )


def _named_quantity(lhs: Any, rhs: Any) -> bool:
    """`AB = 4`, `|AB| = 1`, `\\frac{NO}{BO} = \\frac{1}{\\sqrt6}`, `V_1 : V_2 = 11 : 21`: a quantity named by
    upper-case points or subscripted symbols (products and quotients of them, their absolute value, a ratio of
    them, `A:B = 1`) equal to a value without variables. The value is the answer; `xy = 4` or `2x = 6` name nothing."""
    if isinstance(lhs, Seq) and lhs.kind == "ratio":
        if isinstance(_bare(rhs), sympy.Expr):  # `A:B = 1`: the ratio's value
            return not _bare(rhs).free_symbols and all(_named_quantity(a, rhs) for a in lhs.items)
        return (
            isinstance(rhs, Seq)
            and rhs.kind == "ratio"
            and len(lhs.items) == len(rhs.items)
            and all(_named_quantity(a, b) for a, b in zip(lhs.items, rhs.items, strict=True))
        )
    if not (isinstance(lhs, sympy.Expr) and isinstance(_bare(rhs), sympy.Expr)) or _bare(rhs).free_symbols:
        return False
    name = lhs.args[0] if isinstance(lhs, sympy.Abs) else lhs
    factors = sympy.Mul.make_args(name)
    return bool(name.free_symbols) and all(
        (f.is_Symbol or (f.is_Pow and f.base.is_Symbol and f.exp == -1))
        and ((b := f if f.is_Symbol else f.base).name.isupper() or "_" in b.name)
        for f in factors
    )


def _named_tuple(lhs: Any, rhs: Any) -> bool:
    """`(a, b) = (1, 2)`: a tuple of distinct variables named equal to a tuple of as many values without them."""
    if not all(isinstance(v, Seq) and v.kind in ("paren", "tuple") for v in (lhs, rhs)):
        return False
    names = lhs.items
    if len(names) != len(rhs.items) or not all(_lone_symbol(n) for n in names) or len(set(names)) != len(names):
        return False
    return not any(isinstance(v, sympy.Expr) and v.free_symbols & set(names) for v in rhs.items)


def _solved(rel: Rel) -> tuple[sympy.Expr, Any] | None:
    """`x = value` or `value = x` (x not in value) -> (x, value); `f(x) = value` -> (f*x, value)."""
    if rel.ops not in (("=",), ("in",)):
        return None
    lhs, rhs = rel.parts
    if rel.ops == ("=",) and _function_definition(lhs, rhs):
        return lhs, rhs
    if rel.ops == ("=",) and _named_tuple(lhs, rhs):  # `(a, b) = (1, 2)`: the tuple of values
        return lhs, rhs
    if rel.ops == ("=",) and _named_quantity(lhs, rhs):  # `AB = 4`: the length
        return lhs, rhs
    for sym, val in ((lhs, rhs), (rhs, lhs)):
        if _lone_symbol(sym) and not (isinstance(val, sympy.Expr) and val.has(sym)):
            return sym, val
        if rel.ops == ("in",):
            return None
    return None


def _unwrap(v: Any) -> Any:
    if isinstance(v, Rel) and (s := _solved(v)) is not None:
        return s[1]
    return v


def _bare(v: Any) -> Any:
    return v.value if isinstance(v, Quantity) else v


def _unit_key(unit: str) -> str:
    """`square cm` -> `cm^2`; `cm` and `cms` alike."""
    words, out = unit.split(), []
    for w in words:
        if out and out[-1] in ("sq", "cu"):
            w = w + ("^2" if out.pop() == "sq" else "^3")
        out.append(w.rstrip("s") if len(w) > 3 else w)
    return " ".join(out)


def _exact_part(v: Any) -> Any:
    """`x = \\frac13 \\approx 0.333` -> `x = \\frac13`; `\\frac13 \\approx 0.333` -> 1/3: what comes after the
    first `\\approx` is a rounding of the answer, not the answer. `x \\approx 0.333` alone is `x = 0.333`."""
    if not (isinstance(v, Rel) and "~" in v.ops):
        return v
    k = v.ops.index("~")
    if k == 0 and _lone_symbol(_bare(v.parts[0])):
        return _exact_part(Rel(("=", *v.ops[1:]), v.parts))
    return v.parts[0] if k == 0 else Rel(v.ops[:k], v.parts[: k + 1])


def _collapse_chain(v: Any, ctx: _Ctx) -> Any:
    """`x = 5+5+1 = 11` -> `x = 11`; `5+5+1 = 11` -> 11: the last side of a chain of equalities is the answer.

    The last side is what the chain concludes, as a grader reading "the final answer" takes it (math-verify and the
    labels of other people's grader tests agree): `x = 5+5+1 = 7 = 11` answers 11, `z = 3+3 = 2` answers 2. A wrong
    intermediate step is a fault of the working, not a second answer; `verify_steps` scores the steps."""
    del ctx  # the chain is not checked (kept in the signature: every normalisation step takes it)
    if not (isinstance(v, Rel) and set(v.ops) == {"="}):
        return v
    if len(v.ops) == 1 and any(not isinstance(_bare(p), sympy.Expr) or _bare(p).free_symbols for p in v.parts):
        return v  # `y = 2x + 3`, `x^2 + y^2 - 25 = 0`: an equation, not a computation `5+5+1 = 11`
    last = v.parts[-1]
    first = v.parts[0]
    return Rel(("=",), (first, last)) if _lone_symbol(first) else last


_UNIT_LETTERS = frozenset(sympy.Symbol(u) for u in "m g s h l L J N W V".split())


def _letter_units(v: Any, ref: Any) -> Any:
    """`1000.99 m^2` -> 1000.99 when the reference has no variables: single-letter units read as symbols."""
    if not (isinstance(v, sympy.Expr) and v.free_symbols and v.free_symbols <= _UNIT_LETTERS):
        return v
    if not isinstance(_bare(ref), sympy.Expr) or _bare(ref).free_symbols:
        return v
    coeff, dep = v.as_independent(*v.free_symbols, as_Add=False)
    factors = dep.args if dep.is_Mul else (dep,)
    if all(f in _UNIT_LETTERS or (f.is_Pow and f.base in _UNIT_LETTERS and f.exp.is_Integer) for f in factors):
        return Quantity(coeff, str(dep))
    return v


def _as_point(v: Any) -> Seq | None:
    """`x = 1, y = 2` -> the point (1, 2): equations for distinct variables, coordinates in alphabetical order."""
    if not (
        _is_list(v) and all(isinstance(it, Rel) and it.ops == ("=",) and _lone_symbol(it.parts[0]) for it in v.items)
    ):
        return None
    if len({it.parts[0] for it in v.items}) != len(v.items):
        return None  # `x = 2, x = 3` is two solutions, not a point
    items = tuple(it.parts[1] for it in sorted(v.items, key=lambda it: it.parts[0].name))
    return Seq("paren" if len(items) == 2 else "tuple", items)


def _as_points(v: Any) -> Any:
    """`p=5, q=2; p=7, q=2` -> the points (5, 2), (7, 2): a list of equations naming the same k >= 2 variables in
    turn is a list of solutions, read k at a time (each group one point, as `_as_point` reads it)."""
    if not (
        _is_list(v) and all(isinstance(it, Rel) and it.ops == ("=",) and _lone_symbol(it.parts[0]) for it in v.items)
    ):
        return v
    names = [it.parts[0] for it in v.items]
    k = len(set(names))
    if k < 2 or len(names) == k or len(names) % k:
        return v
    groups = [v.items[i : i + k] for i in range(0, len(names), k)]
    if any({it.parts[0] for it in g} != set(names) for g in groups):
        return v
    return Seq("list", tuple(_as_point(Seq("list", g)) for g in groups))


def _as_union(v: Any) -> Any:
    """`x < 2 or x > 3` -> the union of the two intervals (only for "or": `x > 1 and x < 3` is an intersection)."""
    if not (_is_list(v) and v.only_or and all(isinstance(it, Rel) for it in v.items)):
        return v
    intervals = [_interval_of(it) for it in v.items]
    if any(iv is None for iv in intervals) or len({_rel_symbol(it) for it in v.items}) != 1:
        return v
    return Union(tuple(intervals))


def _rel_symbol(rel: Rel) -> Any:
    return next((p for p in rel.parts if _lone_symbol(_bare(p))), None)


def _points(ref: Any, resp: Any) -> tuple[Any, Any]:
    for a, b in ((ref, resp), (resp, ref)):
        if isinstance(b, Seq) and b.kind in ("paren", "tuple") and (pt := _as_point(a)) is not None:
            return (pt, resp) if a is ref else (ref, pt)
    return ref, resp


def equivalent(ref: Any, resp: Any, ctx: _Ctx) -> bool:
    """Is the parsed response value `resp` the reference value `ref` (policy in the module docstring)?"""
    ctx.tick()
    ref, resp = _exact_part(ref), _exact_part(resp)
    ref, resp = _collapse_chain(ref, ctx), _collapse_chain(resp, ctx)
    ref, resp = _as_points(ref), _as_points(resp)
    ref, resp = _points(ref, resp)
    ref, resp = _as_union(ref), _as_union(resp)
    resp = _letter_units(resp, ref)
    if not isinstance(resp, Rel):
        ref = _unwrap(ref)
    if not isinstance(ref, Rel):
        resp = _unwrap(resp)
    if isinstance(ref, Quantity) or isinstance(resp, Quantity):
        return _quantity_eq(ref, resp, ctx)
    if _is_list(ref) or _is_list(resp):
        return _list_eq(ref, resp, ctx)
    if any(isinstance(v, (Interval, Union)) for v in (ref, resp)) or (
        isinstance(ref, Rel) != isinstance(resp, Rel) and any(_is_paren(v) for v in (ref, resp))
    ):
        return _set_like_eq(ref, resp, ctx)
    if isinstance(ref, Rel) or isinstance(resp, Rel):
        return isinstance(ref, Rel) and isinstance(resp, Rel) and _rel_eq(ref, resp, ctx)
    if isinstance(ref, Matrix) or isinstance(resp, Matrix):
        return _matrix_eq(ref, resp, ctx)
    if isinstance(ref, Seq) and isinstance(resp, Seq):
        return _seq_eq(ref, resp, ctx)
    if isinstance(ref, sympy.Expr) and isinstance(resp, sympy.Expr):
        return expr_equal(ref, resp, ctx)
    return False


def _is_list(v: Any) -> bool:
    return isinstance(v, Seq) and v.kind == "list"


def _is_paren(v: Any) -> bool:
    return isinstance(v, Seq) and v.kind == "paren"


def _quantity_eq(ref: Any, resp: Any, ctx: _Ctx) -> bool:
    ru = _unit_key(ref.unit) if isinstance(ref, Quantity) else ""
    pu = _unit_key(resp.unit) if isinstance(resp, Quantity) else ""
    rv, pv = _bare(ref), _bare(resp)
    if ru and pu and ru != pu:
        return False
    if pu == "%" and ru != "%" and isinstance(pv, sympy.Expr):
        return equivalent(rv, pv, ctx) or equivalent(rv, pv / 100, ctx)
    if ru == "%" and pu != "%" and isinstance(rv, sympy.Expr):
        return equivalent(rv, pv, ctx) or equivalent(rv / 100, pv, ctx)
    return equivalent(rv, pv, ctx)


def _match_unordered(ra: list, pa: list, ctx: _Ctx) -> bool:
    if len(ra) != len(pa) or len(ra) > MAX_ITEMS:
        return False
    unused = list(pa)
    for r in ra:
        for k, p in enumerate(unused):
            if equivalent(r, p, ctx):
                del unused[k]
                break
        else:
            return False
    return True


def _dedupe(items: tuple, ctx: _Ctx) -> list:
    out: list = []
    for it in items[: MAX_ITEMS + 1]:
        if not any(equivalent(o, it, ctx) for o in out):
            out.append(it)
    return out


def _list_eq(ref: Any, resp: Any, ctx: _Ctx) -> bool:
    """Several answers: a list matches a list or a set with the same elements, in any order; never a single value.
    An answer written twice is still one answer (`(3,17,3,7)` repeated in a list of solutions adds nothing)."""
    kinds = ("list", "set")
    if not (isinstance(ref, Seq) and ref.kind in kinds and isinstance(resp, Seq) and resp.kind in kinds):
        return False
    return _match_unordered(_dedupe(ref.items, ctx), _dedupe(resp.items, ctx), ctx)


def _seq_eq(ref: Seq, resp: Seq, ctx: _Ctx) -> bool:
    if "ratio" in (ref.kind, resp.kind) and ref.kind != resp.kind:
        return False  # `7:32` is not the point (7, 32)
    if ref.kind == "set" or resp.kind == "set":
        return ref.kind == resp.kind and _match_unordered(_dedupe(ref.items, ctx), _dedupe(resp.items, ctx), ctx)
    return len(ref.items) == len(resp.items) and all(
        equivalent(a, b, ctx) for a, b in zip(ref.items, resp.items, strict=True)
    )


def _matrix_eq(ref: Any, resp: Any, ctx: _Ctx) -> bool:
    def cells(v: Any) -> tuple[tuple[int, int], list] | None:
        if isinstance(v, Matrix):
            return (len(v.rows), len(v.rows[0])), [c for row in v.rows for c in row]
        if isinstance(v, Seq) and v.kind in ("paren", "tuple"):
            return (len(v.items), 1), list(v.items)
        return None

    a, b = cells(ref), cells(resp)
    if a is None or b is None:
        return False
    vector = 1 in a[0] and 1 in b[0] and (isinstance(ref, Seq) or isinstance(resp, Seq))
    if a[0] != b[0] and not (vector and len(a[1]) == len(b[1])):
        return False
    return all(equivalent(x, y, ctx) for x, y in zip(a[1], b[1], strict=True))


def _interval_of(v: Any) -> Interval | None:
    """An interval from `(a, b)` or from a one-variable inequality (`x < 3`, `1 \\le x < 2`)."""
    if isinstance(v, Interval):
        return v
    if _is_paren(v) and all(isinstance(x, sympy.Expr) for x in v.items):
        return Interval(v.items[0], v.items[1], False, False)
    if not isinstance(v, Rel) or not set(v.ops) <= {"<", "<=", ">", ">="} or len(v.ops) > 2:
        return None
    parts = [_bare(p) for p in v.parts]
    syms = [k for k, p in enumerate(parts) if _lone_symbol(p) or _application(p)]
    if len(syms) != 1 or any(
        not isinstance(p, sympy.Expr) or p.free_symbols for k, p in enumerate(parts) if k != syms[0]
    ):
        return None
    k = syms[0]
    if len(v.ops) == 2 and (k != 1 or (v.ops[0] in "<=") != (v.ops[1] in "<=")):
        return None
    lo, hi, lo_c, hi_c = -sympy.oo, sympy.oo, False, False
    for j, op in enumerate(v.ops):
        other = parts[j] if j + 1 == k else parts[j + 1]
        sym_on_left = j == k
        upper = (op in ("<", "<=")) == sym_on_left
        if upper:
            hi, hi_c = other, op.endswith("=")
        else:
            lo, lo_c = other, op.endswith("=")
    return Interval(lo, hi, lo_c, hi_c)


def _interval_eq(a: Interval, b: Interval, ctx: _Ctx) -> bool:
    for x, y, cx, cy in ((a.lo, b.lo, a.lo_closed, b.lo_closed), (a.hi, b.hi, a.hi_closed, b.hi_closed)):
        infinite = x.has(sympy.oo) or y.has(sympy.oo)
        if infinite:
            if x != y:
                return False
        elif cx != cy or not expr_equal(x, y, ctx):
            return False
    return True


def _set_like_eq(ref: Any, resp: Any, ctx: _Ctx) -> bool:
    def parts(v: Any) -> list | None:
        items = v.parts if isinstance(v, Union) else (v,)
        out = []
        for it in items:
            iv = _interval_of(it)
            if iv is None and not (isinstance(it, Seq) and it.kind == "set"):
                return None
            out.append(iv if iv is not None else it)
        return out

    pa, pb = parts(ref), parts(resp)
    if pa is None or pb is None or len(pa) != len(pb):
        return False
    unused = list(pb)
    for x in pa:
        for k, y in enumerate(unused):
            same = (
                _interval_eq(x, y, ctx)
                if isinstance(x, Interval) and isinstance(y, Interval)
                else isinstance(x, Seq) and isinstance(y, Seq) and _seq_eq(x, y, ctx)
            )
            if same:
                del unused[k]
                break
        else:
            return False
    return True


def _difference(rel: Rel) -> sympy.Expr | None:
    lhs, rhs = (_bare(p) for p in rel.parts)
    if not (isinstance(lhs, sympy.Expr) and isinstance(rhs, sympy.Expr)):
        return None
    return lhs - rhs


def _rel_eq(ref: Rel, resp: Rel, ctx: _Ctx) -> bool:
    if ref.ops == ("in",) or resp.ops == ("in",):
        sa, sb = _solved(ref), _solved(resp)
        if sa is not None and sb is not None:
            return sa[0] == sb[0] and equivalent(sa[1], sb[1], ctx)
        # `x \in [-2, 7]` against `-2 \le x \le 7`: the set against the interval the inequality describes
        va, vb = (sa[1] if sa is not None else ref), (sb[1] if sb is not None else resp)
        return any(isinstance(v, Rel) for v in (va, vb)) and _set_like_eq(va, vb, ctx)
    ia, ib = _interval_of(ref), _interval_of(resp)
    if ia is not None and ib is not None:
        return _interval_eq(ia, ib, ctx)
    if len(ref.ops) != 1 or len(resp.ops) != 1:
        return (
            len(ref.ops) == len(resp.ops)
            and ref.ops == resp.ops
            and all(equivalent(a, b, ctx) for a, b in zip(ref.parts, resp.parts, strict=True))
        )
    if ref.ops == ("=",) and resp.ops == ("=",):
        sa, sb = _solved(ref), _solved(resp)
        if sa is not None and sb is not None:
            if sa[0] == sb[0] and equivalent(sa[1], sb[1], ctx):
                return True
    da, db = _difference(ref), _difference(resp)
    if da is None or db is None:
        return False
    flip = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}
    oa, ob = ref.ops[0], resp.ops[0]
    if oa in flip and ob in flip:  # normalise to `d > 0` / `d >= 0`
        da, oa = (-da, flip[oa]) if oa in ("<", "<=") else (da, oa)
        db, ob = (-db, flip[ob]) if ob in ("<", "<=") else (db, ob)
    if oa != ob:
        return False
    symbols = sorted(da.free_symbols | db.free_symbols, key=lambda s: s.name)
    if not symbols:
        return False
    r = _probe(da, db, symbols, ctx, ratio=True)
    if r is None or abs(r) < 1e-12:
        return False
    return oa in ("=", "!=") or (abs(r.imag) < 1e-12 and r.real > 0)


# ---------------------------------------------------------------- text answers

_TEXT_CMD = re.compile(r"\\(?:text|textbf|textit|textrm|mathrm|mathbf|mbox|operatorname)\b")
_WORDY = re.compile(r"[A-Za-z][A-Za-z ]*[A-Za-z]|[A-Za-z]")


def _text_key(s: str) -> str:
    s = _TEXT_CMD.sub(" ", s)
    return " ".join("".join(c if c.isalnum() else " " for c in s.lower()).split())


def _is_text_reference(ref: str) -> bool:
    """`\\text{yes}`, `No solution`, `Tuesday`: words, not a product of variables."""
    key = _text_key(ref)
    if not key or not _WORDY.fullmatch(key) or "\\" in _TEXT_CMD.sub("", ref):
        return False
    return bool(_TEXT_CMD.search(ref)) or any(len(w) >= 4 for w in key.split()) or key in ("yes", "no")


def _canon(s: str) -> str:
    s = re.sub(r"\\(?:left|right|displaystyle)\b|\$", "", s).replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    return " ".join(s.split())


_LAYOUT = re.compile(r"\\(?:left|right|displaystyle|[,;:! ])|\$|\s")


def _math_text_key(s: str) -> str:
    """A reference our grammar does not read, as text: layout removed, every operator and letter kept (case too)."""
    return _LAYOUT.sub("", _canon(s))


def _reference_text(reference: Any) -> str:
    if isinstance(reference, bool) or not isinstance(reference, (str, int, float, Fraction)):
        raise ValueError(f"math reference must be a string or a number, got {type(reference).__name__}")
    if isinstance(reference, float):
        if math.isnan(reference):
            raise ValueError("math reference is NaN")
        return repr(reference) if math.isfinite(reference) else "\\infty" if reference > 0 else "-\\infty"
    return extract_reference(str(reference))


def _last_side(text: str) -> str | None:
    """The text after the last `=` outside braces and brackets (not part of `<=`, `>=`, `!=`), or None."""
    depth = 0
    for k in range(len(text) - 1, -1, -1):
        c = text[k]
        if c in ")]}":
            depth += 1
        elif c in "([{":
            depth -= 1
        elif c == "=" and depth == 0 and (k == 0 or text[k - 1] not in "<>!=") and text[k + 1 : k + 2] != "=":
            return text[k + 1 :].strip() or None
    return None


_PROSE_NUMBER = re.compile(r"(?<![\w.,^_])-?[0-9]+(?:[.,][0-9]+)*")
_MATH_SPAN = re.compile(r"\$[^$]*\$|\\\(.*?\\\)")
_WORD = re.compile(r"[A-Za-z]{2,}")
_HEDGE = re.compile(r"(?i)\b(?:or|either|maybe|perhaps|possibly)\b")
_ESCAPED = re.compile(r"\\[{}]")


def _prose_number(prose: str) -> str | None:
    """`not 10, it's 1,000.99m²`, `Jane started growing Sphere 3 hours ago`, `... of $f(x)$ is 19`: an answer
    written as a sentence that does not parse is the last number the sentence states outside math (the number a
    grader reads off the sentence: GSM8K's and math-verify's convention), units and currency dropped later. A
    sentence that hedges (`3 or 5`, `maybe 4`), gives a bound or a range (`at least 5`, `3 to 5`) or is cut off
    inside math (`is \\boxed{42`, an unclosed brace: the response was truncated) states no answer; a number it
    denies (`is not 42`, `3, not 4`) is not its answer."""
    if not prose or len(prose) > 2000 or _HEDGE.search(prose) or BOUND.search(prose):
        return None
    bare = _ESCAPED.sub("", prose)
    if bare.count("{") != bare.count("}"):
        return None  # `So the total is \\boxed{42`: cut off inside math (a truncated response), not a sentence
    prose = _MATH_SPAN.sub(" ", prose)
    if _WORD.search(prose) is None:
        return None  # `4 4/9%`: no sentence, an answer that does not parse
    for m in reversed(list(_PROSE_NUMBER.finditer(prose))):
        if not denied(prose, m.start()):
            return m.group()  # `The answer is 3, not 4.`: a number the sentence denies is not its answer
    return None


_BASED = re.compile(r"([0-9][0-9A-Za-z]*)_\{?([0-9]{1,2})\}?")
_DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _numeral(text: str) -> tuple[str, int] | None:
    """`1011_2`, `1011_{2}`, `2A_{16}`: (digits upper-cased, base) of a numeral written in a base 2-36, or None
    (`a_1`, `x_2` are variables: a numeral starts with a digit, and every digit must exist in its base)."""
    m = _BASED.fullmatch("".join(_canon(text).split()))
    if m is None or not 2 <= (base := int(m.group(2))) <= 36:
        return None
    digits = m.group(1).upper()
    return (digits.lstrip("0") or "0", base) if all(_DIGITS.index(c) < base for c in digits) else None


def _parse_response(ans: str) -> Any:
    """Parse an answer (a response's or a reference's): `\\lim_{x \\to 0} \\frac{\\sin x}{x} = 1`, `17 \\bmod 5 = 2`,
    `1 = \\zzz = x = 0`: when the whole does not parse but what follows its last `=` does, that last side is the
    answer (the left side is notation our grammar does not read; the chain's last side is what it concludes)."""
    try:
        return parse_answer(ans)
    except ParseError:
        if (tail := _last_side(ans)) is not None:
            with contextlib.suppress(ParseError):
                return parse_answer(tail)
        raise


class MathVerifier(Verifier):
    """Final-answer verifier for math; see the module docstring for the grading policy."""

    name = "math"

    def __init__(self, time_budget_s: float = TIME_BUDGET_S) -> None:
        if not time_budget_s > 0:
            raise ValueError(f"time_budget_s must be positive, got {time_budget_s!r}")
        self.time_budget_s = time_budget_s
        self.hard_limit_s = HARD_LIMIT_FACTOR * time_budget_s

    @staticmethod
    def clear_cache() -> None:
        """Forget parsed answers (cached: a reference repeats across a GRPO group) and sympy's own cache."""
        parse_answer.cache_clear()
        sympy.core.cache.clear_cache()

    def _verify(self, response: str, reference: Any) -> Verdict:
        """The whole call runs under a hard wall-time limit (`deadline`), in any thread: `timeout` past it."""
        ref_text = _reference_text(reference)
        if not isinstance(response, str):
            return Verdict("unparsed", 0.0, None, "response is not text")
        try:
            return call_with_deadline(lambda: self._judge(response, ref_text), self.hard_limit_s)
        except Deadline:
            return Verdict("timeout", 0.0, None, f"verification took longer than {self.hard_limit_s}s")

    def _judge(self, response: str, ref_text: str) -> Verdict:
        found = extract_answer(response)
        if found is None:
            return Verdict("unparsed", 0.0, None, "no answer found")
        ans = found.text
        if len(ans) > MAX_CHARS:
            status = "unparsed" if found.source == "last_line" else "incorrect"
            return Verdict(status, 0.0, ans[:200], f"answer longer than {MAX_CHARS} characters")
        if _canon(ans) == _canon(ref_text):
            return Verdict("correct", 1.0, ans, "same text as the reference")
        if (numeral := _numeral(ref_text)) is not None:  # `1011_2` = `1011_{2}` = `1011`; not 11, its value
            ans = _last_side(ans) or ans  # `n = 1011_2`
            got = _numeral(ans) or (_canon(ans).strip().upper().lstrip("0") or "0", numeral[1])
            ok = got == numeral
            return Verdict("correct" if ok else "incorrect", float(ok), ans, f"a numeral in base {numeral[1]}")
        if (numeral := _numeral(ans)) is not None and numeral[1] == 10:
            ans = numeral[0]  # `15_{10}` is 15
        a, b = _plain_number(ref_text), _plain_number(ans)
        if (a is None) != (b is None):  # `1,22` against 1.22: a decimal comma (see `_comma_decimal`)
            a, b = a or _plain_number(_comma_decimal(ref_text)), b or _plain_number(_comma_decimal(ans))
        if a is not None and b is not None:
            ulps = [u for u in (a[1], b[1]) if u is not None]
            ok = (
                a[0] == b[0]
                or same_to_six_places(a[0], b[0])
                or (
                    not (_terminating(a[0]) and _terminating(b[0]))
                    and decimal_match(a[0] - b[0], max(abs(a[0]), abs(b[0])), max(ulps) if ulps else None)
                )
            )
            return (
                Verdict("correct", 1.0, ans, "equal numbers")
                if ok
                else Verdict("incorrect", 0.0, ans, "different number")
            )
        if _is_text_reference(ref_text):
            ok = _text_key(ans) == _text_key(ref_text)
            return Verdict("correct" if ok else "incorrect", float(ok), ans, "text answer")
        try:
            ref = _parse_response(ref_text)  # `1 = \\zzz = x = 0`: an unreadable chain's last side, as for a response
        except ParseError:
            ok = _math_text_key(ans) == _math_text_key(ref_text) and bool(_math_text_key(ans))
            return Verdict("correct" if ok else "incorrect", float(ok), ans, "reference compared as text")
        try:
            got = _parse_response(ans)
        except ParseError as e:
            if (num := _prose_number(found.prose)) is not None and num != ans:
                return self._judge(num, ref_text)
            status = "unparsed" if found.source == "last_line" else "incorrect"
            return Verdict(status, 0.0, ans, f"answer does not parse: {e}"[:200])
        except (ArithmeticError, ValueError, TypeError, RecursionError, MemoryError) as e:
            return Verdict("incorrect", 0.0, ans, f"answer cannot be evaluated: {type(e).__name__}"[:200])
        ulps = [u for u in (ref.ulp, got.ulp) if u is not None]
        ctx = _Ctx(max(ulps) if ulps else None, self.time_budget_s)
        try:
            ok = equivalent(ref.value, got.value, ctx)
        except _Timeout:
            return Verdict("timeout", 0.0, ans, f"comparison took longer than {self.time_budget_s}s")
        except (ArithmeticError, ValueError, TypeError, RecursionError, MemoryError) as e:
            return Verdict("incorrect", 0.0, ans, f"answer cannot be compared: {type(e).__name__}"[:200])
        return Verdict("correct", 1.0, ans, "equivalent") if ok else Verdict("incorrect", 0.0, ans, "not equivalent")

    def verify_steps(self, response: str, reference: Any = None) -> list[StepScore]:
        """Score every written equality (`a = b`, `a = b = c`) of the response: 1.0 if it holds, 0.0 if not.

        Numeric sides are compared under the answer policy. With variables, a link counts only as an identity
        claim: `(x+1)^2 = x^2+2x+1` scores 1.0 and `(x+1)^2 = x^2+1` 0.0, while definitions and equations being
        solved (`x = 5`, `2x + 3 = 7`, `f(x) = x^2`) are not scored. A line is one step: 1.0 only if every link
        holds. Lines we cannot parse are skipped. `reference` is unused (steps are checked on their own).
        """
        if not isinstance(response, str):
            return []
        out: list[StepScore] = []
        deadline = time.perf_counter() + 5 * self.time_budget_s
        values: dict[tuple[int, int], Any] = {}

        def score_all() -> None:
            for chain in equality_chains(response):
                if time.perf_counter() > deadline:
                    break
                scored = _score_chain(response, chain.sides, values, self.time_budget_s)
                if scored is not None:
                    score, start, end = scored
                    start = chain.start if chain.continued else start
                    out.append(StepScore(start, end, score, response[start:end]))

        try:  # a hard bound too: one side can be slow to parse; the steps scored so far are kept
            call_with_deadline(score_all, 5 * self.time_budget_s + self.hard_limit_s)
        except Deadline:
            pass
        return out


_PROSE_WORD = re.compile(r"[A-Za-z]{2,}[,:.]?")
_DEFINITION = re.compile(r"\s*[A-Za-z](?:_\{?\w+\}?)?\s*(?:\(|\\left\()")
_FUNCTION_WORDS = frozenset(["sin", "cos", "tan", "cot", "sec", "csc", "ln", "log", "exp", "sqrt", "pi"])


def _parse_side(text: str, first: bool, last: bool) -> tuple[sympy.Expr, Fraction | None, int, int] | None:
    """Parse one side of a step -> (value, unit of its coarsest decimal, start, end) with offsets into `text`.

    Prose words are dropped before the first side and after the last (`So 2+3`, `5 apples`): whole words of two or
    more letters that are not function names; a side that still does not parse makes the step unscored.
    """
    a, b = 0, len(text)
    while first and (m := re.match(r"\s*(\S+)", text[a:b])) is not None and _prose(m.group(1)):
        a += m.end()
    while last and (m := re.search(r"(\S+)\s*$", text[a:b])) is not None and _prose(m.group(1)) and m.start() > 0:
        b = a + m.start()
    if not text[a:b].strip():
        return None
    try:
        p = parse_answer(text[a:b].strip())
    except (ParseError, ArithmeticError, ValueError, TypeError, RecursionError):
        return None
    v = _bare(p.value)
    if not isinstance(v, sympy.Expr):
        return None
    a += len(text[a:b]) - len(text[a:b].lstrip())
    b -= len(text[a:b]) - len(text[a:b].rstrip())
    return v, p.ulp, a, b


def _prose(word: str) -> bool:
    return _PROSE_WORD.fullmatch(word) is not None and word.rstrip(",:.").lower() not in _FUNCTION_WORDS


def _score_chain(text: str, sides: tuple, cache: dict, budget_s: float) -> tuple[float, int, int] | None:
    """(score, start, end) of one chain, or None when no link in it is a checkable claim."""
    parsed = []
    for k, (a, b) in enumerate(sides):
        key = (a, b, k == 0, k == len(sides) - 1)
        if key not in cache:
            cache[key] = _parse_side(text[a:b], k == 0, k == len(sides) - 1)
        if cache[key] is None:
            return None
        parsed.append((cache[key], text[a:b]))
    checked, ok = 0, True
    for ((x, dx, _, _), tx), ((y, dy, _, _), _ty) in zip(parsed, parsed[1:], strict=False):
        ctx = _Ctx(max(dx, dy) if dx is not None and dy is not None else dx or dy, budget_s)
        try:
            same = expr_equal(x, y, ctx)
        except (_Timeout, ArithmeticError, ValueError, TypeError, RecursionError):
            continue
        if not same and (x.free_symbols or y.free_symbols):
            if _lone_symbol(x) or _lone_symbol(y) or x.is_Number or y.is_Number or _DEFINITION.match(tx):
                continue  # a definition or an equation being solved, not an identity claim
        checked += 1
        ok = ok and same
    if checked == 0:
        return None
    return float(ok), sides[0][0] + parsed[0][0][2], sides[-1][0] + parsed[-1][0][3]
