"""Call cases share one process per program, in order; a case that crashes, exits, times out or returns too much
is reported as before and a fresh process (the program loaded again) takes the remaining cases (bwrap).

The program below records its calls in a global and returns [x, number of calls so far in this process], so the
expected values say which process served each case: the count goes on across cases in one process and starts
again at 1 in a fresh one.
"""

from __future__ import annotations

import pytest

from rlvr.verifiers import get_verifier
from rlvr.verifiers.code import LANGUAGES
from rlvr.verifiers.code_harness import decode
from rlvr.verifiers.code_reference import parse_reference

QUICK = {"test_timeout_s": 1.0, "total_timeout_s": 6.0}
COUNTING = """
import ctypes, os, sys, time
calls = []
def f(x):
    calls.append(x)
    if x == 2:
{bad}
    return [x, len(calls)]
"""
# The second of four cases misbehaves. Killed processes restart the count for cases 3 and 4; the others do not.
BAD = {
    "os._exit(0)": ("os._exit(0)", "crashed (exit code 0)", True),
    "segfault": ("ctypes.string_at(0)", "crashed (exit code 139)", True),
    "sleeps past the timeout": ("time.sleep(30)", "timeout", True),
    "returns megabytes": ("return 'x' * 3_000_000", "return value too large", True),
    "raises": ("raise ValueError('two')", "runtime error: ValueError: two", False),
    "raises SystemExit": ("sys.exit(0)", "runtime error: SystemExit: 0", False),
}


def fence(program: str) -> str:
    return f"```python\n{program}\n```"


def reference(expected: list) -> dict:
    return {"fn_name": "f", "tests": [{"args": [k + 1], "expected": e} for k, e in enumerate(expected)]}


def harness_lines(program: str, ref: dict, stop: bool = False) -> list[dict]:
    """The harness's result lines for a program (not a response) and a call reference, as the host reads them."""
    verifier = get_verifier("code", backend="bwrap", **QUICK)
    lines = verifier._run(LANGUAGES["python"], program, verifier._job(parse_reference(ref), "call", stop))
    assert isinstance(lines, list), lines
    return lines


def values(lines: list[dict]) -> dict[int, object]:
    return {m["case"]: decode(m["info"]["value"]) for m in lines if "case" in m and (m.get("info") or {}).get("ok")}


@pytest.mark.bwrap
@pytest.mark.parametrize("name", list(BAD))
def test_a_bad_case_fails_as_before_and_a_fresh_process_scores_the_rest(name):
    bad, why, restarts = BAD[name]
    program = fence(COUNTING.format(bad=" " * 8 + bad))
    later = [[3, 1], [4, 2]] if restarts else [[3, 3], [4, 4]]
    verdict = get_verifier("code", backend="bwrap", **QUICK).verify(program, reference([[1, 1], [2, 2], *later]))
    assert verdict.status == "incorrect", verdict
    assert verdict.reward == 0.75, verdict
    assert verdict.detail == f"3/4 tests passed; test 2: {why}", verdict


@pytest.mark.bwrap
def test_module_state_persists_across_the_cases_of_one_program():
    program = fence(COUNTING.format(bad="        pass"))
    verifier = get_verifier("code", backend="bwrap", **QUICK)
    assert verifier.verify(program, reference([[k, k] for k in range(1, 5)])).status == "correct"
    verdict = verifier.verify(program, reference([[k, 1] for k in range(1, 5)]))  # a process per case: not any more
    assert verdict.reward == 0.25, verdict


@pytest.mark.bwrap
def test_printing_megabytes_does_not_fail_a_call():
    program = fence(COUNTING.format(bad="        print('x' * 5_000_000)"))
    verdict = get_verifier("code", backend="bwrap", **QUICK).verify(program, reference([[k, k] for k in range(1, 5)]))
    assert verdict.status == "correct", verdict


@pytest.mark.bwrap
def test_all_passing_cases_are_served_by_one_fork():
    program = "import os\ndef f(x):\n    return [os.getpid(), os.getppid()]"
    lines = harness_lines(program, reference([None] * 8))
    got = values(lines)
    assert sorted(got) == list(range(8))
    assert len({pid for pid, _ in got.values()}) == 1  # one child for the eight cases
    assert len({ppid for _, ppid in got.values()}) == 1
    assert [m["exit"] for m in lines if "case" in m] == [0] * 8
    assert lines[0] == {"load": "ok"} and lines[-2] == {"done": True}


@pytest.mark.bwrap
def test_a_crash_forks_one_fresh_child_for_the_remaining_cases():
    program = "import os\ndef f(x):\n    if x == 2:\n        os._exit(3)\n    return os.getpid()"
    lines = harness_lines(program, reference([None] * 4))
    got = values(lines)
    assert sorted(got) == [0, 2, 3]
    assert got[2] == got[3] != got[0]
    crashed = next(m for m in lines if m.get("case") == 1)
    assert crashed["exit"] == 3 and crashed["info"] is None


@pytest.mark.bwrap
@pytest.mark.parametrize("bad", ["raise ValueError('two')", "time.sleep(30)", "os._exit(0)"])
def test_stop_on_failure_stops_the_harness_at_the_first_failure(bad):
    program = COUNTING.format(bad=" " * 8 + bad)
    lines = harness_lines(program, reference([None] * 4), stop=True)
    assert [m["case"] for m in lines if "case" in m] == [0, 1]
    verifier = get_verifier("code", backend="bwrap", early_stop=True, **QUICK)
    verdict = verifier.verify(fence(program), reference([[1, 1], [2, 2], [3, 3], [4, 4]]))
    assert verdict.reward == 0.25 and "test 3: not run (stopped at the first failure)" in verdict.detail, verdict


@pytest.mark.bwrap
def test_each_case_has_its_own_time_limit_in_a_shared_process():
    program = fence("import time\ndef f(x):\n    time.sleep(0.6)\n    return x")
    verdict = get_verifier("code", backend="bwrap", **QUICK).verify(program, reference([1, 2, 3, 4]))
    assert verdict.status == "correct", verdict  # 2.4 s in one process; each case took 0.6 s of its 1 s


@pytest.mark.bwrap
def test_a_fresh_process_that_fails_to_load_fails_its_case_only():
    # The first load leaves a marker; every later load raises. Case 2 crashes: cases 3 and 4 each get a fresh
    # process, whose load fails.
    program = fence(
        "import os\nif os.path.exists('marker'):\n    raise ImportError('loaded twice')\nopen('marker', 'w').close()\n"
        "def f(x):\n    if x == 2:\n        os._exit(1)\n    return x"
    )
    verdict = get_verifier("code", backend="bwrap", **QUICK).verify(program, reference([1, 2, 3, 4]))
    assert verdict.reward == 0.25, verdict
    assert "test 3: the program failed to load: ImportError: loaded twice" in verdict.detail, verdict


@pytest.mark.bwrap
def test_a_missing_function_fails_its_case_and_the_next_case_runs():
    program = fence("def f(x):\n    return x")
    script = {"test_script": "assert f(1) == 1\nassert g(2) == 2\nassert f(3) == 3\n"}
    verdict = get_verifier("code", backend="bwrap", **QUICK).verify(program, script)
    assert verdict.reward == 2 / 3, verdict
    assert "test 2: the program failed to load: no function 'g'" in verdict.detail, verdict


@pytest.mark.bwrap
def test_the_byte_cap_bounds_each_case_not_the_process():
    # Four values of 0.6 MiB (2.4 MiB through one process) pass; one of 1.2 MiB is over the 1 MiB cap on its own.
    program = fence("def f(x):\n    return 'x' * (x * 600_000)")
    verifier = get_verifier("code", backend="bwrap", **QUICK)
    big = {"fn_name": "f", "tests": [{"args": [1], "expected": "x" * 600_000}] * 4}
    assert verifier.verify(program, big).status == "correct"
    ref = {"fn_name": "f", "tests": [{"args": [1], "expected": "x" * 600_000}, {"args": [2], "expected": "x"}] * 2}
    verdict = verifier.verify(program, ref)
    assert verdict.detail == "2/4 tests passed; test 2: return value too large; test 4: return value too large"
