"""Dataset sources: JSONL and Parquet, field layouts, mappings, shuffling, and errors that name file and line."""

from __future__ import annotations

import json

import pytest

from rlvr.envs.datasets import DatasetSource, boxed_answer

MATH_ROWS = [
    {"problem": "What is 2 + 2?", "answer": "4"},
    {"question": "Half of 3?", "answer": 1.5},
    {"problem": "Compute 1/2 + 1/4.", "solution": "We add: $\\frac{1}{2} + \\frac{1}{4} = \\boxed{\\frac{3}{4}}$."},
]


def _jsonl(path, rows, extra_lines=()):
    path.write_text("\n".join([json.dumps(r) for r in rows] + list(extra_lines)) + "\n", encoding="utf-8")
    return path


def test_math_jsonl_layouts(tmp_path):
    src = DatasetSource(_jsonl(tmp_path / "m.jsonl", MATH_ROWS))
    assert len(src) == 3
    p = src.problem(0)
    assert p.id == "m.jsonl:1" and p.reference == "4" and p.verifier == "math" and "2 + 2" in p.prompt
    assert p.prompt.endswith("\\boxed{}.")
    assert src.problem(1).reference == "1.5"
    assert src.problem(2).reference == "\\frac{3}{4}"  # the boxed answer of the solution
    assert src.problem(5) == src.problem(2)  # seed % N


def test_mapping_and_shuffle(tmp_path):
    rows = [{"instruction": f"q{i}", "target": str(i)} for i in range(20)]
    path = _jsonl(tmp_path / "x.jsonl", rows)
    src = DatasetSource(path, mapping={"prompt": "instruction", "answer": "target"})
    assert [src.problem(i).reference for i in range(20)] == [str(i) for i in range(20)]
    a = DatasetSource(path, mapping={"prompt": "instruction", "answer": "target"}, shuffle_seed=7)
    b = DatasetSource(path, mapping={"prompt": "instruction", "answer": "target"}, shuffle_seed=7)
    order = [a.problem(i).reference for i in range(20)]
    assert order == [b.problem(i).reference for i in range(20)]
    assert order != [str(i) for i in range(20)] and sorted(order, key=int) == [str(i) for i in range(20)]
    with pytest.raises(ValueError, match="mapping"):
        DatasetSource(path, mapping={"question_text": "instruction"})


def test_code_layouts(tmp_path):
    rows = [
        {"question": "Echo the input.", "input_output": json.dumps({"inputs": ["1\n"], "outputs": ["1\n"]}),
         "solutions": json.dumps(["print(input())"])},
        {"prompt": "Add.", "tests": ["assert add(1, 2) == 3"], "solution": "def add(a, b):\n    return a + b"},
        {"prompt": "Sq.", "input_output": {"inputs": [[2]], "outputs": [4], "fn_name": "sq"}},
    ]  # fmt: skip
    src = DatasetSource(_jsonl(tmp_path / "apps.jsonl", rows), domain="code")
    p0, p1, p2 = (src.problem(i) for i in range(3))
    assert p0.reference == {"input_output": {"inputs": ["1\n"], "outputs": ["1\n"]}} and p0.verifier == "code"
    assert p0.solution == "```python\nprint(input())\n```"
    assert p1.reference == {"test_script": "assert add(1, 2) == 3"} and "return a + b" in p1.solution
    assert p2.reference["input_output"]["fn_name"] == "sq" and p2.solution is None
    from rlvr.verifiers.code_reference import parse_reference

    for p in (p0, p1, p2):
        parse_reference(p.reference)  # the code verifier accepts every layout the loader produces


@pytest.mark.bwrap
def test_code_dataset_solutions_pass_the_code_verifier(tmp_path):
    rows = [
        {"question": "Echo.", "input_output": {"inputs": ["1\n", "x\n"], "outputs": ["1\n", "x\n"]},
         "solutions": ["print(input())"]},
        {"prompt": "Add.", "tests": ["assert add(1, 2) == 3", "assert add(0, 0) == 0"],
         "solution": "def add(a, b):\n    return a + b"},
    ]  # fmt: skip
    src = DatasetSource(_jsonl(tmp_path / "code.jsonl", rows), domain="code")
    from rlvr.verifiers import get_verifier

    v = get_verifier("code", backend="bwrap")
    for i in range(2):
        p = src.problem(i)
        assert v.verify(p.solution, p.reference).status == "correct", p


@pytest.mark.pyarrow
def test_parquet_round_trip(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "m.parquet"
    pq.write_table(
        pa.Table.from_pylist(
            [{"problem": r.get("problem", r.get("question")), "answer": str(r.get("answer", "3/4"))} for r in MATH_ROWS]
        ),
        path,
    )
    src = DatasetSource(path)
    jsonl = DatasetSource(_jsonl(tmp_path / "m.jsonl", MATH_ROWS))
    assert [src.problem(i).prompt for i in range(3)] == [jsonl.problem(i).prompt for i in range(3)]
    assert src.problem(1).reference == "1.5" and src.problem(2).id == "m.parquet:3"


def test_bad_json_names_file_and_line(tmp_path):
    path = _jsonl(tmp_path / "bad.jsonl", MATH_ROWS[:2], ['{"problem": "x", "answer": '])
    with pytest.raises(ValueError, match=r"bad\.jsonl:3: not valid JSON"):
        DatasetSource(path)


def test_missing_field_names_line_and_accepted_fields(tmp_path):
    path = _jsonl(tmp_path / "m.jsonl", [MATH_ROWS[0], {"problem": "no answer here", "solution": "no box"}])
    with pytest.raises(
        ValueError, match=r"m\.jsonl:2: missing the answer: expected a field 'answer' or 'final_answer'"
    ):
        DatasetSource(path)
    path = _jsonl(tmp_path / "n.jsonl", [{"text": "x", "answer": "1"}])
    with pytest.raises(ValueError, match=r"n\.jsonl:1: missing the problem text: .*'problem' or 'question'"):
        DatasetSource(path)
    path = _jsonl(tmp_path / "c.jsonl", [{"prompt": "x"}])
    with pytest.raises(ValueError, match=r"c\.jsonl:1: missing the tests: .*'tests' or 'input_output'"):
        DatasetSource(path, domain="code")


def test_other_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        DatasetSource(tmp_path / "nope.jsonl")
    (tmp_path / "d.csv").write_text("a,b\n")
    with pytest.raises(ValueError, match="unknown format"):
        DatasetSource(tmp_path / "d.csv")
    with pytest.raises(ValueError, match="domain"):
        DatasetSource(_jsonl(tmp_path / "m.jsonl", MATH_ROWS), domain="poetry")
    (tmp_path / "e.jsonl").write_text("\n\n")
    with pytest.raises(ValueError, match="no rows"):
        DatasetSource(tmp_path / "e.jsonl")


def test_boxed_answer():
    assert boxed_answer("so \\boxed{1} then \\boxed{\\frac{a}{b}}") == "\\frac{a}{b}"
    assert boxed_answer("no box") is None


GSM8K_ROWS = [  # openai/gsm8k's layout: the answer column is the worked solution ending in "#### <answer>"
    {
        "question": "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
        "How many clips did Natalia sell altogether in April and May?",
        "answer": "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips "
        "altogether in April and May.\n#### 72",
    },
    {"question": "Weng earns $12 an hour. How much for 50 minutes?", "answer": "12/60*50 = <<12/60*50=10>>10\n#### 10"},
]


def test_gsm8k_answers_are_the_number_after_the_hashes(tmp_path):
    """The reference is "72", not the worked solution: the env's reference response (and `rlvr export`'s ground
    truth, and the audit's answer slot) are built from it."""
    import gymnasium as gym

    import rlvr  # noqa: F401 - registers the ids

    src = DatasetSource(_jsonl(tmp_path / "gsm8k.jsonl", GSM8K_ROWS))
    assert [src.problem(i).reference for i in range(2)] == ["72", "10"]
    env = gym.make("rlvr/Math-v0", dataset=str(tmp_path / "gsm8k.jsonl"))
    for seed, wrong in ((0, "24"), (1, "12")):
        env.reset(seed=seed)
        assert env.step(env.unwrapped.reference_response())[1] == 1.0
        env.reset(seed=seed)
        assert env.step(rf"\boxed{{{wrong}}}")[1] == 0.0


def test_hugging_face_json_files_and_byte_order_marks(tmp_path):
    """`datasets.Dataset.to_json("x.json")` writes JSON lines under .json; a JSON array of rows is read too; a file
    saved with a UTF-8 byte-order mark (Windows editors) is read, not refused at line 1."""
    # what `Dataset.from_list(rows).to_json("hf.json")` writes: one compact object per line, absent columns as null
    rows = [{k: r.get(k) for k in ("problem", "question", "answer", "solution")} for r in MATH_ROWS]
    (tmp_path / "hf.json").write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows))
    src = DatasetSource(tmp_path / "hf.json")
    assert [src.problem(i).reference for i in range(3)] == ["4", "1.5", "\\frac{3}{4}"]
    assert src.problem(2).id == "hf.json:3"

    (tmp_path / "array.json").write_text(json.dumps(MATH_ROWS, indent=2), encoding="utf-8")
    src = DatasetSource(tmp_path / "array.json")
    assert [src.problem(i).reference for i in range(3)] == ["4", "1.5", "\\frac{3}{4}"]
    assert src.problem(2).id == "array.json:3"

    (tmp_path / "bom.jsonl").write_text("\n".join(json.dumps(r) for r in MATH_ROWS), encoding="utf-8-sig")
    assert DatasetSource(tmp_path / "bom.jsonl").problem(0).reference == "4"


def test_a_bad_json_array_names_the_item(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps([MATH_ROWS[0], "not a row"]), encoding="utf-8")
    with pytest.raises(ValueError, match=r"a\.json: item 2 of the array must be a JSON object"):
        DatasetSource(tmp_path / "a.json")
    (tmp_path / "b.json").write_text(json.dumps([MATH_ROWS[0], {"problem": "x", "solution": "no box"}]))
    with pytest.raises(ValueError, match=r"b\.json:2: missing the answer"):
        DatasetSource(tmp_path / "b.json")
