"""The multiple-choice verifier: agreement with the hand-labelled set, hedges, reference validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlvr.verifiers import get_verifier
from rlvr.verifiers.choice import ChoiceVerifier, parse_reference

DATA = Path(__file__).parent / "data" / "choice.jsonl"
CASES = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
KEYS = {"verifier", "category", "reference", "response", "expected", "note"}
V = ChoiceVerifier()


def test_labelled_set_format():
    assert len(CASES) >= 80
    for case in CASES:
        assert set(case) == KEYS, case
        assert case["verifier"] == "choice"
        assert case["expected"] in ("correct", "incorrect", "unparsed")
        assert isinstance(case["reference"], (str, dict))


@pytest.mark.parametrize("case", CASES, ids=[f"{i}-{c['category']}" for i, c in enumerate(CASES)])
def test_agrees_with_label(case):
    verdict = V.verify(case["response"], case["reference"])
    assert verdict.status == case["expected"], (case["note"], verdict)
    assert verdict.reward == (1.0 if case["expected"] == "correct" else 0.0)
    if verdict.status == "correct":
        assert verdict.extracted == parse_reference(case["reference"]).answer


def test_registry_returns_choice_verifier():
    assert isinstance(get_verifier("choice"), ChoiceVerifier)


@pytest.mark.parametrize("response", ["A or B", "either A or C", "A, B", "A and B", "A/B", "\\boxed{A} \\boxed{B}"])
def test_hedges_are_incorrect_and_say_so(response):
    verdict = V.verify(response, "A")
    assert verdict.status == "incorrect"
    assert "hedge" in verdict.detail


@pytest.mark.parametrize("response", ["B, B", "\\boxed{B} and again \\boxed{B}", "B (B)"])
def test_repeating_one_letter_is_not_a_hedge(response):
    assert V.verify(response, "B").status == "correct"


def test_letter_spam_is_not_credited():
    verdict = V.verify("B " * 100, "B")
    assert verdict.status == "incorrect"
    assert "spam" in verdict.detail


@pytest.mark.parametrize(
    ("response", "letter"),
    [("Answer: (C)", "C"), ("\\boxed{D}", "D"), ("<answer>a</answer>", "A"), ("Paris", "B"), ("B. Paris", "B")],
)
def test_extracted_is_the_chosen_letter(response, letter):
    verdict = V.verify(response, {"answer": "B", "options": ["London", "Paris", "Rome", "Oslo"]})
    assert verdict.extracted == letter


def test_markers_beat_the_final_line():
    assert V.verify("The answer is B.\nA is tempting but wrong.", "B").status == "correct"


def test_lookalike_letters_are_not_read():
    # Cyrillic "В" (U+0412) and Greek "Β" (U+0392) are other scripts' letters: unparsed, not B.
    assert V.verify("Answer: \u0412", "B").status == "unparsed"
    assert V.verify("\u0392", "B").status == "unparsed"
    # NFKC presentations of the Latin letter are read as that letter.
    assert V.verify("Answer: \uff22", "B").status == "correct"


@pytest.mark.parametrize(
    ("reference", "field"),
    [
        ("BB", "reference"),
        ("", "reference"),
        (3, "letter"),
        ({"options": ["a", "b"]}, "answer"),
        ({"answer": "E", "options": ["a", "b"]}, "beyond"),
        ({"answer": "A", "options": "ab"}, "options"),
        ({"answer": "A", "options": ["only one"]}, "options"),
        ({"answer": "A", "choices": ["a", "b"]}, "choices"),
        ({"answer": 1}, "answer"),
    ],
)
def test_bad_reference_raises_clearly_and_verifies_as_error(reference, field):
    with pytest.raises(ValueError, match=field):
        parse_reference(reference)
    verdict = V.verify("B", reference)
    assert verdict.status == "error"
    assert "bad reference" in verdict.detail


@pytest.mark.parametrize(("reference", "answer"), [("b", "B"), ("(C)", "C"), (" D. ", "D"), ({"answer": "[e]"}, "E")])
def test_reference_letter_forms(reference, answer):
    assert parse_reference(reference).answer == answer


def test_non_string_response_is_unparsed_not_error():
    assert V.verify(None, "B").status == "unparsed"  # type: ignore[arg-type]


AMPERES = {"answer": "A", "options": ["0.2564 A", "0.5128 A", "1.2 A", "0.1 A"]}


@pytest.mark.parametrize(
    "response", ["The current is 0.9 A.", "So I = 0.1 A", r"\boxed{0.9 A}", r"I = 0.9\,\mathrm{A}", r"0.9 \text{ A}"]
)
def test_a_unit_after_a_number_is_not_an_option_letter(response):
    """STEM-v0 asks circuit questions as choices whose options are in amperes: a wrong value in A (here none of the
    options, or option D's) is no answer, not a vote for option A."""
    assert V.verify(response, AMPERES).status == "unparsed"


@pytest.mark.parametrize("response", ["I = 0.2564 A, so A", r"\boxed{0.2564 A}", "The answer is A", "3 remain: A"])
def test_a_letter_that_is_not_a_unit_is_still_read(response):
    assert V.verify(response, AMPERES).status == "correct"
