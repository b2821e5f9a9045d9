"""Silent wrong verdicts found by a bug hunt on realistic model outputs; each case failed on the code before its fix.

Reward hacking starts from a false `correct`, so every rule here is pinned on both sides: the wrong answer is not
credited, and the right one written the same way still is.
"""

from __future__ import annotations

import pytest

from rlvr.verifiers.math import MathVerifier

V = MathVerifier()


@pytest.mark.parametrize(
    "response, reference",
    [
        # a response cut off by the token limit inside a box or a fraction: the number read so far is not an answer
        (r"So the total is \boxed{42", "42"),
        (r"The number of ways is \boxed{12", "12"),
        (r"Therefore the answer is \boxed{\frac{12", "12"),
        (r"So the answer is \frac{3}{4", "4"),
        (r"Thus we get $x = \frac{1}{2", "2"),
    ],
)
def test_truncated_math_is_no_answer(response, reference):
    assert V.verify(response, reference).status != "correct"


@pytest.mark.parametrize(
    "response, reference, expected",
    [
        ("The answer is not 42.", "42", "incorrect"),
        ("Final answer: definitely not 42", "42", "incorrect"),
        ("The answer is 3, not 4.", "4", "incorrect"),
        ("The answer is 3, not 4.", "3", "correct"),
        ("The answer is: Janet doesn't make 18 dollars, she makes 16.", "18", "incorrect"),
        ("The answer is: Janet doesn't make 18 dollars, she makes 16.", "16", "correct"),
        ("Final Answer: not 10, it's 1,000.99m²", "1000.99", "correct"),
        ("The answer is: Janet makes $18 every day.", "18", "correct"),
    ],
)
def test_a_number_the_answer_sentence_denies_is_not_its_answer(response, reference, expected):
    assert V.verify(response, reference).status == expected


@pytest.mark.parametrize(
    "response, reference, expected",
    [
        ("<think>Maybe \\boxed{42}?</think>\n\nThe answer is 41.", "42", "incorrect"),
        ("<think>Maybe \\boxed{42}?</think>\n\nThe answer is 41.", "41", "correct"),
        ("<think>So \\boxed{42}.</think>\n\nI am not sure.", "42", "unparsed"),
        ("<think>So \\boxed{42}.</think>", "42", "unparsed"),
        ("<think>So 41.</think>\n\n\\boxed{42}", "42", "correct"),
        ("<think>first</think> draft \\boxed{1} <THINK>again</THINK> \\boxed{2}", "2", "correct"),
    ],
)
def test_only_what_follows_the_reasoning_is_the_answer(response, reference, expected):
    assert V.verify(response, reference).status == expected


@pytest.mark.parametrize(
    "response, reference, expected",
    [
        ("The answer is between 40 and 44.", "44", "incorrect"),
        ("The answer is at least 5 apples.", "5", "incorrect"),
        ("The answer is more than 5 apples.", "5", "incorrect"),
        ("Final Answer: Jane has no more than 5 apples.", "5", "incorrect"),
        ("Final Answer: Jane has 3 to 5 apples.", "5", "incorrect"),
        ("Final Answer: Jane has 3-5 apples.", "5", "incorrect"),
        ("Final Answer: Jane has 5+ apples.", "5", "incorrect"),
        # a value stated in a sentence is still read
        ("Final Answer: Jane has 5 apples.", "5", "correct"),
        ("The answer is approximately 5 apples.", "5", "correct"),
        ("Final Answer: Jane has 10 apples, 5 of them red.", "5", "correct"),
        ("Final Answer: Jane started 3 hours ago.", "3", "correct"),
    ],
)
def test_a_bound_or_a_range_in_an_answer_sentence_is_not_a_value(response, reference, expected):
    assert V.verify(response, reference).status == expected


@pytest.mark.parametrize(
    "response, reference, expected",
    [
        # MATH writes its base answers both ways (`10110_2`, `1011_{2}`); a model often drops the subscript
        (r"\boxed{1011_{2}}", "1011_2", "correct"),
        (r"\boxed{1011_2}", "1011_{2}", "correct"),
        (r"\boxed{1011}", "1011_2", "correct"),
        (r"\boxed{n = 1011_2}", "1011_2", "correct"),
        (r"\boxed{2a_{16}}", "2A_{16}", "correct"),
        (r"\boxed{15_{10}}", "15", "correct"),
        # its value in base 10, other digits, another base: wrong
        (r"\boxed{11}", "1011_2", "incorrect"),
        (r"\boxed{1010_2}", "1011_2", "incorrect"),
        (r"\boxed{1011_3}", "1011_2", "incorrect"),
        (r"\boxed{16_{10}}", "15", "incorrect"),
        # a subscripted variable is not a numeral
        (r"\boxed{a}", "a_1", "incorrect"),
        (r"\boxed{a_1}", "a_1", "correct"),
    ],
)
def test_numerals_in_a_base(response, reference, expected):
    assert V.verify(response, reference).status == expected


@pytest.mark.parametrize(
    "response, reference, expected",
    [
        (r"\boxed{\color{red}5}", "5", "correct"),
        (r"\boxed{\textcolor{blue}{\frac{1}{2}}}", r"\frac12", "correct"),
        (r"\boxed{\underline{5}}", "5", "correct"),
        (r"\boxed{\hspace{1cm}5}", "5", "correct"),
        (r"\boxed{\phantom{0}5}", "5", "correct"),
        # the dropped argument is never the answer
        (r"\boxed{\phantom{5}}", "5", "incorrect"),
        (r"\boxed{\hspace{5}}", "5", "incorrect"),
        (r"\boxed{\textcolor{red}{6}}", "5", "incorrect"),
    ],
)
def test_layout_commands_are_not_part_of_the_answer(response, reference, expected):
    assert V.verify(response, reference).status == expected


@pytest.mark.parametrize(
    "response, expected",
    [
        ("We count.\nTherefore, there are at least 12 ways.", "unparsed"),
        ("We count.\nSo there are more than 12 ways.", "unparsed"),
        ("We count.\nHence there are fewer than 12 ways.", "unparsed"),
        ("We count.\nTherefore, there are up to 12 ways.", "unparsed"),
        ("We count.\nThus there are not 12 ways.", "unparsed"),
        ("We count.\nTherefore, there are 12 ways.", "correct"),
    ],
)
def test_a_closing_sentence_that_bounds_or_denies_its_number_states_no_answer(response, expected):
    assert V.verify(response, "12").status == expected


@pytest.mark.parametrize("answer", [r"\boxed{1e9999999}", r"\boxed{1.5e-999999999}", "The answer is 2.5e99999999."])
def test_a_huge_scientific_exponent_is_refused_before_any_power_is_computed(answer):
    """10 ** 999999999 is one C call of hours that no deadline interrupts (the written digit's unit was computed
    before the exponent was checked); `1e9999999` took 18 s against a 2 s limit."""
    verdict = V.verify(answer, "3")
    assert (verdict.status, verdict.detail) == ("incorrect", "answer does not parse: scientific exponent too large")
