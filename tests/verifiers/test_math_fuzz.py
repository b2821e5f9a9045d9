"""Hostile and random inputs: the math verifier never raises, never hangs, never reads files, and never says
"correct" to garbage. Wall-clock limits here are generous guards against hangs (seconds, not benchmarks)."""

from __future__ import annotations

import builtins
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rlvr.verifiers.math import MathVerifier
from rlvr.verifiers.math_extract import extract_answer
from rlvr.verifiers.math_parse import ParseError, parse_answer

V = MathVerifier()
HANG_S = 2.0  # far above the normal microseconds-to-milliseconds; only a hang or a quadratic blow-up trips it

HOSTILE = [
    r"\boxed{9^{9^{9^9}}}",
    r"\boxed{10^{10^{10}}}",
    r"\boxed{1/0}",
    r"\boxed{0^{-1}}",
    "{" * 10_000 + "5" + "}" * 10_000,
    r"\boxed{" + "{" * 10_000 + "5" + "}" * 10_000 + "}",
    r"\boxed{" + "(" * 10_000 + "5" + ")" * 10_000 + "}",
    r"\boxed{" + r"\sqrt{" * 3000 + "2" + "}" * 3000 + "}",
    r"\boxed{" + "2^" * 5000 + "2}",
    r"\boxed{" + "-" * 10_000 + "5}",
    "x" * 1_000_000,
    "a\n" * 500_000 + r"\boxed{5}",
    r"\boxed{5}" + " " * 1_000_000,
    "{" * 1_000_000,
    r"\boxed{" * 100_000,
    "<answer>" * 100_000,
    "$" * 1_000_000,
    r"\(" * 500_000,
    "= = = =\n" * 10_000,
    r"\boxed{5}" * 20_000,
    "\x00" * 1000 + r"\boxed{\x00}",
    r"\boxed{\input{/etc/passwd}}",
    r"\boxed{\include{/etc/shadow}}",
    r"<answer>__import__('os').system('touch /tmp/pwned')</answer>",
    r"\boxed{__import__('os')}",
    r"\boxed{e^{e^{e^{e^{10}}}}}",
    r"\boxed{\sin(10^{10^{3}})}",
    r"\boxed{(10^{1000})!}",
    r"\boxed{x^{10^{9}}}",
    r"\boxed{2^{2^{2^{2^{2^{2}}}}}}",
    "The answer is " + "1," * 100_000 + "1",
    r"\boxed{" + ",".join(["1"] * 2000) + "}",
    r"\boxed{\begin{pmatrix}" + "1&" * 1000 + r"1\end{pmatrix}}",
    r"\boxed{1.2e999999}",
    r"\boxed{" + "9" * 100_000 + "}",
    r"\boxed{x^{x^{x^{x^{x^{x^{x}}}}}}}",
    r"\boxed{(x+1)^{10000} - (x+1)^{10000}}",
    r"\boxed{\tan(\pi/2)}",
    "\uff15",  # fullwidth 5
    "\u0665",  # Arabic-Indic 5
    r"\boxed{5\text{" + "}" * 1000,
    "\ud800",  # lone surrogate
]
REFERENCES = ["5", "x", "(1, 2)", r"\frac{1}{2}", r"x \le 3", "10^{10^{10}}", r"\text{yes}"]


def test_hostile_inputs_fast_never_raise_never_read_files(monkeypatch):
    def no_open(*args, **kwargs):
        raise AssertionError(f"verifier tried to open a file: {args!r}")

    monkeypatch.setattr(builtins, "open", no_open)
    for response in HOSTILE:
        for ref in REFERENCES:
            t = time.perf_counter()
            verdict = V.verify(response, ref)
            elapsed = time.perf_counter() - t
            assert elapsed < HANG_S, (response[:80], ref, elapsed)
            assert verdict.status in ("correct", "incorrect", "unparsed", "timeout"), (response[:80], ref, verdict)
            if verdict.status == "correct":  # only where the response really states the reference
                assert (response, ref) in {(r"\boxed{10^{10^{10}}}", "10^{10^{10}}")} or ref == "5", (
                    response[:80],
                    ref,
                )


@pytest.mark.parametrize("response", [h for h in HOSTILE if "5" not in h[:20] or "boxed{5}" not in h])
def test_hostile_inputs_are_never_correct_for_a_different_reference(response):
    assert V.verify(response, "7").status != "correct"


def test_deep_nesting_is_an_answer_we_refuse_not_a_crash():
    with pytest.raises(ParseError):
        parse_answer("(" * 10_000 + "1" + ")" * 10_000)
    assert V.verify(r"\boxed{" + "{" * 10_000 + "5" + "}" * 10_000 + "}", "5").status == "incorrect"


def test_extraction_reads_the_whole_response():
    response = r"\boxed{5}" + "\nfiller" * 200_000
    assert extract_answer(response).text == "5"
    assert V.verify(r"The answer is \boxed{3}" + " pad" * 300_000 + r" no wait \boxed{4}", "4").correct


GARBAGE_ALPHABET = st.sampled_from(
    list("abxyz ()[]{}\\^_+-*/=<>,.;:!?|&%$#'\"\n\t") + ["\\frac", "\\boxed{", "}", "\\sqrt"]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(GARBAGE_ALPHABET, max_size=60).map("".join))
def test_digit_free_garbage_is_never_correct_for_a_number(response):
    t = time.perf_counter()
    verdict = V.verify(response, "7")
    assert time.perf_counter() - t < HANG_S
    assert verdict.status in ("incorrect", "unparsed", "timeout"), (response, verdict)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200), st.sampled_from(REFERENCES))
def test_random_text_never_raises(response, ref):
    t = time.perf_counter()
    verdict = V.verify(response, ref)
    assert time.perf_counter() - t < HANG_S
    assert verdict.status != "error", (response, ref, verdict)


@settings(max_examples=200, deadline=None)
@given(st.integers(-(10**6), 10**6), st.integers(1, 999))
def test_numbers_round_trip(n, d):
    assert V.verify(rf"\boxed{{\frac{{{n}}}{{{d}}}}}", f"{n}/{d}").correct
    assert V.verify(rf"\boxed{{\frac{{{n + 1}}}{{{d}}}}}", f"{n}/{d}").status == "incorrect"
    assert V.verify(rf"\boxed{{{n}}}, \boxed{{{n}}}", str(n)).status == "incorrect"  # a repeated answer is a list


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(-50, 50), min_size=2, max_size=5, unique=True), st.randoms(use_true_random=False))
def test_solution_lists_any_order_but_no_extra_or_missing(values, rnd):
    ref = ", ".join(map(str, values))
    shuffled = list(values)
    rnd.shuffle(shuffled)
    assert V.verify(r"\boxed{" + ", ".join(f"x={v}" for v in shuffled) + "}", ref).correct
    assert not V.verify(r"\boxed{" + ", ".join(map(str, shuffled[:-1])) + "}", ref).correct
    assert not V.verify(r"\boxed{" + ", ".join(map(str, [*shuffled, 99])) + "}", ref).correct


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(1, 9), min_size=1, max_size=3))
def test_hedges_never_pay(extra):
    for response in (
        r"\boxed{0} or \boxed{" + "} or \\boxed{".join(map(str, extra)) + "}",
        "0 or " + " or ".join(map(str, extra)),
    ):
        for ref in {"0", *map(str, extra)}:
            assert not V.verify(response, ref).correct, (response, ref)
