"""The math verifier's documented conventions, each tested on both sides, and the time bound on every call.

Each decision (decimal comma vs list, tolerance for integers, percent both ways, ...) is written in the docstrings of
rlvr/verifiers/math.py / math_parse.py and in README's Verifiers section; the pairs below pin both sides of it.
"""

from __future__ import annotations

import threading
import time

import pytest

from rlvr.verifiers.deadline import Deadline, call_with_deadline
from rlvr.verifiers.math import MathVerifier
from rlvr.verifiers.math_extract import extract_answer
from rlvr.verifiers.math_parse import BigPower, Seq, parse_answer

V = MathVerifier()


def status(answer: str, reference) -> str:
    return V.verify(answer if answer.startswith(("Final", "The", "<")) else f"\\boxed{{{answer}}}", reference).status


CORRECT = [
    # thousands separators (outside brackets, groups of exactly three digits)
    ("1,000", "1000"), (r"11,\! 111,\! 100", "11111100"), (r"\$16,\!386.20", "16386.2"), ("1 000", "1000"),
    (r"1\,000.99", "1000.99"), ("1{,}000", "1000"),
    # decimal comma: `0,` and 3+ digits, or 4+ digits then 1-2 digits, the whole answer one number; against a single
    # number any comma not before exactly three digits (a list never equals one number)
    ("0,111", "0.111"), ("1000,99", "1000.99"), ("-0,125", "-0.125"), ("0,1", "0, 1"),
    ("1,5", "1.5"), ("0,5", "0.5"), ("1.22", "1,22"), ("12,5", "12.5"),
    # percent both ways
    (r"50\%", "0.5"), ("0.5", r"50\%"), ("50", r"50\%"), ("28 pct", r"28\%"), ("28 percent", r"28\%"),
    (r"\frac{3}{4}", r"75\%"),
    # currency and units after the number (ignored when only one side has one)
    ("1,000.99€", "1000.99"), ("1,000.99m²", "1000.99"), ("12 m", "12"), (r"\$5", "5"), ("5 USD", "5"),
    # chained equalities: the last side is the answer (a wrong intermediate step is the working's fault)
    ("x = 5+5+1 = 11", "11"), ("5+5+1 = 11", "11"), ("y = 2 \\cdot 3 = 6", "y = 6"), ("x = 5+5+2 = 11", "11"),
    ("3 = 5", "5"),
    # intervals and inequalities, both directions; decimals vs fractions at endpoints
    (r"x \in [-2,7]", r"-2 \le x \le 7"), (r"-2 \le x \le 7", r"x \in [-2,7]"),
    (r"(0.6, \frac83]", r"(\frac35, \frac83]"),
    # matrices inside an expression
    (r"\begin{pmatrix}1\\2\end{pmatrix} + \begin{pmatrix}3\\4\end{pmatrix}", r"\begin{pmatrix}4\\6\end{pmatrix}"),
    (r"2\begin{pmatrix}1 & 2\end{pmatrix}", r"\begin{pmatrix}2 & 4\end{pmatrix}"),
    (r"\begin{pmatrix}1&0\\0&2\end{pmatrix}\begin{pmatrix}3\\4\end{pmatrix}", r"\begin{pmatrix}3\\8\end{pmatrix}"),
    # big exponents compared structurally
    ("(x+1)^{100000}", "(1+x)^{100000}"), ("2^{2^{40}}", "4^{2^{39}}"), ("-8^{2^{40}}", "-2^{3 \\cdot 2^{40}}"),
    # decimals for values no decimal writes exactly: rounded or truncated, >= 6 places or 7 significant digits
    ("0.333333", r"\frac13"), ("3.141593", r"\pi"), ("0.6666666", r"\frac23"), ("333333.3333", r"\frac{1000000}{3}"),
    # the answer in a sentence; function definitions
    ("Final Answer: The largest $n$ is 34.", "34"), ("The volume of the box is 12.", "12"), ("2x", "f(x) = 2x"),
    ("Final answer: 12 is the smallest.", "12"), (r"Final answer: \frac{1}{2} is the probability.", r"\frac12"),
    ("İ <answer>42</answer>", "42"),
    # a point written as equations (coordinates in alphabetical order), mixed numbers, the real line, number words
    ("x=1, y=2", "(1,2)"), ("y = 2 \\text{ and } x = 1", "(1, 2)"), ("(2,3)", "a=2, b=3"), (r"2\frac14", r"\frac94"),
    (r"\mathbb{R}", r"(-\infty, \infty)"), ("The answer is five.", "5"), ("Twenty-one", "21"),
    ("The answer is $x=2$ and $x=3$.", "2, 3"), ("(a, b) = (1, 2)", "(1,2)"),
    (r"x < 2 \text{ or } x > 3", r"(-\infty, 2) \cup (3, \infty)"),
    (r"x \in (-\infty, 2) \cup (3, \infty)", "x<2 or x>3"),
]  # fmt: skip
INCORRECT = [
    # the tolerance never applies between values a decimal writes exactly (integers included)
    ("1099511627000.0", "1099511627776"), (r"1.099511628 \times 10^{12}", "1099511627776"),
    ("1234567890.5", "1234567891"), ("0.50001", "0.5"),
    # too few digits for a value no decimal writes exactly
    ("3.14159", r"\pi"), ("0.333", r"\frac13"), ("2.6667", r"\frac83"), ("(0.6, 2.6667]", r"(\frac35, \frac83]"),
    # a reference the grammar does not read is compared as text with its operators
    (r"\vec{a} + \vec{b}", r"\vec{a} - \vec{b}"), (r"\sum_{k=1}^{n} k^2 + 1", r"\sum_{k=1}^{n} k^2 - 1"),
    # ambiguous commas: `1000,123` is no decimal, `1, 000` no number; `1,5` against one number is 1.5, not 1 or 5
    ("1000,123", "1000.123"), ("1, 000", "1000"), ("1,5", "1"), ("1,5", "5"), ("1,23", "1.22"), ("1,220", "1.22"),
    # percent: a different number is still different
    (r"0.5\%", r"50\%"), ("5", r"50\%"),
    # a chain answers its last side only: an earlier side is not the answer
    ("x = 5+5+2 = 12 = 11", "12"), ("3 = 5", "3"),
    # single-letter units only when the reference has no variables; other letters are variables
    ("12x", "12"), ("12 m", "12 x"),
    # intervals: closedness and endpoints matter in both forms
    (r"x \in (-2,7]", r"-2 \le x \le 7"), (r"-2 < x \le 7", r"x \in [-2,7]"),
    # big exponents: different powers
    ("2^{2^{40}}", "2^{2^{39}}"), ("(x+1)^{100000}", "(x+1)^{99999}"),
    # matrices: wrong arithmetic
    (r"\begin{pmatrix}1\\2\end{pmatrix} + \begin{pmatrix}3\\4\end{pmatrix}", r"\begin{pmatrix}4\\5\end{pmatrix}"),
    # hedges
    (r"3 \text{ or } 5", "5"), ("Final Answer: The answer is 3 or 5.", "5"), ("The answer is $x=2$ and $x=3$.", "2"),
    # not a point: two values of one variable; coordinates keep their order
    ("x=2, x=1", "(1,2)"), ("(2,1)", "x=1, y=2"), ("one", "2"), ("none", "0"), ("(a, b) = (2, 1)", "(1, 2)"),
    # "and" between inequalities is an intersection, never read as a union
    (r"x < 2 \text{ and } x > 3", r"(-\infty, 2) \cup (3, \infty)"),
    ("x < 2 or y > 3", r"(-\infty, 2) \cup (3, \infty)"),
]  # fmt: skip


@pytest.mark.parametrize("answer,reference", CORRECT)
def test_accepted(answer, reference):
    assert status(answer, reference) == "correct"


@pytest.mark.parametrize("answer,reference", INCORRECT)
def test_rejected(answer, reference):
    assert status(answer, reference) == "incorrect"


def test_references_that_are_not_numbers():
    assert V.verify(r"\boxed{a n^2}", float("nan")).status == "error"  # a NaN reference is our error, not a match
    assert V.verify(r"\boxed{\infty}", float("inf")).status == "correct"
    assert V.verify(r"\boxed{5}", float("inf")).status == "incorrect"


def test_parsed_values():
    assert parse_answer("0,111").value == parse_answer("0.111").value
    assert parse_answer("1,5").value == Seq("list", (1, 5))
    assert parse_answer("4^{2^{39}}").value == BigPower(2, 2**40)
    assert parse_answer("2.50").ulp == parse_answer("0.01").ulp  # the unit of the last written digit
    assert parse_answer("1.2e3").ulp == 100


def test_sentence_extraction():
    assert extract_answer("Final Answer: The largest $n$ is 34.").text == "34"
    assert extract_answer("The final answer is $34$. I hope it is correct.").text == "34"
    assert extract_answer(r"The answer is $\frac{1}{2}$, which is the probability.").text == r"\frac{1}{2}"


# ---------------------------------------------------------------- time bound


@pytest.mark.parametrize(
    "answer",
    [r"(3^{49999}+1)^{\frac{1}{7}}", r"\lfloor e^{e^{e^{3}}} \rfloor", r"\lfloor \pi^{\pi^{\pi^{\pi}}} \rfloor",
     r"\lfloor e^{9999} \rfloor", r"3^{20000}", r"(1000!)^{1000}"],
)  # fmt: skip
def test_hostile_answers_are_incorrect_not_error(answer):
    """These ran for minutes (or raised Python's int-digit ValueError: an `error`) before issue 14."""
    assert V.verify(f"\\boxed{{{answer}}}", "3").status in ("incorrect", "timeout")


def _spin() -> None:
    while True:
        pass


def test_deadline_interrupts_a_busy_call_and_does_not_leak():
    t = time.perf_counter()
    with pytest.raises(Deadline):
        call_with_deadline(_spin, 0.2)
    assert time.perf_counter() - t < 5
    assert call_with_deadline(lambda: 42, 0.1) == 42
    time.sleep(0.3)  # a deadline disarmed in time never fires later


def test_deadline_works_outside_the_main_thread():
    caught = []

    def worker():
        try:
            call_with_deadline(_spin, 0.2)
        except Deadline:
            caught.append(True)

    th = threading.Thread(target=worker)
    th.start()
    th.join(10)
    assert caught == [True]


def test_verify_is_bounded_in_process(monkeypatch):
    """Whatever runs too long inside a verification (here a stand-in that spins) ends as `timeout`, in any thread."""
    v = MathVerifier(time_budget_s=0.1)
    monkeypatch.setattr(v, "_judge", lambda response, ref: _spin())
    out = []
    th = threading.Thread(target=lambda: out.append(v.verify(r"\boxed{1}", "1")))
    th.start()
    th.join(10)
    assert out and out[0].status == "timeout"
    assert v.verify(r"\boxed{1}", "1").status == "timeout"


def test_time_budget_must_be_positive():
    with pytest.raises(ValueError, match="time_budget_s"):
        MathVerifier(time_budget_s=0)
