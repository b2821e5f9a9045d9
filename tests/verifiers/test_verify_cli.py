"""`rlvr verify`: references as the user types them, and a bad input file named by its line."""

from __future__ import annotations

import json

from rlvr.cli import main


def _verdict(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_a_bracketed_math_reference_is_an_interval_not_a_json_list(capsys):
    assert main(["verify", "math", "--reference", "[1,100]", "--response", r"\boxed{[1, 100]}"]) == 0
    assert _verdict(capsys)["status"] == "correct"
    assert main(["verify", "math", "--reference", "[1,100]", "--response", r"\boxed{(1, 100)}"]) == 0
    assert _verdict(capsys)["status"] == "incorrect"


def test_structured_references_are_still_read_as_json(capsys):
    ref = json.dumps({"value": 12.5, "rel_tol": 0.01})
    assert main(["verify", "numeric", "--reference", ref, "--response", r"\boxed{12.5}"]) == 0
    assert _verdict(capsys)["status"] == "correct"
    assert main(["verify", "instruction", "--reference", '[{"kind": "no_commas"}]', "--response", "a b"]) == 0
    assert _verdict(capsys)["status"] == "correct"


def test_invalid_utf8_in_the_input_file_is_named_by_its_line(capsys, tmp_path):
    path = tmp_path / "items.jsonl"
    path.write_bytes(b'{"response": "\\\\boxed{1}", "reference": "1"}\n\xff\xfe\n')
    assert main(["verify", "math", "--input", str(path)]) == 2
    assert f"{path}:2:" in capsys.readouterr().err
