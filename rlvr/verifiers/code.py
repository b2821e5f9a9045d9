"""The code verifier: run the program from a response against tests in a sandbox; reward = fraction passed.

    v = get_verifier("code")                    # options: mode="fraction"|"all", early_stop, test_timeout_s,
    v.verify(response, {"tests": [...]})        #   total_timeout_s, memory_mb, output_bytes, backend="auto"

The program is the last ```python block (see rlvr/verifiers/code_extract.py); the reference schema (stdin/stdout,
function-call, assert-script and APPS/TACO layouts) is in rlvr/verifiers/code_reference.py.

Harness: ONE fresh sandbox run per response, whatever the number of tests (bwrap costs ~30 ms a run; an
interpreter start ~20 ms more). Inside, rlvr/verifiers/code_harness.py compiles the program (so a syntax error
is reported by the sandboxed Python; nothing of the model's is compiled or run in this process), then:
stdin/stdout tests each run in a forked child, a fresh process executing the program as `__main__`; function
calls each run in a forked child of a process that loaded the program once; assert scripts run statement by
statement in the loaded program's process. Per-test time is enforced inside the sandbox (a child is killed at
its deadline; a watchdog kills a stuck load or script statement), total time by the sandbox's wall clock.
Outputs and return values come back to the host, which compares them: expected outputs never enter the sandbox.
On 2 busy shared cores (bwrap) a 5-test stdin/stdout problem ran at 7.4 items/s single-threaded this way against
3.4 with one sandbox run per test. Each test may print (or return, as JSON) twice its expected size plus 64 KiB,
capped at `output_bytes` unless the expected answer itself is larger.

Status: every test passed -> correct (reward 1). Some failed -> incorrect, reward = fraction passed ("fraction",
ProRL's choice and the default) or 0 ("all"); with early_stop (implied by "all") the run stops at the first
failure it can see and later tests count as failed. No test passed and every one that ran timed out -> timeout.
A syntax error, a load failure or a missing function -> incorrect, reward 0, the detail says which. No program
-> unparsed. The sandbox failing (ExecResult status "error", SandboxUnavailable) or a bad reference -> error,
which the trainer masks: the model is never blamed for our infrastructure.

Trust limits. stdin/stdout and function-call tests are sound against a hostile program: it never sees the
expected values and the host decides, so the most it can forge is its own outputs (a duplicated or malformed
result line voids the run). Assert scripts are not: the asserts run in the program's own process, so a program
written to attack the harness (finding the private result fd, rebinding `__rlvr_eq__` or builtins at run time)
can forge passes. What is covered: exit(0) / sys.exit() / os._exit(0) before or during the asserts (a test
passes only on a positive "passed" record, never by absence of failure), SystemExit raised in the function,
fake pass markers printed to stdout, and objects whose __eq__ always returns True (`==` in asserts requires
plain data to equal plain data). Prefer function-call references where the data allows.

Not handled: languages other than Python (LANGUAGES leaves room), special judges (several correct outputs),
interactive problems, functions checked by mutating their arguments in place, per-problem time limits.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rlvr.verifiers.base import Verdict, Verifier
from rlvr.verifiers.code_extract import extract_program, outputs_match, values_match
from rlvr.verifiers.code_reference import MODES, CodeReference, parse_reference

_MiB = 1 << 20
_STARTUP_S = 2.0  # sandbox wall clock on top of the tests' total: interpreter start and reporting


def _python_syntax_detail(report: dict[str, Any]) -> str:
    line = report.get("line")
    where = f": line {line}" if line else ""
    return f"{report.get('kind', 'SyntaxError')}{where} ({report.get('msg', '')})"


@dataclasses.dataclass(frozen=True)
class Language:
    """How to run one language. Compiled languages would add a compile step before the harness."""

    name: str
    tags: tuple[str, ...]  # fence info strings that select it; the first names it in messages
    argv: tuple[str, ...]  # runs the harness in the work dir
    syntax_detail: Callable[[dict[str, Any]], str]  # harness's syntax report -> "SyntaxError: line 3 (...)"


LANGUAGES: dict[str, Language] = {
    "python": Language("python", ("python", "py", "python3", "py3"), ("python3", "harness.py"), _python_syntax_detail),
}


@functools.cache
def harness_source() -> str:
    return (Path(__file__).parent / "code_harness.py").read_text(encoding="utf-8")


@dataclasses.dataclass
class _Outcome:
    """One test's result: passed, or the reason it did not ("wrong answer", "timeout", ...)."""

    passed: bool = False
    why: str = "not run"

    @property
    def timeout(self) -> bool:
        return self.why.startswith("timeout")


class CodeVerifier(Verifier):
    """Runs the response's program against the reference's tests in a sandbox (see the module docstring)."""

    name = "code"
    concurrent = True

    def __init__(
        self,
        mode: str = "fraction",
        early_stop: bool = False,
        test_timeout_s: float = 4.0,
        total_timeout_s: float = 30.0,
        memory_mb: int = 512,
        output_bytes: int = _MiB,
        backend: str = "auto",
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        for field, value in (("test_timeout_s", test_timeout_s), ("total_timeout_s", total_timeout_s)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
                raise ValueError(f"{field} must be a positive number of seconds, got {value!r}")
        if not isinstance(memory_mb, int) or memory_mb < 64:
            raise ValueError(f"memory_mb must be an integer of at least 64, got {memory_mb!r}")
        if not isinstance(output_bytes, int) or output_bytes < 1024:
            raise ValueError(f"output_bytes must be an integer of at least 1024, got {output_bytes!r}")
        if backend not in ("auto", "bwrap", "docker", "process"):
            raise ValueError(f"backend must be one of auto, bwrap, docker, process; got {backend!r}")
        self.mode, self.early_stop = mode, bool(early_stop)
        self.test_timeout_s, self.total_timeout_s = float(test_timeout_s), float(total_timeout_s)
        self.memory_mb, self.output_bytes, self.backend = memory_mb, output_bytes, backend

    @functools.cached_property
    def sandbox(self):
        from rlvr.sandbox import get_sandbox

        sandbox = get_sandbox(self.backend)
        if hasattr(sandbox, "precompile"):  # bwrap: its spares compile the harness ahead
            sandbox.precompile("harness.py", harness_source())
        return sandbox

    def _verify(self, response: str, reference: Any) -> Verdict:
        try:
            ref = parse_reference(reference)
            language = LANGUAGES.get(ref.language)
            if language is None:
                raise ValueError(f"code reference: language {ref.language!r} is not one of {sorted(LANGUAGES)}")
        except ValueError as e:
            return Verdict("error", 0.0, None, f"bad reference (data bug, not the model's fault): {e}"[:500])
        if not isinstance(response, str):
            return Verdict("unparsed", 0.0, None, f"response is {type(response).__name__}, not text")
        program, how = extract_program(response, language.tags)
        if program is None:
            return Verdict("unparsed", 0.0, None, how)
        if "\0" in program:
            return Verdict("incorrect", 0.0, program, "SyntaxError: the program contains NUL bytes")
        mode = ref.mode or self.mode
        stop = self.early_stop or mode == "all"

        from rlvr.sandbox import Limits, SandboxUnavailable

        job, files, out_cap, disk = self._job(ref, program, stop)
        limits = Limits(
            wall_s=self.total_timeout_s + _STARTUP_S,
            cpu_s=self.total_timeout_s + _STARTUP_S,
            memory_mb=self.memory_mb,
            pids=32,
            output_bytes=out_cap,
            disk_mb=disk,
        )
        try:
            res = self.sandbox.run(list(language.argv), files=files, limits=limits)
        except SandboxUnavailable as e:
            return Verdict("error", 0.0, program, f"sandbox unavailable: {e}"[:500])
        if res.status == "error":
            return Verdict("error", 0.0, program, f"sandbox failed: {res.detail}"[:500])
        return self._score(ref, language, program, res, mode, stop)

    def _job(self, ref: CodeReference, program: str, stop: bool) -> tuple[dict, dict[str, bytes], int, int]:
        """The harness's job.json (no expected values), the work-dir files, the output byte cap and disk MB."""
        job: dict[str, Any] = {
            "mode": ref.style,
            "test_timeout_s": self.test_timeout_s,
            "total_timeout_s": self.total_timeout_s,
            "stop_on_failure": stop,
        }
        # surrogatepass: a lone surrogate in the response becomes invalid UTF-8, a syntax error in the sandbox.
        files = {"harness.py": harness_source().encode(), "main.py": program.encode("utf-8", "surrogatepass")}
        if ref.style == "stdio":
            job["cases"] = []
            for i, case in enumerate(ref.stdio):
                files[f"in/{i}"] = case.stdin.encode("utf-8", "surrogatepass")
                job["cases"].append({"stdin": f"in/{i}", "cap": self._cap(len(case.stdout.encode()))})
            out_cap = sum(c["cap"] * 4 // 3 + 512 for c in job["cases"])  # stdout travels base64-encoded
        elif ref.style == "call":
            job["fn_name"] = ref.fn_name
            job["cases"] = []
            for c in ref.calls:
                size = max(len(json.dumps(e)) for e in c.expected)
                job["cases"].append({"args": c.args, "kwargs": c.kwargs, "cap": self._cap(size)})
            out_cap = sum(2 * c["cap"] + 1024 for c in job["cases"])  # the harness's own bound on a result line
        else:
            job["statements"] = [{"code": s.code, "line": s.line, "case": s.case} for s in ref.statements]
            out_cap = len(ref.statements) * 1024
        files["job.json"] = json.dumps(job).encode()
        disk = 16 + sum(len(v) for v in files.values()) // _MiB
        return job, files, out_cap + 65536, disk

    def _cap(self, expected_bytes: int) -> int:
        """Bytes one test may print (or return as JSON): room for the answer, at most `output_bytes` beyond that.

        Twice the expected size plus 64 KiB, capped at `output_bytes`, but never below the expected size plus
        4 KiB. Output past the cap is wrong anyway; small caps keep a flood from costing host memory.
        """
        return max(expected_bytes + 4096, min(self.output_bytes, 2 * expected_bytes + 65536))

    def _score(self, ref: CodeReference, language: Language, program: str, res, mode: str, stop: bool) -> Verdict:
        outcomes = [_Outcome() for _ in range(ref.n_tests)]
        seen: set[int] = set()
        load: dict[str, Any] | None = None
        done = False
        stopped_by = ""  # why the tests after the last reported one did not run
        complete = res.stdout.split("\n")[:-1]  # a partial last line (a run cut off mid-write) is ignored
        for raw in complete:
            try:
                msg = json.loads(raw)
            except (ValueError, RecursionError):
                return Verdict("incorrect", 0.0, program, "harness output was tampered with (malformed line)")
            if not isinstance(msg, dict):
                return Verdict("incorrect", 0.0, program, "harness output was tampered with (not an object)")
            if "fatal" in msg:
                if msg.get("phase") == "model":
                    return Verdict("incorrect", 0.0, program, f"the program broke the test harness: {msg['fatal']}")
                return Verdict("error", 0.0, program, f"test harness failed: {msg['fatal']}"[:500])
            if "done" in msg:
                done = True
            elif "load" in msg:
                load = msg
            elif "setup" in msg:
                stopped_by = f"test set-up at line {msg.get('line')} failed: {msg.get('exc', 'timeout')}"
            elif "case" in msg:
                i = msg["case"]
                if not isinstance(i, int) or not 0 <= i < ref.n_tests or i in seen:
                    return Verdict("incorrect", 0.0, program, "harness output was tampered with (bad test index)")
                seen.add(i)
                outcomes[i] = self._case_outcome(ref, i, msg)
        # The sandbox reports SIGKILL as a timeout (RLIMIT_CPU's hard limit sends it). Our CPU limit is above the
        # wall-clock total, so a SIGKILL well before the total is the program killing the harness, not time.
        run_status = res.status
        if run_status == "timeout" and res.wall_s < self.total_timeout_s:
            run_status = "killed"
        if load is None or load.get("load") != "ok":
            return self._load_failure(language, program, load, run_status, res)
        if not stopped_by and len(seen) < ref.n_tests:
            last = outcomes[max(seen)] if seen else None
            if done:  # the harness finished normally: it stopped at a failure (early_stop)
                stopped_by = "not run (stopped at the first failure)"
            elif ref.style == "script" and last is not None and last.why == "timeout":
                stopped_by = "not run (an earlier test timed out)"
            elif run_status == "timeout":
                stopped_by = "timeout (total time limit)"
            elif run_status in ("memory", "output_limit"):
                stopped_by = f"{run_status.replace('_', ' ')} (the run was stopped)"
            else:
                stopped_by = "the program ended the test run early"
        for o in outcomes:
            if not o.passed and o.why == "not run" and stopped_by:
                o.why = stopped_by
        return self._verdict(outcomes, program, mode, stop)

    def _case_outcome(self, ref: CodeReference, i: int, msg: dict[str, Any]) -> _Outcome:
        if msg.get("timeout"):
            return _Outcome(False, "timeout (total time limit)" if msg.get("total") else "timeout")
        if msg.get("fork_error"):
            return _Outcome(False, f"could not start: {msg['fork_error']}")
        if ref.style == "script":
            if msg.get("ok") is True:
                return _Outcome(True, "passed")
            return _Outcome(False, "assertion failed" if msg.get("assert") else f"error: {msg.get('exc')}")
        if msg.get("over"):
            return _Outcome(False, "output limit exceeded" if ref.style == "stdio" else "return value too large")
        info = msg.get("info") if isinstance(msg.get("info"), dict) else {}
        exc = str(info.get("exc", ""))
        if exc.startswith("MemoryError"):
            return _Outcome(False, "memory limit")
        if ref.style == "stdio":
            if msg.get("exit") != 0:
                why = f"runtime error: {exc}" if exc else f"runtime error (exit code {msg.get('exit')})"
                return _Outcome(False, why)
            try:
                got = base64.b64decode(msg.get("stdout", ""), validate=True).decode("utf-8", "replace")
            except (binascii.Error, ValueError, TypeError):
                return _Outcome(False, "unreadable output")
            ok = outputs_match(got, ref.stdio[i].stdout, ref.float_tol)
            return _Outcome(ok, "passed" if ok else "wrong answer")
        if info.get("ok") is not True or msg.get("exit") != 0 or "value" not in info:
            return _Outcome(False, f"runtime error: {exc}" if exc else f"crashed (exit code {msg.get('exit')})")
        try:
            ok = any(values_match(info["value"], e, ref.float_tol) for e in ref.calls[i].expected)
        except RecursionError:
            ok = False
        return _Outcome(ok, "passed" if ok else "wrong answer")

    @staticmethod
    def _load_failure(language: Language, program: str, load: dict[str, Any] | None, run_status: str, res) -> Verdict:
        if load is None:
            what = {"timeout": "timed out", "memory": "ran out of memory", "output_limit": "flooded the output"}
            ended = "killed" if run_status == "killed" else res.detail or f"exit code {res.exit_code}"
            why = what.get(run_status, f"ended before any test ran ({ended})")
            return Verdict("timeout" if run_status == "timeout" else "incorrect", 0.0, program, f"the program {why}")
        kind = load.get("load")
        if kind == "syntax":
            return Verdict("incorrect", 0.0, program, language.syntax_detail(load))
        if kind == "timeout":
            return Verdict("timeout", 0.0, program, "loading the program timed out")
        if kind == "exit":
            return Verdict("incorrect", 0.0, program, f"the program exited (code {load.get('code')}) while loading")
        if kind == "missing":
            return Verdict("incorrect", 0.0, program, str(load.get("exc")))
        return Verdict("incorrect", 0.0, program, f"the program failed to load: {load.get('exc')}")

    @staticmethod
    def _verdict(outcomes: list[_Outcome], program: str, mode: str, stop: bool) -> Verdict:
        if stop:  # later tests count as failed: a run that stops early must not score what it skipped
            first_fail = next((k for k, o in enumerate(outcomes) if not o.passed), len(outcomes))
            for o in outcomes[first_fail + 1 :]:
                if o.passed or o.why == "not run":
                    o.passed, o.why = False, "not run (stopped at the first failure)"
        n, passed = len(outcomes), sum(o.passed for o in outcomes)
        failures = [f"test {k + 1}: {o.why}" for k, o in enumerate(outcomes) if not o.passed]
        detail = f"{passed}/{n} tests passed"
        if failures:
            detail += "; " + "; ".join(failures[:3]) + (f"; ... {len(failures) - 3} more" if len(failures) > 3 else "")
        if passed == n:
            return Verdict("correct", 1.0, program, detail)
        ran = [o for o in outcomes if not o.why.startswith("not run")]
        if passed == 0 and ran and all(o.timeout for o in ran):
            return Verdict("timeout", 0.0, program, detail)
        return Verdict("incorrect", passed / n if mode == "fraction" else 0.0, program, detail)
