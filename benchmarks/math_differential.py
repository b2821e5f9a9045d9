"""Differential test of our math verifier against math-verify on a large generated corpus.

Pairs (reference, response) come from seeded generators of the answer shapes models write (integers with every
separator style, fractions and their decimals at 2-10 places, percents, surds, polynomials factored and expanded,
intervals and inequalities, sets, tuples), each answer wrapped in a public output format (MATH, GSM8K, AIME,
OlympiadBench, R1), plus every cross pairing of the external corpus's hand-written items. No labels: the question is
where the two verifiers disagree on "is it correct", and why. Each disagreement is put in the first category of
`DECISIONS` whose rule matches it: a documented convention of ours, tested in tests/verifiers/ (the test is named),
or a known math-verify limitation. What no rule explains is listed as `unexplained`: a bug of ours to fix or a new
decision to write down.

    python benchmarks/math_differential.py [--n 2000] [--seed 0] [--out benchmarks/results/math_differential.json]

math-verify runs in the main thread (its timeouts use SIGALRM); ours runs in the same process, same pairs.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from collections import Counter, defaultdict
from fractions import Fraction
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks"), str(ROOT / "benchmarks" / "data")]

from common import machine_info  # noqa: E402
from make_math_external import FORMATS, ITEMS, WORK  # noqa: E402

from rlvr.verifiers import get_verifier  # noqa: E402


def _frac(p: int, q: int) -> str:
    return f"\\frac{{{p}}}{{{q}}}" if p >= 0 else f"-\\frac{{{-p}}}{{{q}}}"


def gen_integer(rng: random.Random) -> tuple[str, list[str]]:
    n = rng.choice([rng.randint(0, 99), rng.randint(100, 9999), rng.randint(10**4, 10**7), rng.randint(10**9, 10**13)])
    s, grouped = str(n), f"{n:,}"
    forms = [s, grouped, grouped.replace(",", "\\,"), grouped.replace(",", "{,}"), grouped.replace(",", " "),
             f"\\${grouped}", f"{s}.0", f"{s}.00", f"{s} \\text{{ dollars}}", str(n + 1), str(n - 1), str(10 * n),
             f"{s}.5", f"{n / 10 ** (len(s) - 1):.3f} \\times 10^{{{len(s) - 1}}}", f"{s}\\%", f"-{s}"]  # fmt: skip
    return s, rng.sample(forms, 6)


def gen_fraction(rng: random.Random) -> tuple[str, list[str]]:
    q = rng.choice([3, 6, 7, 9, 11, 12, 4, 8, 5, 20])
    p = rng.choice([k for k in range(1, 3 * q) if Fraction(k, q).denominator == q] or [1])
    p = -p if rng.random() < 0.2 else p
    v = Fraction(p, q)
    forms = [_frac(p, q), f"{p}/{q}", _frac(2 * p, 2 * q), f"\\dfrac{{{p}}}{{{q}}}", _frac(q, p) if p else "0",
             _frac(p + 1, q), f"{float(v) * 100:.2f}\\%"]  # fmt: skip
    forms += [f"{float(v):.{k}f}" for k in (2, 3, 4, 6, 8, 10)]
    return _frac(p, q), rng.sample(forms, 6)


def gen_surd(rng: random.Random) -> tuple[str, list[str]]:
    a, b = rng.randint(2, 6), rng.choice([2, 3, 5, 6, 7])
    val = a * b**0.5
    forms = [f"\\sqrt{{{a * a * b}}}", f"{a}\\sqrt {b}", f"\\sqrt{{{b}}} \\cdot {a}", f"{val:.2f}", f"{val:.6f}",
             f"{val:.10f}", f"{b}\\sqrt{{{a}}}", f"\\sqrt{{{a * b}}}", f"{a + 1}\\sqrt{{{b}}}"]  # fmt: skip
    return f"{a}\\sqrt{{{b}}}", rng.sample(forms, 5)


def gen_polynomial(rng: random.Random) -> tuple[str, list[str]]:
    a, b = rng.randint(-5, 5), rng.randint(-5, 5)
    v = rng.choice("xtn")

    def lin(c: int) -> str:
        return f"{v}" if c == 0 else f"{v}+{c}" if c > 0 else f"{v}-{-c}"

    def poly(s: int, p: int) -> str:
        out = f"{v}^2"
        out += "" if s == 0 else f"+{s}{v}" if s > 0 else f"-{-s}{v}"
        return out + ("" if p == 0 else f"+{p}" if p > 0 else f"-{-p}")

    forms = [f"({lin(b)})({lin(a)})", poly(a + b, a * b), poly(a + b, -a * b), poly(-a - b, a * b),
             f"({lin(a)})({lin(-b)})", f"{v}^2+{a * b}", f"y = {poly(a + b, a * b)}"]  # fmt: skip
    return f"({lin(a)})({lin(b)})", rng.sample(forms, 5)


def gen_interval(rng: random.Random) -> tuple[str, list[str]]:
    lo, hi = sorted(rng.sample(range(-9, 10), 2))
    lc, hc = rng.random() < 0.5, rng.random() < 0.5
    br = ("[" if lc else "(", "]" if hc else ")")
    le, he = ("\\le" if lc else "<"), ("\\le" if hc else "<")
    ge_lo, ge_hi = ("\\ge" if lc else ">"), ("\\ge" if hc else ">")
    flip = ("(" if lc else "[", ")" if hc else "]")
    forms = [f"{br[0]}{lo},{hi}{br[1]}", f"{lo} {le} x {he} {hi}", f"x \\in {br[0]}{lo}, {hi}{br[1]}",
             f"{flip[0]}{lo},{hi}{flip[1]}", f"{br[0]}{lo},{hi + 1}{br[1]}", f"{hi} {ge_hi} x {ge_lo} {lo}",
             f"{br[0]}{lo}, {hi}{br[1]} \\cup (20, \\infty)"]  # fmt: skip
    return f"{br[0]}{lo}, {hi}{br[1]}", rng.sample(forms, 5)


def gen_set(rng: random.Random) -> tuple[str, list[str]]:
    xs = rng.sample(range(-9, 20), rng.randint(2, 4))
    shuffled = rng.sample(xs, len(xs))
    forms = [", ".join(map(str, shuffled)), "\\{" + ", ".join(map(str, shuffled)) + "\\}", ", ".join(map(str, xs[:-1])),
             ", ".join(map(str, xs + [xs[0] + 100])), " \\text{ or } ".join(f"x = {x}" for x in shuffled),
             ", ".join(map(str, xs)) + ", " + str(xs[0]), "(" + ", ".join(map(str, xs)) + ")"]  # fmt: skip
    return ", ".join(map(str, xs)), rng.sample(forms, 5)


def gen_tuple(rng: random.Random) -> tuple[str, list[str]]:
    a, b = rng.sample(range(-9, 10), 2)
    forms = [f"({a},{b})", f"\\left({a}, {b}\\right)", f"({b}, {a})", f"({a}, {-b})", f"[{a}, {b}]",
             f"\\begin{{pmatrix}} {a} \\\\ {b} \\end{{pmatrix}}", f"x = {a}, y = {b}"]  # fmt: skip
    return f"({a}, {b})", rng.sample(forms, 4)


def gen_percent(rng: random.Random) -> tuple[str, list[str]]:
    p = rng.choice([5, 10, 12.5, 20, 25, 30, 40, 50, 60, 75, 80, 90, 33])
    s = f"{p:g}"
    forms = [
        f"{s}\\%",
        s,
        f"{s} percent",
        f"{p / 100:g}",
        f"{s}%",
        f"{p / 100:g}\\%",
        f"{p * 10:g}\\%",
        f"{p + 1:g}\\%",
    ]
    return f"{s}\\%", rng.sample(forms, 5)


GENERATORS = [gen_integer, gen_fraction, gen_surd, gen_polynomial, gen_interval, gen_set, gen_tuple, gen_percent]


def pairs(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    fmts = sorted(FORMATS)
    while len(out) < n:
        gen = GENERATORS[len(out) % len(GENERATORS)]
        ref, forms = gen(rng)
        for form in forms:
            out.append({"reference": ref, "answer": form, "generator": gen.__name__[4:]})
    forms_all = [f for _, same, wrong, _ in ITEMS for f in same + wrong]
    for ref, _, _, _ in ITEMS:  # cross pairings: another item's answer against this reference
        for form in rng.sample(forms_all, 8):
            out.append({"reference": ref, "answer": form, "generator": "cross"})
    for k, p in enumerate(out):
        p["format"] = fmts[k % len(fmts)]
        p["response"] = FORMATS[p["format"]].format(a=p["answer"], w=WORK[k % len(WORK)])
    return out


# (name, why, the test that pins our side, rule on the case: reference, answer, format, ours, theirs)
def _has(pattern: str, text: str) -> bool:
    return re.search(pattern, text) is not None


DECISIONS: list[tuple[str, str, str, Any]] = [
    ("math_verify_plain_text", "math-verify limitation: in a plain `The answer is X.` line it reads an earlier $...$ "
     "expression instead, LaTeX outside `$` not at all, or the final period as a decimal point (`22/9.` = 22/9.0)",
     "test_math_conventions.py::test_sentence_extraction", lambda c: c["format"] == "answer_is" and c["ours"]),
    ("percent_forms", "a percent equals its value and its fraction, both ways (`-165.00%` = -33/20, `12.5` = `12.5%`); "
     "`0.25%` is not `25%` (math-verify accepts it)",
     "test_math_conventions.py::test_accepted, test_rejected[0.5\\%-50\\%]",
     lambda c: "%" in c["reference"] or "%" in c["answer"] or "percent" in c["answer"]),
    ("decimal_precision", "a decimal stands for a value no decimal writes exactly only with >= 6 places or 7 "
     "significant digits, rounded or truncated (math-verify rounds both sides to 6 places)",
     "test_math_conventions.py::test_accepted[0.333333-\\frac13], test_rejected[3.14159-\\pi]",
     lambda c: _has(r"\d\.\d{2,}", c["answer"])),
    ("thousands_and_decimal_comma", "`,` before 3-digit groups outside brackets, `\\,` `{,}` `,\\!` and a single space "
     "are thousands separators; `0,ddd` and `dddd,dd` are decimal commas; other commas separate answers",
     "test_math_conventions.py::test_accepted[1 000-1000]", lambda c: _has(r"\d(?:,|\\,|\{,\}| )\d{3}", c["answer"])),
    ("interval_vs_inequality", "an inequality in one variable equals the interval it describes, `x \\in I` equals I",
     "test_math_conventions.py::test_accepted[x \\in [-2,7]--2 \\le x \\le 7]",
     lambda c: c["ours"] and _has(r"<|>|\\le|\\ge|\\in", c["answer"])),
    ("point_vs_interval", "`(a, b)` is a point or an open interval; a column vector equals a tuple; `x = 1, y = 2` is "
     "the point (1, 2)", "test_math.py::test_corpus_agreement (interval, matrix), test_math_conventions.py",
     lambda c: c["reference"].startswith(("(", "["))
     and c["answer"].startswith(("(", "[", "\\left", "\\begin", "x ="))),
    ("list_vs_set", "several answers match in any order; a list never matches a single value (a hedge); repeats do "
     "not count in sets", "test_math.py::test_corpus_agreement (multiple, set)",
     lambda c: "," in c["reference"] or "," in c["answer"] or "\\text{ or }" in c["answer"]),
    ("equation_forms", "`y = f(x)` equals `f(x)`; `x = v` equals v; a chain of equalities is its last side",
     "test_math_conventions.py::test_accepted[x = 5+5+1 = 11-11]", lambda c: "=" in c["answer"] + c["reference"]),
    ("units_and_currency", "units, currency signs and unit words are ignored when only one side has them",
     "test_math_conventions.py::test_accepted[1,000.99€-1000.99]",
     lambda c: _has(r"\\\$|\\text|dollars|units|€", c["answer"])),
    ("exact_decimals", "trailing zeros (`5.0`) are exact; no tolerance between exactly written values",
     "test_math_conventions.py::test_rejected[1234567890.5-1234567891]",
     lambda c: _has(r"\d\.\d", c["answer"]) or "\\times 10" in c["answer"]),
    ("text_reference", "a reference our grammar does not read is compared as text with its operators",
     "test_math_conventions.py::test_rejected[\\vec{a} + \\vec{b}-\\vec{a} - \\vec{b}]",
     lambda c: "\\vec" in c["reference"] or "\\text" in c["reference"]),
]  # fmt: skip


def classify(case: dict[str, Any]) -> str:
    for name, _, _, rule in DECISIONS:
        if rule(case):
            return name
    return "unexplained"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=2000, help="generated pairs (the cross pairings come on top)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "math_differential.json")
    args = ap.parse_args(argv)
    if args.n < 1:
        raise SystemExit("--n must be at least 1")
    from math_verify import parse, verify

    ours_v = get_verifier("math")
    cases = pairs(args.n, args.seed)
    t_ours = t_theirs = 0.0
    worst_ours = worst_theirs = 0.0
    for c in cases:
        t = time.perf_counter()
        c["ours"] = ours_v.verify(c["response"], c["reference"]).status == "correct"
        d = time.perf_counter() - t
        t_ours, worst_ours = t_ours + d, max(worst_ours, d)
        t = time.perf_counter()
        try:
            gold = parse("\\boxed{" + c["reference"] + "}")
            c["theirs"] = bool(verify(gold, parse(c["response"])))
        except Exception:  # noqa: BLE001 - math-verify's own failure counts as "not correct"
            c["theirs"] = False
        d = time.perf_counter() - t
        t_theirs, worst_theirs = t_theirs + d, max(worst_theirs, d)
    diffs = [c for c in cases if c["ours"] != c["theirs"]]
    by_cat: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for c in diffs:
        by_cat[classify(c)].append(c)
    result = {
        "benchmark": "math_differential",
        "machine": machine_info(("sympy", "math-verify")),
        "note": "machine shared with other jobs; times are indicative",
        "pairs": len(cases),
        "agreement": 1 - len(diffs) / len(cases),
        "disagreements": len(diffs),
        "by_generator": dict(Counter(c["generator"] for c in diffs)),
        "ours_items_per_s": len(cases) / t_ours,
        "math_verify_items_per_s": len(cases) / t_theirs,
        "worst_ms": {"ours": 1e3 * worst_ours, "math_verify": 1e3 * worst_theirs},
        "decisions": {name: {"why": why, "test": test} for name, why, test, _ in DECISIONS},
        "categories": {
            cat: {
                "count": len(cs),
                "ours_correct": sum(c["ours"] for c in cs),
                "examples": [{k: c[k] for k in ("reference", "answer", "ours", "theirs")} for c in cs[:12]],
            }
            for cat, cs in sorted(by_cat.items())
        },  # fmt: skip
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{len(cases)} pairs, agreement {result['agreement']:.3f}, {len(diffs)} disagreements")
    for cat, v in result["categories"].items():
        print(f"  {cat}: {v['count']} (ours says correct in {v['ours_correct']})")
    print(f"throughput: ours {result['ours_items_per_s']:.0f}/s, math-verify {result['math_verify_items_per_s']:.1f}/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
