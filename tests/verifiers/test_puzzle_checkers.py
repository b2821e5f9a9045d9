"""Puzzle checkers: the labelled cases in data/puzzles.jsonl, the details that name violated constraints, step
scores, malformed references, and hostile inputs (never raise, never `error`, never `correct` to garbage)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from rlvr.verifiers import available_verifiers, get_verifier
from rlvr.verifiers.puzzles.common import answer_block

DATA = Path(__file__).parent / "data" / "puzzles.jsonl"
CASES = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
NAMES = sorted({c["verifier"] for c in CASES})


def tag(text: str) -> str:
    return f"<answer>{text}</answer>"


def test_every_puzzle_checker_is_registered_and_labelled():
    puzzle = [n for n in available_verifiers() if n.startswith("puzzle/")]
    assert len(puzzle) >= 8 and set(puzzle) <= set(NAMES)
    for name in NAMES:
        labels = {c["expected"] for c in CASES if c["verifier"] == name}
        assert labels >= {"correct", "incorrect", "unparsed"}, name


@pytest.mark.parametrize("case", CASES, ids=[f"{c['verifier']}-{i}-{c['category']}" for i, c in enumerate(CASES)])
def test_labelled_case(case):
    verdict = get_verifier(case["verifier"]).verify(case["response"], case["reference"])
    assert verdict.status == case["expected"], (case["note"], verdict)
    assert verdict.reward == (1.0 if case["expected"] == "correct" else 0.0)


# (verifier, reference, response, a phrase the detail must contain)
REFS = {c["verifier"]: c["reference"] for c in reversed(CASES)}  # the first reference of each checker
DETAILS = [
    ("puzzle/countdown", REFS["puzzle/countdown"], tag("4*4"), "4 is not one of the numbers"),
    ("puzzle/countdown", REFS["puzzle/countdown"], tag("7+7+2"), "7 is used more often than given"),
    ("puzzle/countdown", {"numbers": [7, 5, 5], "target": 7}, tag("7/(5-5)"), "division by zero"),
    ("puzzle/countdown", REFS["puzzle/countdown"], tag("3+5+2+7"), "equals 17, not 16"),
    ("puzzle/sudoku", REFS["puzzle/sudoku"], tag("2134341212434321"), "changes the given 1"),
    ("puzzle/sudoku", REFS["puzzle/sudoku"], tag("1254341221434321"), "not in 1..4"),
    (
        "puzzle/knights_knaves",
        REFS["puzzle/knights_knaves"],
        tag("Alice: knave, Bob: knave"),
        "Bob would be a knave saying something true",
    ),
    ("puzzle/knights_knaves", REFS["puzzle/knights_knaves"], tag("Alice: knight"), "no kind given for Bob"),
    ("puzzle/graph_coloring", REFS["puzzle/graph_coloring"], tag("red, red, green"), "edge 0-1"),
    ("puzzle/graph_coloring", REFS["puzzle/graph_coloring"], tag("red, green"), "2 colours for 3 nodes"),
    ("puzzle/sat", REFS["puzzle/sat"], tag("x1=true, x2=true, x3=true"), "clause 3 is false"),
    ("puzzle/sat", REFS["puzzle/sat"], tag("x1=true, x3=true"), "no value for x2"),
    (
        "puzzle/zebra",
        REFS["puzzle/zebra"],
        tag("House 1: red, dog\nHouse 2: blue, cat"),
        "breaks the clue: dog is blue",
    ),
    ("puzzle/cryptarithm", REFS["puzzle/cryptarithm"], tag("A=1, B=1, C=2"), "A and B are both 1"),
    ("puzzle/cryptarithm", {"addends": ["AB", "C"], "result": "AD"}, tag("A=0, B=2, C=3, D=5"), "AB starts with 0"),
    ("puzzle/maze", REFS["puzzle/maze"], tag("R,D"), "move 2 (D) goes into a wall"),
    ("puzzle/maze", REFS["puzzle/maze"], tag("R,R,D,D,U,D"), "the shortest has 4"),
    ("puzzle/maze", REFS["puzzle/maze"], tag("R,R"), "not at G"),
]


@pytest.mark.parametrize(("name", "reference", "response", "phrase"), DETAILS)
def test_detail_names_the_violated_constraint(name, reference, response, phrase):
    verdict = get_verifier(name).verify(response, reference)
    assert verdict.status == "incorrect" and phrase in verdict.detail, verdict


def test_unreadable_details_say_why():
    sudoku, ref = get_verifier("puzzle/sudoku"), REFS["puzzle/sudoku"]
    assert sudoku.verify(tag("123"), ref).detail == "expected 16 digits, got 3"
    assert "unexpected character '.'" in sudoku.verify(tag("12.4" * 4), ref).detail
    assert "no <answer>" in sudoku.verify("1234", ref).detail
    assert sudoku.verify("<answer>\n" + "1234" * 4, ref).status == "unparsed"  # unclosed: a cut-off response
    assert get_verifier("puzzle/maze").verify(tag("R,R,X"), REFS["puzzle/maze"]).detail.startswith("'X' is not a move")


@pytest.mark.parametrize("name", NAMES)
def test_hedges_are_never_correct(name):
    right = next(c["response"] for c in CASES if c["verifier"] == name and c["expected"] == "correct")
    wrong = next(
        c["response"]
        for c in CASES
        if c["verifier"] == name and c["expected"] == "incorrect" and c["response"].count("<answer>") == 1
    )
    v, ref = get_verifier(name), next(c["reference"] for c in CASES if c["response"] == right)
    for response in (f"{right} or {wrong}", f"{wrong}\nActually:\n{right}", f"{right}{tag('')}{wrong}"):
        verdict = v.verify(response, ref)
        assert verdict.status == "incorrect" and "hedge" in verdict.detail, (response, verdict)


def test_steps_follow_partial_assignments():
    sudoku = get_verifier("puzzle/sudoku")
    scores = [s.score for s in sudoku.verify_steps(tag("1234 3412 2134 4321"), REFS["puzzle/sudoku"])]
    assert scores[:8] == [1.0] * 8 and scores[10] == 0.0  # cell (3, 3): a second 3 in its column
    coloring = get_verifier("puzzle/graph_coloring")
    assert [s.score for s in coloring.verify_steps(tag("red, green, green"), REFS["puzzle/graph_coloring"])] == [
        1,
        1,
        0,
    ]
    sat = get_verifier("puzzle/sat")
    response = tag("x2=true, x3=true, x1=false")
    steps = sat.verify_steps(response, REFS["puzzle/sat"])
    assert [s.score for s in steps] == [1.0, 0.0, 0.0] and [s.text for s in steps][0] == "x2=true"
    assert all(response[s.start : s.end] == s.text for s in steps)
    maze = get_verifier("puzzle/maze")
    assert [s.score for s in maze.verify_steps(tag("R,R,D,D"), REFS["puzzle/maze"])] == [1.0] * 4
    assert [s.score for s in maze.verify_steps(tag("R,L,R,R,D,D"), REFS["puzzle/maze"])] == [1, 0, 0, 0, 0, 0]
    assert [s.score for s in maze.verify_steps(tag("R,D,R"), REFS["puzzle/maze"])] == [1, 0, 0]
    assert maze.verify_steps("no tags", REFS["puzzle/maze"]) == []


BAD_REFERENCES = {
    "puzzle/countdown": [{"numbers": [1, 2]}, {"numbers": "12", "target": 3}, None],
    "puzzle/sudoku": [{"size": 5, "puzzle": "0" * 25}, {"size": 4, "puzzle": "abc"}, "1234"],
    "puzzle/knights_knaves": [{"people": ["A"], "statements": []}, {"people": ["A"], "statements": [{"op": "?"}]}],
    "puzzle/graph_coloring": [{"num_nodes": 2, "colors": ["red"], "edges": [[0, 5]]}, {}],
    "puzzle/sat": [{"num_vars": 1, "clauses": [[2]]}, {"clauses": []}],
    "puzzle/zebra": [{"houses": 2, "attributes": {"c": ["red"]}, "clues": []}, []],
    "puzzle/cryptarithm": [{"addends": ["ab"], "result": "C"}, {"addends": ["ABCDEFGHIJ"], "result": "K"}],
    "puzzle/maze": [{"grid": ["#S#", "###", "#G#"]}, {"grid": ["S.", "..."]}, {"grid": ["S"]}],
}


@pytest.mark.parametrize("name", NAMES)
def test_malformed_reference_is_an_error_not_the_models_fault(name):
    v = get_verifier(name)
    right = next(c["response"] for c in CASES if c["verifier"] == name and c["expected"] == "correct")
    for reference in BAD_REFERENCES[name]:
        verdict = v.verify(right, reference)
        assert verdict.status == "error" and "bad reference" in verdict.detail, (reference, verdict)


MB = 1 << 20
HOSTILE = [
    "",
    "\0" * MB,
    "A" * MB,
    tag("B" * MB),
    "<answer>" * 100_000,
    "<answer>" * 50_000 + "1</answer>" * 50_000,
    tag("\0\0\0"),
    tag("1\x002\x003"),
    tag("(" * 10_000 + ")" * 10_000),
    tag("(" * 5_000 + "3" + ")" * 5_000),
    tag("(" * 10_000),
    tag("9**9**9"),
    tag("9" * 19_000),
    tag("10" + "0" * 4_400),
    tag("__import__('os').system('touch /tmp/rlvr_pwned')"),
    tag("eval('1+1'); exec('x=1')"),
    tag("x1=true, " * 2_000),
    tag("a: " + " " * 19_000 + "b"),
    tag("House 1: " + "red, " * 3_000),
    tag("R" * 19_000),
    tag(",".join(["red"] * 4_000)),
    tag("\ud800\udfff\u202e\ufeff"),
    tag("１２３４"),  # fullwidth digits
    tag("<answer>" * 1000),
    "<ANSWER>" + "x" * 100 + "</answer" * 10_000,
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", NAMES)
def test_hostile_inputs_never_raise_error_or_pass(name):
    v = get_verifier(name)
    reference = REFS[name]
    for response in HOSTILE:
        verdict = v.verify(response, reference)
        assert verdict.status in ("incorrect", "unparsed"), (name, response[:60], verdict)
        assert len(verdict.detail) <= 500 and (verdict.extracted is None or len(verdict.extracted) <= 500)
    assert not os.path.exists("/tmp/rlvr_pwned")
    assert v.verify(None, reference).status == "unparsed"  # type: ignore[arg-type]
    assert v.verify_steps("\0" * MB, reference) == []


def test_countdown_never_evaluates_python():
    v = get_verifier("puzzle/countdown")
    ref = {"numbers": [2, 3], "target": 6}
    for expr in ("2*3 if True else 0", "(lambda: 6)()", "[2*3][0]", "2*3#", "0x6", "6.0", "2**1*3", "2 3", "2*3;"):
        assert v.verify(tag(expr), ref).status == "unparsed", expr
    assert v.verify(tag("2 * 3"), ref).correct
    assert v.verify(tag(" 2 ÷ (1/3) "), ref).status == "incorrect"  # 1 is not given
    assert v.verify(tag("3 \\times 2"), ref).correct


def test_batch_keeps_order():
    v = get_verifier("puzzle/maze")
    pairs = [(tag(r), REFS["puzzle/maze"]) for r in ("R,R,D,D", "R,D", "D,D,R,R", "x")]
    assert [x.status for x in v.verify_batch(pairs)] == ["correct", "incorrect", "correct", "unparsed"]


def test_answer_blocks_in_the_reasoning_draft_are_not_the_answer():
    """A draft answer inside `<think>` is neither a hedge against the final one nor an answer on its own."""
    v, ref = get_verifier("puzzle/countdown"), {"numbers": [22, 16, 13, 7], "target": 12}
    final = "<answer>22-16+13-7</answer>"
    assert v.verify(f"<think>maybe <answer>22+16</answer></think>{final}", ref).status == "correct"
    assert v.verify("<think><answer>22-16+13-7</answer></think> no idea", ref).status == "unparsed"
    block = answer_block(f"<think>x</think> {final}")
    assert f"<think>x</think> {final}"[block.offset :].startswith("22-16+13-7")  # offsets stay the response's
