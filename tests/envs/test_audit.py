"""rlvr.audit: decoys are really wrong, each class is sent through the env's step, a weak scorer is caught (library
and `rlvr audit`), and rlvr's own envs pass."""

from __future__ import annotations

import json

import pytest

from rlvr.audit import (
    CONSTANTS,
    STRICT,
    Slot,
    answer_slot,
    audit_env,
    decoys,
    same_answer,
    summary_row,
    wrong_values,
)
from rlvr.cli import main
from rlvr.envs.base import Problem, ReasoningEnv
from rlvr.verifiers import Verdict, Verifier
from rlvr.verifiers.reasoning_gym import last_answer_tag


@pytest.mark.parametrize(
    ("answer", "wrong"),
    [
        ("42", ["43", "91"]),
        ("-3", ["-2", "1"]),
        ("True", ["False"]),
        ("no", ["yes"]),
        ("0.3125", ["1.6250", "-1.3125"]),
        ("5/16", ["6/16"]),
        ("C", ["D"]),
        ("Al is a knave, Bo is a knight.", ["Al is a knight, Bo is a knight.", "Bl is a knave, Bo is a knight."]),
        ("2.75\n5.75", ["3.75\n5.75"]),
        ("4*(2 - 10*x)**(3/2)/3 + C", ["5*(2 - 10*x)**(3/2)/3 + C"]),
    ],
)  # fmt: skip
def test_wrong_values_have_the_type_and_a_wrong_value(answer, wrong):
    assert wrong_values(answer) == wrong
    assert not any(same_answer(w, answer) for w in wrong)


def test_no_reordering_decoys_they_can_be_right():
    """A reordered list or sum ("19 + 72*40/24" for "72*40/24 + 19", a mapping, a set of roots) is often still right."""
    for answer in ("72*40/24 + 19", "A=4,H=7,K=5", "0.0, 0.9174", "3 × 53"):
        assert all(sorted(w) != sorted(answer) for w in wrong_values(answer)), wrong_values(answer)


def test_same_answer_ignores_case_spacing_and_number_spelling():
    assert same_answer(" True ", "true") and same_answer("0.50", "0.5") and same_answer("1/2", "0.5")
    assert same_answer("a  b", "A b") and not same_answer("42", "43") and not same_answer("x", "")


@pytest.mark.parametrize(
    ("response", "fmt", "answer"),
    [
        ("think <answer>a</answer> more <answer> 42 </answer>!", "answer_tags", " 42 "),
        ("so \\boxed{\\frac{1}{2}} done", "boxed", "\\frac{1}{2}"),
        ("option C.\n\n\\boxed{C}", "choice", "C"),
        ("Here:\n```python\ndef f(x):\n    return x\n```\n", "code_block", "def f(x):\n    return x\n"),
        ("free text", "text", "free text"),
    ],
)
def test_answer_slot_splits_the_reference_around_its_answer(response, fmt, answer):
    slot = answer_slot(response, fmt)
    assert slot.answer == answer and slot.fill(slot.answer) == response
    assert slot.fill("7").replace("7", answer, 1) == response


def test_decoys_are_really_wrong():
    slot = Slot("<answer>", "0", "</answer>", "text")
    pairs = decoys(slot, ["0", "0.0", "5", "5"])
    by_class = {c: [a for k, a in pairs if k == c] for c in ("constant", "other_item", "wrong_value", "hedge", "junk")}
    assert "0" not in by_class["constant"] and set(by_class["constant"]) == set(CONSTANTS) - {"0"}
    assert by_class["other_item"] == ["5"]  # another item with the same answer ("0", "0.0") is not a decoy
    assert by_class["wrong_value"] == ["1", "7"]
    assert all("0" in h for h in by_class["hedge"]) and len(by_class["junk"]) == 1
    for cls, answer in pairs:
        if cls in STRICT:
            assert not same_answer(answer, "0"), (cls, answer)


def test_echo_and_spam_decoys():
    slot = Slot("<answer>", "12", "</answer>", "text")
    pairs = decoys(slot, ["15", "7"], prompt="What is 5 + 7? Answer like <answer>3</answer>.")
    assert ("echo", "What is 5 + 7? Answer like <answer>3</answer>.") in pairs and "echo" in STRICT
    spam = [a for c, a in pairs if c == "hedge" and a.count(",") > 5]
    assert len(spam) == 1 and spam[0].endswith(", 12") and "15" in spam[0] and "13" in spam[0]
    assert not [a for c, a in decoys(slot, [], prompt="12") if c == "echo"]  # a prompt that is the answer: not sent


class _EchoCreditingVerifier(Verifier):
    """The hole: credits any response that mentions the right number anywhere (the prompt holds it)."""

    name = "echo_lenient"

    def _verify(self, response, reference):
        answer = last_answer_tag(response)
        ok = answer == str(reference) or f"answer is {reference}" in response
        return Verdict("correct" if ok else "incorrect", float(ok), answer)


class _EchoSource:
    def problem(self, seed):
        n = 10 + seed % 7
        prompt = f"Note: the answer is {n}. Reply with <answer>N</answer>."
        return Problem(
            f"echo/{seed}", "toy", prompt, n, "echo_lenient", "answer_tags", solution=f"<answer>{n}</answer>"
        )


def test_audit_catches_a_scorer_crediting_the_prompt_echoed_back():
    env = ReasoningEnv(_EchoSource(), verifier=_EchoCreditingVerifier())
    report = audit_env(env, items=3)
    echo = report.classes["echo"]
    assert echo.tried == 3 * 2 and echo.full == 3 * 2  # in the slot and as the whole response
    assert {w["class"] for w in report.weak()} == {"echo"}
    assert report.classes["constant"].full == 0


def test_code_decoys_are_programs():
    slot = answer_slot("```python\ndef add(a, b):\n    return a + b\n```", "code_block")
    pairs = decoys(slot, ["def add(a, b):\n    return a - b\n"])
    constants = [a for c, a in pairs if c == "constant"]
    assert "def add(*args, **kwargs):\n    return 0\n" in constants and all(a.startswith("def add(") for a in constants)
    assert ("other_item", "def add(a, b):\n    return a - b\n") in pairs


class _LenientVerifier(Verifier):
    """Credits the right number, and (the hole) any answer that is `0` or a word of `yes`/`no`."""

    name = "lenient"

    def _verify(self, response, reference):
        answer = last_answer_tag(response)
        if answer is None:
            return Verdict("unparsed", 0.0)
        if answer == str(reference) or answer in ("0", "yes"):
            return Verdict("correct", 1.0, answer)
        return Verdict("incorrect", 0.5 if answer.startswith(str(reference)) else 0.0, answer)


class _Source:
    def problem(self, seed):
        n = 10 + seed % 7
        return Problem(f"toy/{seed}", "toy", f"{n}?", n, "lenient", "answer_tags", solution=f"<answer>{n}</answer>")


class _ToyEnv(ReasoningEnv):
    def __init__(self):
        super().__init__(_Source(), verifier=_LenientVerifier())


def test_audit_finds_a_weak_scorer_and_counts_partial_credit():
    report = audit_env(_ToyEnv(), items=4)
    assert report.reference_full == 4
    constant = report.classes["constant"]
    assert constant.tried == 4 * (len(CONSTANTS)) and constant.full == 4 * 2  # "0" and "yes" on every item
    assert {w["decoy"] for w in report.weak()} == {"0", "yes"}
    assert report.classes["other_item"].full == 0 and report.classes["other_item"].tried > 0
    assert report.classes["hedge"].partial > 0  # "12 or 13" starts with the answer: 0.5
    assert report.classes["hedge"].partly_credited[0]["reward"] == 0.5
    table = report.table()
    assert "constant" in table and "'0'" in table
    json.dumps(report.to_dict())
    assert "WEAK: constant" in summary_row(report, "toy")


def test_items_must_leave_other_items():
    with pytest.raises(ValueError, match="items"):
        audit_env(_ToyEnv(), items=1)


@pytest.mark.parametrize(
    "env_id", ["rlvr/Countdown-v0", "rlvr/Parity-v0", "rlvr/STEM-v0", "rlvr/Sudoku-v0", "rlvr/KnightsKnaves-v0"]
)
def test_rlvr_envs_credit_no_decoy(env_id):
    report = audit_env(env_id, items=4)
    assert report.reference_full == 4 and report.without_reference == 0
    assert report.weak() == [], report.table()
    assert all(report.classes[c].tried > 0 for c in ("constant", "other_item", "wrong_value", "junk"))


def test_the_default_mixture_credits_no_decoy():
    """`rlvr audit rlvr/Mixture-v0 --items 8` once credited a STEM numeric answer, "0.2564 \\text{ A}", to a choice
    problem whose answer is A (the unit read as the option letter)."""
    report = audit_env("rlvr/Mixture-v0", items=8)
    assert report.reference_full == 8 and report.weak() == [], report.table()


@pytest.mark.math_verify
def test_math_env_credits_no_decoy():
    report = audit_env("rlvr/Math-v0", items=3)
    assert report.reference_full == 3 and report.weak() == [], report.table()


@pytest.mark.bwrap
def test_code_env_decoys_are_programs_and_earn_nothing():
    report = audit_env("rlvr/Code-v0", items=3)
    assert report.reference_full == 3 and report.weak() == [], report.table()
    assert report.classes["constant"].tried == 3 * 7 and report.classes["other_item"].tried >= 3


def test_cli_audit_prints_a_table_or_json(capsys, tmp_path):
    assert main(["audit", "rlvr/Parity-v0", "--items", "3"]) == 0
    out = capsys.readouterr().out
    assert "constant" in out and "other_item" in out and "reference responses at full reward: 3/3" in out
    path = tmp_path / "a.json"
    assert main(["audit", "rlvr/Countdown-v0", "--items", "2", "--json", "--out", str(path)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["env_id"] == "rlvr/Countdown-v0" and data == json.loads(path.read_text())
    assert set(data["classes"]) == {"constant", "other_item", "wrong_value", "echo", "hedge", "junk"}


def test_cli_audit_over_a_knob_prints_one_row_per_value(capsys, tmp_path):
    path = tmp_path / "sweep.json"
    assert main(["audit", "rlvr/Parity-v0", "--items", "2", "--over", "n_bits=4,6", "--out", str(path)]) == 0
    rows = capsys.readouterr().out.strip().splitlines()
    assert rows[1].startswith("n_bits=4") and rows[2].startswith("n_bits=6") and rows[1].endswith("ok")
    assert [r["env_kwargs"] for r in json.loads(path.read_text())] == [{"n_bits": 4}, {"n_bits": 6}]
    assert main(["audit", "rlvr/Parity-v0", "--items", "2", "--over", "n_bits=4,-1"]) == 1  # -1 cannot be built
    assert "not built" in capsys.readouterr().out


def test_cli_audit_errors_name_the_problem(capsys):
    assert main(["audit", "rlvr/NoSuch-v0"]) == 2
    assert "rlvr/NoSuch-v0" in capsys.readouterr().err
    assert main(["audit", "rlvr/Parity-v0", "--items", "1"]) == 2
    assert "--items" in capsys.readouterr().err
    assert main(["audit", "rlvr/Parity-v0", "--over", "num_bits"]) == 2
    assert "KEY=V1,V2" in capsys.readouterr().err


def test_answer_slot_offsets_hold_after_characters_that_lower_case_to_two():
    slot = answer_slot("İİ<answer>42</answer>!", "answer_tags")
    assert (slot.prefix, slot.answer, slot.suffix) == ("İİ<answer>", "42", "</answer>!")
