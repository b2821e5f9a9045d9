"""Hostile model output against every verifier, each call under a wall-time bound.

Families (issue 14): power towers inside roots and floors, huge factorial products, exponents too large to compute,
quadratic-regex bait (thousands of unclosed tags, delimiters, phrases), case mappings that change a string's length,
and 100 MB responses (marked slow). Every call must return a verdict that is not `error` (model text never causes
our infrastructure status) nor `correct` (except where the reference is about any text: instruction constraints),
within PER_CALL_S. The bound is generous: it catches hangs (the cases here
ran for minutes before the fix), not speed, which benchmarks/verifiers.py measures.
"""

from __future__ import annotations

import time

import pytest

from rlvr.verifiers import get_verifier

from .test_fuzz_registry import PUZZLE_ENVS, REFERENCES, _reference  # the same references as the fuzz tests

PER_CALL_S = 10.0  # the math verifier stops itself at 2 s; the rest is slack for a loaded 2-core machine
HUGE_CALL_S = 120.0  # a 100 MB response: a few linear passes
HUGE_CALL_S_BY_NAME = {"math": 15.0}  # stops itself at 2 s; what remains is uninterruptible C calls of < 1 s each

TOWERS = [
    r"\boxed{(3^{49999}+1)^{\frac{1}{7}}}",
    r"\boxed{(3^{20000}+1)^{\frac{1}{7}}}",
    r"\boxed{\sqrt[7]{3^{99999}}}",
    r"\boxed{\lfloor e^{e^{e^{3}}} \rfloor}",
    r"\boxed{\lfloor \pi^{\pi^{\pi^{\pi}}} \rfloor}",
    r"\boxed{\lfloor e^{9999} \rfloor}",
    r"\boxed{\lceil 10^{10^{10}} \rceil}",
    r"\boxed{\lfloor 10^{100000}/7 \rfloor}",
    r"\boxed{2^{2^{2^{40}}}}",
    r"\boxed{(x+1)^{10^{9}} - (1+x)^{10^{9}}}",
    r"\boxed{(2x)^{100000}}",
    r"\boxed{2^{2^{40}} \cdot 2 + 4^{2^{39}}}",
    r"\boxed{\sin(10^{300}) + e^{e^{e^{e}}}}",
    r"\boxed{1e999999999}",  # the unit of its last digit, 10 ** 999999999, was once computed before any check
    r"The answer is 2.5e-99999999.",
]
FACTORIALS = [
    r"\boxed{" + r" \cdot ".join(["1000!"] * 60) + "}",
    r"\boxed{(1000!)^{1000}}",
    r"\boxed{\binom{1000}{500}^{100}}",
    r"\boxed{1000!!!}",
    r"\boxed{(10^{6})!}",
]
REGEX_BAIT = [
    "<answer>" * 16_000,
    "<answer>" * 16_000 + "</answer>",
    "$" * 100_000,
    "\\(" * 50_000,
    "\\boxed{" * 20_000 + "1",
    "The answer is " * 20_000,
    "answers " * 200_000,  # anchors of the answer phrase, none completing it
    "Final Answer: " * 20_000,
    " is " * 50_000,
    "1,000," * 30_000,
    "a " * 200_000 + "!",
    "```python\n" * 20_000,
    "(A) " * 50_000,
]
CASE_MAPPING = [
    "İ" * 1000 + " <answer>3</answer>",
    "İ <ANSWER>3</ANSWER> ẞ" * 1000,
    "ﬁ" * 5000 + " the answer is 3",
]
FAMILIES = {"towers": TOWERS, "factorials": FACTORIALS, "regex": REGEX_BAIT, "case": CASE_MAPPING}
NAMES = sorted(set(REFERENCES) | set(PUZZLE_ENVS))
MAY_PASS = {"instruction"}  # its constraints (>= 5 words, no commas) are about any text; bait can meet them


def _check(name: str, text: str, reference, bound_s: float) -> None:
    verifier = get_verifier(name)
    t = time.perf_counter()
    verdict = verifier.verify(text, reference)
    took = time.perf_counter() - t
    assert took < bound_s, (name, text[:60], took)
    forbidden = ("error",) if name in MAY_PASS else ("error", "correct")
    assert verdict.status not in forbidden, (name, text[:60], verdict)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("name", NAMES)
def test_hostile_family_bounded_never_error_never_correct(name, family):
    reference = _reference(name)
    if name == "math" and family == "case":
        reference = "4"  # the tags hold 3: a correct read of them must not be credited against 4
    for text in FAMILIES[family]:
        _check(name, text, reference, PER_CALL_S)


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("name", NAMES)
def test_100_mb_response(name):
    reference = _reference(name)
    text = ("So 12 + 7 = 19 and \\frac{1}{2} < x. " * 3_000_000)[: 100 * 2**20]
    _check(name, text, reference, HUGE_CALL_S_BY_NAME.get(name, HUGE_CALL_S))


def test_math_case_mapping_keeps_the_answer():
    """`İ` lower-cases to two characters: tag offsets taken from `text.lower()` read `2<` instead of 42."""
    v = get_verifier("math")
    assert v.verify("İ <answer>42</answer>", "42").status == "correct"
    assert v.verify("İİİ <ANSWER>42</ANSWER>", "42").status == "correct"
