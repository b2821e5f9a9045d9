"""The code verifier: agreement with the labelled set (bwrap), extraction and comparison (no sandbox), reference
validation, status mapping with a fake sandbox, and the same cases on Docker.

Small limits keep the suite fast: 1 s per test, 4 s per program. The labelled set runs once, through
`verify_batch`, and each line is then checked on its own.
"""

from __future__ import annotations

import builtins
import json
from pathlib import Path

import pytest

from rlvr.sandbox import ExecResult, SandboxUnavailable
from rlvr.verifiers import get_verifier
from rlvr.verifiers.code import CodeVerifier
from rlvr.verifiers.code_extract import extract_program, fenced_blocks, outputs_match, values_match
from rlvr.verifiers.code_reference import parse_reference, split_script
from rlvr.verifiers.code_script import Call

DATA = Path(__file__).parent / "data" / "code.jsonl"
CASES = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
KEYS = {"verifier", "category", "reference", "response", "expected", "note"}
QUICK = {"test_timeout_s": 1.0, "total_timeout_s": 4.0}
PY = ("python", "py", "python3", "py3")


def test_labelled_set_format():
    assert len(CASES) >= 60
    for case in CASES:
        assert set(case) == KEYS, case
        assert case["verifier"] == "code"
        assert case["expected"] in ("correct", "incorrect", "unparsed", "timeout")
        parse_reference(case["reference"])
    categories = {c["category"].split("_")[0] for c in CASES}
    assert {"stdio", "call", "script", "unparsed"} <= categories


@pytest.fixture(scope="module")
def bwrap_verdicts():
    verifier = get_verifier("code", backend="bwrap", **QUICK)
    return verifier.verify_batch([(c["response"], c["reference"]) for c in CASES])


@pytest.mark.bwrap
@pytest.mark.parametrize("i", range(len(CASES)), ids=[f"{i}-{c['category']}" for i, c in enumerate(CASES)])
def test_agrees_with_label(bwrap_verdicts, i):
    case, verdict = CASES[i], bwrap_verdicts[i]
    assert verdict.status == case["expected"], (case["note"], verdict)
    if verdict.status == "correct":
        assert verdict.reward == 1.0
    elif verdict.status in ("unparsed", "timeout"):
        assert verdict.reward == 0.0
    else:
        assert verdict.reward < 1.0
    assert verdict.detail


@pytest.mark.bwrap
def test_partial_credit_all_mode_and_early_stop():
    ref = {"tests": [{"stdin": f"{n}\n", "stdout": f"{n * 2}\n"} for n in (1, 2, 3, 50)]}
    response = "```python\nn = int(input())\nprint(n * 2 if n < 3 else 0)\n```"
    fraction = get_verifier("code", backend="bwrap", **QUICK).verify(response, ref)
    assert (fraction.status, fraction.reward) == ("incorrect", 0.5)
    assert fraction.detail.startswith("2/4 tests passed; test 3: wrong answer; test 4: wrong answer")
    assert get_verifier("code", backend="bwrap", mode="all", **QUICK).verify(response, ref).reward == 0.0
    assert get_verifier("code", backend="bwrap", **QUICK).verify(response, {**ref, "mode": "all"}).reward == 0.0
    # early stop: a run-time error stops the run; the tests after the first failure score nothing.
    crash = "```python\nn = int(input())\nprint(n * 2 if n != 2 else 1 // 0)\n```"
    stopped = get_verifier("code", backend="bwrap", early_stop=True, **QUICK).verify(crash, ref)
    assert stopped.reward == 0.25
    assert "test 3: not run (stopped at the first failure)" in stopped.detail


@pytest.mark.bwrap
def test_syntax_error_detail_names_the_line():
    ref = {"fn_name": "f", "tests": [{"args": [], "expected": 1}]}
    verdict = get_verifier("code", backend="bwrap", **QUICK).verify("```python\nx = 1\ny = 2\ndef f(:\n```", ref)
    assert (verdict.status, verdict.reward) == ("incorrect", 0.0)
    assert verdict.detail.startswith("SyntaxError: line 3")


@pytest.mark.bwrap
def test_typical_chat_model_layouts_are_graded_on_the_solution():
    """A usage example after the solution, LeetCode starter code copied without `from typing import List`."""
    v = get_verifier("code", backend="bwrap", **QUICK)
    add = {"fn_name": "add", "tests": [{"args": [1, 2], "expected": 3}, {"args": [10, -3], "expected": 7}]}
    example = fence("def add(a: int, b: int) -> int:\n    return a + b") + "\nUsage:\n" + fence("print(add(1, 2))")
    assert v.verify(example, add).status == "correct"
    assert v.verify(example.replace("a + b", "a - b"), add).status == "incorrect"
    script = {"test_script": "assert add(1, 2) == 3\nassert add(10, -3) == 7\n"}
    assert v.verify(example, script).status == "correct"
    two_sum = {"fn_name": "twoSum", "tests": [{"args": [[2, 7, 11, 15], 9], "expected": [0, 1]}]}
    leetcode = (
        "class Solution:\n    def twoSum(self, nums: List[int], target: int) -> Optional[List[int]]:\n"
        "        seen = {}\n        for i, x in enumerate(nums):\n            if target - x in seen:\n"
        "                return [seen[target - x], i]\n            seen[x] = i\n"
    )
    assert v.verify(fence(leetcode), two_sum).status == "correct"
    assert v.verify(fence(leetcode.replace("seen[target - x], i", "i, i")), two_sum).status == "incorrect"


# --- hostile input ----------------------------------------------------------------------------------


def fence(code: str) -> str:
    return f"```python\n{code}\n```"


HOSTILE = {
    "NUL bytes": "\x00" * 1000,
    "NUL in a block": fence("print(1)\x00"),
    "1MB of letters": "a" * 1_000_000,
    "1MB of fences": "```python\n" * 100_000,
    "1MB program": fence("x = 1\n" * 170_000),
    "lone surrogate": fence("print('\ud800')"),
    "fork bomb": fence("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"),
    "fork bomb at load": fence(
        "import os\nfor _ in range(64):\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
        "def add(a, b):\n    return a + b"
    ),
    "os.system": fence("__import__('os').system('echo 3; kill -9 -1; rm -rf / 2>/dev/null')"),
    "print forever": fence("while True:\n    print('3' * 1000)"),
    "kill everything": fence("import os, signal\nos.kill(-1, signal.SIGKILL)"),
    "kill the harness": fence("import os\nos.kill(os.getppid(), 9)\nprint(3)"),
    "close stdout and spin": fence("import os\nos.close(1)\nwhile True:\n    pass"),
    "segfault": fence("import ctypes\nctypes.string_at(0)"),
    "deep recursion": fence("import sys\nsys.setrecursionlimit(10**6)\ndef f(n):\n    return f(n + 1)\nf(0)"),
    "fill the disk": fence("with open('big', 'wb') as f:\n    while True:\n        f.write(b'x' * 65536)"),
    "daemon grandchild": fence("import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(60)\nprint(4)"),
    "deeply nested return": fence(
        "def add(a, b):\n    x = []\n    for _ in range(100000):\n        x = [x]\n    return x"
    ),
    "huge return": fence("def add(a, b):\n    return 'x' * 50_000_000"),
}
HOSTILE_REFS = {
    "stdio": {"tests": [{"stdin": "1 2\n", "stdout": "3\n"}, {"stdin": "2 1\n", "stdout": "3\n"}]},
    "call": {"fn_name": "add", "tests": [{"args": [1, 2], "expected": 3}, {"args": [2, 1], "expected": 3}]},
    "script": {"test_script": "assert add(1, 2) == 3\nassert add(2, 1) == 3\n"},
}


@pytest.mark.bwrap
def test_hostile_responses_never_raise_never_error_never_correct():
    verifier = get_verifier("code", backend="bwrap", **QUICK)
    pairs = [(resp, ref) for resp in HOSTILE.values() for ref in HOSTILE_REFS.values()]
    verdicts = verifier.verify_batch(pairs)
    labels = [(name, style) for name in HOSTILE for style in HOSTILE_REFS]
    for (name, style), verdict in zip(labels, verdicts, strict=True):
        if name == "fork bomb at load" and style != "stdio":
            # The bomb goes off at load, in the calls' process, whose copies answer too: `add` is right anyway.
            assert verdict.status in ("correct", "incorrect", "timeout"), (name, style, verdict)
            continue
        assert verdict.status in ("incorrect", "unparsed", "timeout"), (name, style, verdict)
        assert 0.0 <= verdict.reward < 1.0, (name, style, verdict)


@pytest.mark.bwrap
def test_random_text_is_never_correct():
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies
    verifier = get_verifier("code", backend="bwrap", **QUICK)
    ref = HOSTILE_REFS["stdio"]
    seen = []

    @hypothesis.settings(max_examples=15, deadline=None, database=None)
    @hypothesis.given(st.text(max_size=300) | st.builds(lambda s: f"```python\n{s}\n```", st.text(max_size=200)))
    def check(text):
        verdict = verifier.verify(text, ref)
        seen.append(verdict.status)
        assert verdict.status in ("incorrect", "unparsed", "timeout"), (text, verdict)

    check()
    assert seen


# --- status mapping without a sandbox ---------------------------------------------------------------


class FakeSandbox:
    """Records what would enter the sandbox and returns a canned ExecResult."""

    def __init__(self, result: ExecResult | Exception):
        self.result, self.files = result, {}

    def run(self, argv, files=None, stdin=b"", limits=None):
        self.files = dict(files or {})
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


def with_fake(result) -> tuple[CodeVerifier, FakeSandbox]:
    verifier, fake = CodeVerifier(**QUICK), FakeSandbox(result)
    verifier.__dict__["sandbox"] = fake
    return verifier, fake


def test_sandbox_failure_is_error_not_the_models_fault():
    ref = HOSTILE_REFS["stdio"]
    verifier, _ = with_fake(ExecResult("error", None, "", "", 0.0, "bwrap: setting up uid map: Permission denied"))
    verdict = verifier.verify("```python\nprint(3)\n```", ref)
    assert (verdict.status, verdict.reward) == ("error", 0.0)
    verifier, _ = with_fake(SandboxUnavailable("no safe sandbox backend is available"))
    assert verifier.verify("```python\nprint(3)\n```", ref).status == "error"


def test_expected_values_never_enter_the_sandbox_and_nothing_runs_here(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("model code compiled or executed in the verifier's process")

    secret = "7319046658"
    refs = [
        {"tests": [{"stdin": "1\n", "stdout": secret + "\n"}]},
        {"fn_name": "f", "tests": [{"args": [1], "expected": int(secret)}]},
        {"input_output": {"inputs": [[1]], "outputs": [[int(secret)]], "fn_name": "f"}},
    ]
    monkeypatch.setattr(builtins, "compile", refuse)
    monkeypatch.setattr(builtins, "exec", refuse)
    for ref in refs:
        verifier, fake = with_fake(ExecResult("ok", 0, '{"ready": true}\n', "", 0.0))
        verdict = verifier.verify(f"```python\ndef f(x):\n    return {secret}\n```", ref)
        assert verdict.status == "incorrect"  # no result lines came back
        assert fake.files and all(secret.encode() not in v for k, v in fake.files.items() if k != "main.py")


def test_malformed_harness_output_scores_zero():
    ref = HOSTILE_REFS["call"]
    forged = '{"load": "ok"}\n{"case": 0, "exit": 0, "info": {"ok": true, "value": 3}}\n' * 2
    verifier, _ = with_fake(ExecResult("ok", 0, '{"ready": true}\n' + forged, "", 0.0))
    verdict = verifier.verify("```python\ndef add(a, b):\n    return 0\n```", ref)
    assert (verdict.status, verdict.reward) == ("incorrect", 0.0)
    assert "tampered" in verdict.detail


def test_harness_failure_before_ready_is_ours_after_it_the_programs():
    """Only our harness writes before `ready` (no model code has run yet); after it, any line may be forged."""
    ref, program = HOSTILE_REFS["call"], "```python\ndef add(a, b):\n    return a + b\n```"
    fatal = '{"fatal": "forged", "phase": "harness"}\n'
    for stdout, status in [(fatal, "error"), ("", "error"), ('{"ready": true}\n' + fatal, "incorrect")]:
        verifier, _ = with_fake(ExecResult("ok", 0, stdout, "", 0.0))
        assert verifier.verify(program, ref).status == status, stdout


@pytest.mark.parametrize(
    "reference",
    [
        {},
        {"tests": []},
        {"tests": [{"stdin": "1"}]},
        {"tests": [{"stdout": "1"}], "test_script": "assert True"},
        {"tests": [{"stdout": "1", "expected": 1}]},
        {"fn_name": "not an identifier", "tests": [{"args": [], "expected": 1}]},
        {"fn_name": "f", "tests": [{"args": {}, "expected": 1}]},
        {"tests": [{"stdout": "1"}], "float_tol": -1},
        {"tests": [{"stdout": "1"}], "mode": "most"},
        {"tests": [{"stdout": "1"}], "language": "cobol"},
        {"tests": [{"stdout": "1"}], "timeout": 3},
        {"input_output": {"inputs": ["1"], "outputs": []}},
        {"input_output": "not json"},
        {"test_script": "assert (", "entry_point": "f"},
        {"test_script": "assert f()", "entry_point": "f()"},
        "[1, 2]",
        42,
    ],
)
def test_bad_reference_is_error(reference):
    verifier, fake = with_fake(ExecResult("ok", 0, "", "", 0.0))
    verdict = verifier.verify("```python\nprint(1)\n```", reference)
    assert verdict.status == "error"
    assert "bad reference" in verdict.detail
    assert fake.files == {}


def test_constructor_validates_options():
    for bad in (
        {"mode": "best"},
        {"test_timeout_s": 0},
        {"total_timeout_s": float("inf")},
        {"memory_mb": 8},
        {"backend": "gvisor"},
    ):
        with pytest.raises(ValueError):
            CodeVerifier(**bad)
    assert isinstance(get_verifier("code", mode="all"), CodeVerifier)


# --- extraction ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "program"),
    [
        ("print(1)", "print(1)"),
        ("```python\nprint(1)\n```", "print(1)"),
        ("```python\nprint(1)\n```\n```python\nprint(2)\n```", "print(2)"),
        ("```python\nprint(1)\n```\n```\nprint(2)\n```", "print(1)"),
        ("```\nprint(1)\n```\n```text\n1\n```", "print(1)"),
        ("```Python3 title='sol'\nprint(1)\n```", "print(1)"),
        ("~~~py\nprint(1)\n~~~", "print(1)"),
        ("````python\ns = '''\n```\n'''\nprint(s)\n````", "s = '''\n```\n'''\nprint(s)"),
        ("Intro\n```python\nprint(1)", "print(1)"),
        # an indented fence (a list item): its indentation is removed from the body, as in CommonMark
        ("  ```python\n  print(1)\n  ```", "print(1)"),
        ("1. Code:\n    ```python\n    def f():\n        return 1\n    ```", "def f():\n    return 1"),
        ("```python\r\nprint(1)\r\n```\r\n", "print(1)"),
        # only what follows the reasoning: code drafted inside <think> is not the answer
        ("<think>\n```python\nprint(1)\n```\n</think>\n```python\nprint(2)\n```", "print(2)"),
        ("<think>\n```python\nprint(1)\n```\n</think>\nI give up.", "\nI give up."),
    ],
)
def test_extract_program(response, program):
    assert extract_program(response, PY)[0] == program


@pytest.mark.parametrize(
    "response", ["", " \n ", "```python\n```", "```cpp\nint main(){}\n```", "```js\n1\n```\n```text\nx\n```"]
)
def test_extract_nothing(response):
    program, why = extract_program(response, PY)
    assert program is None and why


def test_extract_program_prefers_the_block_defining_the_tested_functions():
    solution, usage = "def add(a, b):\n    return a + b", "print(add(1, 2))"
    response = f"```python\n{solution}\n```\nExample usage:\n```python\n{usage}\n```"
    assert extract_program(response, PY, ("add",))[0] == solution
    assert extract_program(response, PY)[0] == usage  # no names: the last block, as before
    leetcode = "class Solution:\n    def twoSum(self, nums, target):\n        return [0, 1]"
    assert extract_program(f"```python\n{leetcode}\n```\n```python\nprint(1)\n```", PY, ("twoSum",))[0] == leetcode
    # a later block that defines the function wins; no block defines it: the last block
    later = f"```python\n{solution}\n```\n```python\n{solution} + 1\n```"
    assert extract_program(later, PY, ("add",))[0].endswith("+ 1")
    assert extract_program(f"```python\n{usage}\n```\n```python\nx = 1\n```", PY, ("add",))[0] == "x = 1"


def test_fenced_blocks_is_linear_on_unclosed_fences():
    text = "```python\n" * 200_000
    blocks = fenced_blocks(text)
    assert len(blocks) == 1 and blocks[0][0] == "python"


# --- comparison ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("got", "expected", "tol", "same"),
    [
        ("3\n", "3", None, True),
        ("3  \n\n\n", "3\n", None, True),
        ("1 2\r\n3\r\n", "1 2\n3\n", None, True),
        (" 3\n", "3\n", None, False),
        ("1  2\n", "1 2\n", None, False),
        ("1\n\n2\n", "1\n2\n", None, False),
        ("", "\n", None, True),
        ("0.3333333\n", "0.333333333\n", 1e-6, True),
        ("0.334\n", "0.333\n", 1e-6, False),
        ("1e-3 x\n", "0.001 x\n", 1e-9, True),
        ("1.0 YES\n", "1 NO\n", 1e-6, False),
        ("1.0\n2.0\n", "1.0\n", 1e-6, False),
        ("1.0 2.0\n", "1.0\n", 1e-6, False),
        ("1_0\n", "10\n", 1e-6, False),
        ("nan\n", "nan\n", 1e-6, True),
        ("1.0\n", "1\n", None, False),
    ],
)
def test_outputs_match(got, expected, tol, same):
    assert outputs_match(got, expected, tol) is same


@pytest.mark.parametrize(
    ("got", "expected", "tol", "same"),
    [
        ([1, 2], (1, 2), None, True),
        (3, 3.0, None, True),
        (True, 1, None, False),
        (1, True, None, False),
        (False, False, None, True),
        ("3", 3, None, False),
        (None, None, None, True),
        (None, 0, None, False),
        ({"a": [1, (2, 3)]}, {"a": [1, [2, 3]]}, None, True),
        ({"a": 1}, {"a": 1, "b": 2}, None, False),
        ({"1": 2}, {1: 2}, None, True),
        (0.1 + 0.2, 0.3, None, False),
        (0.1 + 0.2, 0.3, 1e-9, True),
        ([1.0000001], [1], 1e-6, True),
        (10**30, 10**30 + 1, None, False),
        (float("nan"), float("nan"), None, True),
        ([[]], [], None, False),
    ],
)
def test_values_match(got, expected, tol, same):
    assert values_match(got, expected, tol) is same


# --- references ---------------------------------------------------------------------------------------


def test_reference_layouts():
    ref = parse_reference(json.dumps({"input_output": json.dumps({"inputs": [["1", "2"]], "outputs": [["3"]]})}))
    assert ref.style == "stdio" and ref.stdio[0].stdin == "1\n2" and ref.stdio[0].stdout == "3"
    ref = parse_reference({"input_output": {"inputs": [[1, 2]], "outputs": [[3]], "fn_name": "add"}})
    assert ref.style == "call" and ref.calls[0].args == [1, 2] and ref.calls[0].expected == ([3], 3)
    ref = parse_reference({"fn_name": "f", "tests": [{"kwargs": {"x": 1}, "expected": None}], "float_tol": 1e-6})
    assert ref.calls[0].args == [] and ref.calls[0].kwargs == {"x": 1} and ref.float_tol == 1e-6


def test_split_script_converts_asserts_and_keeps_the_rest():
    script = (
        '"""doc"""\nimport math\ndef helper(x):\n    assert x == 1\n    return x\ns = [1]\nassert f(1) == 2\n'
        "check(f)\nfor i in range(2):\n    assert f(i) == i + 1\nassert (lambda a: a == 1)(1)\nassert f(s) == 1\n"
        "for i in range(2):\n    print(i)\n    assert f(i)\n"
    )
    checks, calls, statements, names = split_script(script)
    assert [c is not None for c in checks] == [True, False, True, False, False, False]
    # `assert f(1) == 2` and the loop run f(1), f(0), f(1) in the sandbox; the host compares
    assert calls == [Call("f", (1,), {}), Call("f", (0,), {}), Call("f", (1,), {})]
    assert [s.case for s in statements] == [None, None, None, None, 1, 3, 4, 5]
    assert [s.line for s in statements] == [1, 2, 3, 6, 8, 11, 12, 13]
    assert statements[-2].code == "assert f(s) == 1"  # a script variable: stays a residual statement
    assert names == ("check", "f")  # the names the residual takes from the program (not defined by the script)
    assert all("f(1)" not in s.code for s in statements)  # its expected value never enters the sandbox
    only_setup = split_script("x = 1\ny = 2\n")
    assert only_setup[0] == (None,) and len(only_setup[2]) == 1 and only_setup[2][0].case == 0


def test_entry_point_check_is_inlined_on_the_host():
    ref = parse_reference(
        {
            "test_script": "def check(candidate):\n    assert candidate(1) == 1\n"
            "    assert abs(candidate(2) - 1) < 1e-6\n",
            "entry_point": "f",
        }
    )
    assert ref.n_tests == 2 and ref.statements == () and all(ref.checks)
    assert [(c.fn, c.args) for c in ref.calls] == [("f", (1,)), ("f", (2,))]
    mixed = parse_reference(
        {
            "test_script": "def check(candidate):\n    assert candidate(1) == 1\n    data = [2]\n"
            "    for x in data:\n        assert candidate(x) == x\n",
            "entry_point": "f",
        }
    )
    assert mixed.n_tests == 2 and mixed.checks[1] is None and mixed.statements[-1].code == "check(f)"
    assert "candidate(1)" not in mixed.statements[0].code  # the converted assert left the residual check


# --- Docker -------------------------------------------------------------------------------------------


@pytest.mark.docker
def test_docker_backend_agrees_on_a_few_cases():
    wanted = {
        "stdio_correct",
        "stdio_wrong",
        "stdio_syntax",
        "stdio_timeout",
        "call_correct",
        "call_hack",
        "script_hack",
    }
    picked, seen = [], set()
    for case in CASES:
        if case["category"] in wanted and case["category"] not in seen:
            seen.add(case["category"])
            picked.append(case)
    verifier = get_verifier("code", backend="docker", **QUICK)
    verdicts = verifier.verify_batch([(c["response"], c["reference"]) for c in picked])
    for case, verdict in zip(picked, verdicts, strict=True):
        assert verdict.status == case["expected"], (case["note"], verdict)
