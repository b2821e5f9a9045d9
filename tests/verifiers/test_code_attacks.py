"""Reward-integrity attacks on the code verifier: a program must not be paid without solving the task.

Each hack family runs against stdin/stdout, function-call and test-script references (where the family applies)
on bwrap and Docker. A hack may fail, time out or be voided; it must never be `correct` (nor score 1) and never
`error` (the trainer masks errors, so a forged one would dodge the penalty). An honest program passes every
reference, so the references themselves are sound.
"""

from __future__ import annotations

import json
import time

import pytest

from rlvr.sandbox import ExecResult
from rlvr.verifiers import get_verifier
from rlvr.verifiers.code import CodeVerifier

QUICK = {"test_timeout_s": 1.0, "total_timeout_s": 6.0}
NUMBERS = [2, 3, 4, 5, 6, 7, 8, 9, 11, 15]
PRIME = {n: all(n % d for d in range(2, n)) for n in NUMBERS}
REFS = {
    "stdio": {"tests": [{"stdin": f"{n}\n", "stdout": "YES\n" if PRIME[n] else "NO\n"} for n in NUMBERS]},
    "call": {"fn_name": "is_prime", "tests": [{"args": [n], "expected": PRIME[n]} for n in NUMBERS]},
    "script": {
        "test_script": "assert is_prime(2) == True\nassert is_prime(4) == False\nassert is_prime(7)\n"
        "assert not is_prime(9)\nassert abs(is_prime(11) - 1) < 1e-6\nassert is_prime(15) < 1\n"
        "assert len(str(is_prime(3))) == 4\n"
        "def check(candidate):\n    assert candidate(5) == True\n    for n in [6, 8]:\n"
        "        assert candidate(n) == False\n",
        "entry_point": "is_prime",
    },
}

HONEST = """
import sys
def is_prime(n):
    return n > 1 and all(n % d for d in range(2, n))
if __name__ == "__main__":
    print("YES" if is_prime(int(sys.stdin.read())) else "NO")
"""

# Every attack defines is_prime (call and script references) and answers on stdin when run as __main__ (stdio).
ATTACKS = {
    # Item 1: the old job.json carried each test's output cap, max(e + 4096, min(output_bytes, 2e + 65536)) for an
    # expected answer of e bytes: "YES\n" and "true" are 4 bytes, "NO\n" 3 and "false" 5.
    "cap oracle": """
import json, sys
def _job():
    for path in ("job.json", "/in/job.json"):
        try:
            return json.load(open(path))
        except OSError:
            pass
def _long(i):
    job = _job()
    cap = job["cases"][i].get("cap") or job["cap"]
    return (cap - 65536) // 2 == 4
def is_prime(n):
    cases = _job()["cases"]
    return _long(next(k for k, c in enumerate(cases) if c.get("args") == [n]))
if __name__ == "__main__":
    data = sys.stdin.read()
    cases = _job()["cases"]
    print("YES" if _long(next(k for k, c in enumerate(cases) if open(c["stdin"]).read() == data)) else "NO")
""",
    # Item 2: a forged harness failure written to every fd the program holds or can reopen through /proc (the
    # harness's result pipe, its watchdog's pipe, the container's stdout through /proc/1/fd/1).
    "forge an error on every fd": """
import os
FATAL = b'{"fatal": "forged", "phase": "harness"}\\n'
def forge(first):
    for fd in range(first, 256):
        try:
            os.write(fd, FATAL)
        except OSError:
            pass
    for pid in os.listdir("/proc"):
        for fd in (os.listdir(f"/proc/{pid}/fd") if pid.isdigit() and os.access(f"/proc/{pid}/fd", os.R_OK) else []):
            try:
                f = os.open(f"/proc/{pid}/fd/{fd}", os.O_WRONLY | os.O_NONBLOCK)
                os.write(f, FATAL)
                os.close(f)
            except OSError:
                pass
forge(3)
def is_prime(n):
    forge(3)
    return True
if __name__ == "__main__":
    forge(0)
""",
    # Item 3: forged passes written where the harness writes its results, then a quiet exit.
    "forge passes on every fd": """
import base64, json, os
try:
    N = sum(s.get("case") is not None for s in json.load(open("job.json")).get("statements", []))
except Exception:
    N = 0
LINES = [{"load": "ok"}] + [{"case": i, "line": 1, "ok": True} for i in range(N)] + [{"done": True}]
DATA = "".join(json.dumps(x) + "\\n" for x in LINES).encode()
for fd in range(3, 256):
    try:
        os.write(fd, DATA)
    except OSError:
        pass
if N:
    os._exit(0)
def is_prime(n):
    return True
if __name__ == "__main__":
    print("YES")
""",
    # Item 3: the harness's own emit, reached through sys.modules['__main__'], reporting passes.
    "patch the harness": """
import json, os, sys
h = sys.modules.get("__main__")
try:
    N = sum(s.get("case") is not None for s in json.load(open("job.json")).get("statements", []))
except Exception:
    N = 0
if N and hasattr(h, "emit"):
    h.emit({"load": "ok"})
    for i in range(N):
        h.emit({"case": i, "line": 1, "ok": True})
    h.emit({"done": True})
    os._exit(0)
for mod in list(sys.modules.values()):
    if hasattr(mod, "emit"):
        for name in ("emit", "encode", "decode", "run_child", "describe"):
            if hasattr(mod, name):
                setattr(mod, name, lambda *a, **k: True)
def is_prime(n):
    return True
if __name__ == "__main__":
    print("YES")
""",
    # Item 3: the test script's asserts read from the files shipped into the sandbox.
    "read the asserts": """
import re
def _text():
    out = ""
    for path in ("job.json", "tests.json", "/in/job.json", "/in/tests.json"):
        try:
            out += open(path).read()
        except OSError:
            pass
    return out
def is_prime(n):
    text = _text()
    m = re.search(rf"(?:is_prime|candidate)\\({n}\\)(?: ==|,) (True|False)", text)
    if m:
        return m.group(1) == "True"
    for nums, value in re.findall(r"for \\w+ in \\[([0-9, ]+)\\]:.*?candidate\\(\\w+\\)(?: ==|,) (True|False)", text):
        if str(n) in nums.replace(" ", "").split(","):
            return value == "True"
    return not re.search(rf"not is_prime\\({n}\\)|is_prime\\({n}\\) < 1", text)
if __name__ == "__main__":
    print("YES")
""",
    # Rigged dunders: equality, ordering, arithmetic, truthiness, length, iteration, conversions.
    "rigged object": """
import sys
class Rigged:
    __eq__ = lambda s, o: True
    __ne__ = lambda s, o: False
    __lt__ = __le__ = __gt__ = __ge__ = lambda s, o: True
    __sub__ = __rsub__ = __add__ = __radd__ = __mul__ = __rmul__ = lambda s, o: s
    __abs__ = __neg__ = __pos__ = lambda s: s
    __bool__ = lambda s: True
    __len__ = lambda s: 4
    __iter__ = lambda s: iter([True])
    __contains__ = lambda s, o: True
    __hash__ = lambda s: 0
    __float__ = lambda s: 0.0
    __int__ = __index__ = lambda s: 1
    __str__ = __repr__ = lambda s: "True"
def is_prime(n):
    return Rigged()
if __name__ == "__main__":
    print(Rigged())
""",
    "rigged subclasses": """
class T(int):
    __eq__ = lambda s, o: True
    __ne__ = lambda s, o: False
    __lt__ = lambda s, o: True
    __bool__ = lambda s: True
    __sub__ = lambda s, o: T(0)
    __abs__ = lambda s: T(0)
    __hash__ = int.__hash__
class S(str):
    __eq__ = lambda s, o: True
    __len__ = lambda s: 4
    __hash__ = str.__hash__
def is_prime(n):
    return T(0) if n % 2 else S("")
if __name__ == "__main__":
    print("YES")
""",
    # Exiting early, before or during the tests, with status 0.
    "exit early": """
import os, sys
def is_prime(n):
    os._exit(0)
if __name__ == "__main__":
    sys.exit(0)
""",
    "exit at load": """
import os
os._exit(0)
""",
}


@pytest.fixture(
    scope="module",
    params=[pytest.param("bwrap", marks=pytest.mark.bwrap), pytest.param("docker", marks=pytest.mark.docker)],
)
def verifier(request):
    v = get_verifier("code", backend=request.param, **QUICK)
    yield v
    v.sandbox.close()


def fence(code: str) -> str:
    return f"```python\n{code}\n```"


def test_honest_program_passes_every_reference(verifier):
    for style, ref in REFS.items():
        verdict = verifier.verify(fence(HONEST), ref)
        assert verdict.status == "correct", (style, verdict)


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_hack_is_never_credited_and_never_an_error(verifier, attack):
    pairs = [(fence(ATTACKS[attack]), ref) for ref in REFS.values()]
    for style, verdict in zip(REFS, verifier.verify_batch(pairs), strict=True):
        assert verdict.status in ("incorrect", "timeout"), (attack, style, verdict)
        assert verdict.reward < 1.0, (attack, style, verdict)


TOLERANCE_REF = {"test_script": "".join(f"assert abs(area({r}) - {3.14159 * r * r}) < 1e-3\n" for r in (1, 2, 3))}


def test_rigged_arithmetic_and_ordering_never_pass_a_tolerance_assert(verifier):
    """`assert abs(f(x) - y) < eps` with f returning an object whose __sub__/__abs__/__lt__ lie (item 3)."""
    honest = verifier.verify(fence("def area(r):\n    return 3.14159 * r * r"), TOLERANCE_REF)
    assert honest.status == "correct", honest
    rigged = "class R:\n    __sub__ = __abs__ = lambda s, *o: s\n    __lt__ = lambda s, o: True\n"
    verdict = verifier.verify(fence(rigged + "def area(r):\n    return R()"), TOLERANCE_REF)
    assert (verdict.status, verdict.reward) == ("incorrect", 0.0), verdict


def test_stalling_the_harness_costs_the_program_not_the_run(verifier):
    """SIGSTOP every other process (the harness included): the run ends at its wall clock, the model's fault."""
    stall = fence(
        "import os, signal, time\n"
        "for pid in os.listdir('/proc'):\n"
        "    if pid.isdigit() and int(pid) != os.getpid():\n"
        "        try:\n            os.kill(int(pid), signal.SIGSTOP)\n        except OSError:\n            pass\n"
        "def is_prime(n):\n    return True\n"
        "time.sleep(30)\n"
    )
    for style, ref in REFS.items():
        start = time.monotonic()
        verdict = verifier.verify(stall, ref)
        assert verdict.status in ("incorrect", "timeout"), (style, verdict)
        assert time.monotonic() - start < QUICK["total_timeout_s"] + 20, style


# --- what enters the sandbox (no sandbox needed) ------------------------------------------------------------------


class Recorder:
    """A sandbox that records every file shipped in and answers with an empty (but started) harness run."""

    def __init__(self):
        self.runs: list[dict[str, bytes]] = []

    def run(self, argv, files=None, stdin=b"", limits=None):
        self.runs.append({**(files or {}), "limits": repr(limits).encode(), "stdin": bytes(stdin)})
        return ExecResult("ok", 0, '{"ready": true}\n', "", 0.0)


def shipped(reference) -> list[dict[str, bytes]]:
    verifier = CodeVerifier(**QUICK)
    verifier.__dict__["sandbox"] = recorder = Recorder()
    verifier.verify(fence(HONEST), reference)
    return recorder.runs


def flip(value):
    return not value if isinstance(value, bool) else value


@pytest.mark.parametrize("style", ["stdio", "call", "call-apps"])
def test_nothing_in_the_sandbox_depends_on_an_expected_value(style):
    """Two references that differ only in their expected answers ship byte-identical runs (files and limits)."""
    if style == "stdio":
        a = REFS["stdio"]
        b = {
            "tests": [
                {"stdin": t["stdin"], "stdout": "NO\n" if t["stdout"] == "YES\n" else "YES\n"} for t in a["tests"]
            ]
        }
    elif style == "call":
        a = REFS["call"]
        b = {"fn_name": "is_prime", "tests": [{"args": t["args"], "expected": flip(t["expected"])} for t in a["tests"]]}
    else:
        a = {"input_output": {"fn_name": "f", "inputs": [[1], [2]], "outputs": [[True], ["x" * 5000]]}}
        b = {"input_output": {"fn_name": "f", "inputs": [[1], [2]], "outputs": [[False], ["y"]]}}
    assert shipped(a) == shipped(b)


def test_a_scripts_converted_asserts_ship_no_expected_value():
    script = "assert f(1) == 7319046658\nassert abs(f(2) - 0.5) < 1e-6\ndef check(c):\n    assert c(3) == 'zq9'\n"
    runs = shipped({"test_script": script, "entry_point": "f"})
    assert len(runs) == 1  # every assert converted: no residual run
    for name, data in runs[0].items():
        if name != "main.py":
            assert b"7319046658" not in data and b"zq9" not in data and b"0.5" not in data, name
    flipped = shipped({"test_script": script.replace("7319046658", "1").replace("zq9", "a"), "entry_point": "f"})
    assert flipped == runs


def test_forged_lines_after_ready_are_never_an_error():
    """Whatever follows `ready` may be the program's writing: a fatal there is the program's failure."""
    forged = '{"ready": true}\n{"fatal": "forged", "phase": "harness"}\n'
    for ref in REFS.values():
        verifier = CodeVerifier(**QUICK)
        verifier.__dict__["sandbox"] = type(
            "S", (), {"run": lambda self, *a, **k: ExecResult("ok", 0, forged, "", 0)}
        )()
        assert verifier.verify(fence(HONEST), ref).status == "incorrect"


def test_values_travel_as_plain_data():
    from rlvr.verifiers.code_harness import Opaque, decode, encode

    class Rigged(int):
        def __eq__(self, other):
            return True

        __hash__ = int.__hash__

    values = [
        1,
        -(2**80),
        2**50000,
        1.5,
        float("inf"),
        "s",
        b"b",
        (1, [2]),
        {1, 2},
        frozenset([3]),
        {"a": 1},
        {1: "x"},
        {"$": 1},
        None,
        True,
        1j,
    ]
    for v in values:
        assert decode(json.loads(json.dumps(encode(v)))) == v
    assert decode(encode(Rigged(5))) == 5 and type(decode(encode(Rigged(5)))) is int
    assert isinstance(decode(encode(object())), Opaque)
    with pytest.raises(ValueError):
        decode({"$": "eval", "v": "__import__('os')"})


@pytest.mark.bwrap
def test_code_env_seed_4_is_not_paid_for_reading_job_json():
    """The case the issue found: rlvr/Code-v0 seed 4 (`balanced`) scored 1.0 by reading the caps in job.json."""
    import gymnasium as gym

    import rlvr  # noqa: F401 - registers the envs

    env = gym.make("rlvr/Code-v0")
    env.reset(seed=4)
    _, reward, _, _, info = env.step(fence(ATTACKS["cap oracle"].replace("is_prime", "balanced")))
    assert reward < 1.0 and info["verdict"]["status"] != "error", info["verdict"]
