import pytest

from rlvr.verifiers import get_verifier
from rlvr.verifiers.parity import parity, running_parity

V = get_verifier("parity")
REF = {"bits": "10110"}  # three ones: parity 1; running parity 1 1 0 1 1


def test_running_parity_by_hand():
    assert running_parity("10110") == "11011"
    assert parity("10110") == 1 and parity("1001") == 0


@pytest.mark.parametrize(
    "response,status",
    [
        ("<answer>1</answer>", "correct"),
        ("1 1 0 1 1 <answer>1</answer>", "correct"),
        ("1", "correct"),
        ("11011", "correct"),
        (" 1 1 0 1 1\n", "correct"),
        ("<answer>0</answer>", "incorrect"),
        ("0", "incorrect"),
        ("<answer>0</answer> or <answer>1</answer>", "incorrect"),  # hedge
        ("<answer>1</answer><answer>1</answer>", "correct"),  # repeating one answer is not a hedge
        ("The parity is 1", "unparsed"),
        ("", "unparsed"),
        ("<answer>one</answer>", "unparsed"),
        ("<answer>2</answer>", "unparsed"),
    ],
)
def test_verdicts(response, status):
    assert V.verify(response, REF).status == status


def test_steps_score_each_running_parity_bit():
    steps = V.verify_steps("1 1 1 1 1 <answer>1</answer>", REF)
    assert [s.score for s in steps] == [1.0, 1.0, 0.0, 1.0, 1.0]
    assert [(s.start, s.end) for s in steps] == [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]
    assert V.verify_steps("11011", REF)[-1].score == 1.0
    assert V.verify_steps("1", REF) == []  # the short form has no steps


def test_bad_reference_is_error_not_model_fault():
    assert V.verify("1", {"bits": "10x"}).status == "error"


@pytest.mark.parametrize("junk", ["\0" * 1000, "1" * 1_000_000 + "x", "<answer>" * 10000, "０１"])
def test_hostile_inputs_never_raise_or_pass(junk):
    verdict = V.verify(junk, REF)
    assert verdict.status in ("unparsed", "incorrect")


def test_answer_tags_are_found_in_linear_time_and_by_innermost_pair():
    """`<answer>` x 16,000 without a close took 19 s with the regex; the scan reads each character a few times."""
    assert V.verify("<answer>" * 16_000, REF).status == "unparsed"
    assert V.verify("<answer>" * 16_000 + "1</answer>", REF).status == "correct"
    assert V.verify("<answer>0 <answer>1</answer>", REF).status == "correct"  # the innermost pair is the tag
    assert V.verify("<answer>0</answer>" * 5_000 + "<answer>1</answer>", REF).status == "incorrect"  # a hedge
