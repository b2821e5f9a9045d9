"""The test runner that runs INSIDE the sandbox for the code verifier (standard library only).

The verifier never imports this module to run it: it ships this file's text into the sandbox as `harness.py`
next to `main.py` (the model's program), `job.json` (the cases, never the expected answers) and `in/<i>`
(stdin of test i), and runs `python3 harness.py`. One sandbox run verifies one program, whatever the number
of tests.

Modes (`job["mode"]`):
  stdio   compile main.py here (a syntax error is reported as such; nothing of the model's runs in this
          process), then for each test fork a child that executes the compiled program as `__main__` with
          stdin from `in/<i>` and stdout into a pipe: a fresh process per test, without paying for a fresh
          interpreter. Its stdout goes back base64-encoded; the host compares it.
  call    execute the program once here as module `solution`, then for each case fork a child that calls the
          function (or `Solution().<name>`) and reports the return value as JSON; the host compares it.
  script  execute the program here, then the test script's top-level statements in order in this same
          process (so state carries from one statement to the next, as in a plain script). Each top-level
          assert (or expression statement, or compound statement holding an assert) is one case.

A forked test process differs from `python3 main.py` in two ways a program could notice: the modules the
harness imported (json, base64, select, threading, ...) are already in sys.modules, and it starts faster.
Before exiting it does what interpreter shutdown does (joins non-daemon threads, runs atexit handlers, flushes
sys.stdout, frees the program's globals), so fast-IO wrappers and answers printed from threads are kept.

Timing: children are timed by this process (select on their pipes and on a pidfd). Model code that runs in
this process (loading the program, script statements) is timed by a watchdog process forked before any model
code runs: on a deadline it reports the timeout and SIGKILLs this process.

Output: one JSON object per line on a private copy of the original stdout; fds 0-2 point at /dev/null before
any model code runs, so the program's prints cannot reach it by accident. A program that hunts for the fd can
(see the trust limits in rlvr/verifiers/code.py): it matters for script mode only, since in stdio and call
modes the host compares outputs against answers that never enter the sandbox.
"""

import atexit
import base64
import builtins
import json
import os
import select
import signal
import sys
import threading
import time
import types

# Bound before any model code runs, so a program that rebinds os.write, json.dumps or builtins.AssertionError
# in its own process cannot break the harness by accident.
_write, _read, _close, _dumps, _loads, _now = os.write, os.read, os.close, json.dumps, json.loads, time.monotonic
_select, _fork, _exec, _AssertionError = select.select, os.fork, builtins.exec, builtins.AssertionError
_DEVNULL = os.open(os.devnull, os.O_RDWR)
_RESULTS = os.dup(1)
_PRIVATE = [_RESULTS]  # fds a case child closes before model code runs
for _fd in (0, 1, 2):
    os.dup2(_DEVNULL, _fd)
_EXC_CHARS = 200


def emit(obj):
    data = (_dumps(obj, separators=(",", ":")) + "\n").encode()
    view = memoryview(data)
    while view:
        view = view[_write(_RESULTS, view) :]


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


def run_child(body, deadline, stdin_fd=None, capture=False, cap=1 << 20):
    """Fork a child running `body() -> (exit_code, info)`; collect its stdout (if `capture`) and info line.

    Returns {"exit", "timeout", "over", "stdout"?, "info"?}. The child gets its own process group, killed
    when it ends, so its helpers die with it (unless they start their own session).
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
            else:
                bufs[fd] += data
                if len(bufs[fd]) > cap:
                    result["over"] = True
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
    if capture:
        result["stdout"] = base64.b64encode(bytes(bufs[out_r][:cap])).decode()
    line = bytes(bufs[info_r]).split(b"\n", 1)[0]
    try:
        result["info"] = _loads(line) if line else None
    except Exception:  # noqa: BLE001 - malformed or absurdly nested: the case simply has no result
        result["info"] = None
    return result


def _child(body, stdin_fd, out_w, info_w, to_close):
    """In the forked child: own process group, fds 0-2 set, private fds closed; run body, report, _exit."""
    code, info = 1, None
    try:
        os.setpgid(0, 0)
        os.dup2(stdin_fd if stdin_fd is not None else _DEVNULL, 0)
        os.dup2(out_w if out_w is not None else _DEVNULL, 1)
        for fd in [*_PRIVATE, *to_close, out_w]:
            if fd is not None:
                _close(fd)
        code, info = body()
    except BaseException as e:  # noqa: BLE001 - the model's failure is a result, not a crash
        code, info = 1, {"exc": describe(e)}
    try:
        data = (_dumps(info, separators=(",", ":"), default=jsonable) + "\n").encode() if info else b""
    except BaseException as e:  # noqa: BLE001 - e.g. a return value that is not JSON
        data = (_dumps({"exc": "return value is not JSON-serialisable: " + describe(e)}) + "\n").encode()
    try:
        view = memoryview(data)
        while view:
            view = view[_write(info_w, view) :]
    except BaseException:  # noqa: BLE001, S110
        pass
    os._exit(code)


def jsonable(value):
    """json.dumps fallback: numpy scalars and arrays become Python values; anything else is not JSON."""
    module = type(value).__module__ or ""
    if module.split(".")[0] == "numpy" and hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON")


def load_program(source, name):
    """Execute the program as module `name`; returns its namespace, or reports why it failed and returns None."""
    try:
        code = compile(source, "main.py", "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as e:
        emit(syntax_report(e))
        return None
    module = types.ModuleType(name)
    module.__file__ = "main.py"
    sys.modules[name] = module
    try:
        exec(code, module.__dict__)
    except SystemExit as e:
        emit({"load": "exit", "code": exit_code(e)})
        return None
    except BaseException as e:  # noqa: BLE001
        emit({"load": "error", "exc": describe(e)})
        return None
    return module.__dict__


def syntax_report(e):
    if isinstance(e, SyntaxError):
        return {"load": "syntax", "kind": type(e).__name__, "line": e.lineno, "msg": str(e.msg)[:_EXC_CHARS]}
    return {"load": "syntax", "kind": "SyntaxError", "line": None, "msg": describe(e)}


class Watchdog:
    """A process forked before model code runs here: `arm(line, s)` starts a deadline; past it, the watchdog
    writes `line` (a result saying what timed out) and SIGKILLs this process. `disarm()` stops the clock."""

    def __init__(self):
        r, self.w = os.pipe()
        parent = os.getpid()
        if _fork() == 0:
            _close(self.w)
            self._watch(r, parent)
        _close(r)
        _PRIVATE.append(self.w)

    def arm(self, line, seconds):
        _write(self.w, (_dumps({"line": line, "s": seconds}) + "\n").encode())

    def disarm(self):
        _write(self.w, b"{}\n")

    @staticmethod
    def _watch(r, parent):
        buf, pending, deadline = b"", None, None
        while True:
            timeout = None if deadline is None else max(0.0, deadline - _now())
            if not _select([r], [], [], timeout)[0]:
                emit(pending)
                os.kill(parent, signal.SIGKILL)
                os._exit(0)
            data = _read(r, 65536)
            if not data:
                os._exit(0)
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                msg = _loads(line)
                pending = msg.get("line")
                deadline = _now() + msg["s"] if pending is not None else None


def run_stdio(job, source, stop, deadline_total):
    try:
        code = compile(source, "main.py", "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as e:
        emit(syntax_report(e))
        return
    emit({"load": "ok"})

    def body():
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
        result = run_child(body, deadline, stdin_fd=fd, capture=True, cap=case["cap"])
        _close(fd)
        emit({"case": i, **result})
        if stop and (result.get("timeout") or result.get("over") or result.get("exit") != 0):
            return


def load_watched(source, job, dog):
    """load_program under the watchdog: a program whose top level hangs is reported as a load timeout."""
    dog.arm({"load": "timeout"}, job["test_timeout_s"])
    namespace = load_program(source, "solution")
    dog.disarm()
    return namespace


def run_call(job, source, stop, deadline_total):
    namespace = load_watched(source, job, Watchdog())
    if namespace is None:
        return
    name = job["fn_name"]
    target = namespace.get(name)
    solution = namespace.get("Solution")
    if not callable(target) and isinstance(solution, type) and hasattr(solution, name):
        target = None
    elif not callable(target):
        emit({"load": "missing", "exc": f"no function {name!r} (nor a Solution class with that method)"})
        return
    emit({"load": "ok"})
    for i, case in enumerate(job["cases"]):
        if _now() >= deadline_total:
            emit({"case": i, "timeout": True, "total": True})
            continue

        def body(case=case):
            fn = target if target is not None else getattr(solution(), name)
            value = fn(*case["args"], **case["kwargs"])
            return 0, {"ok": True, "value": value}

        deadline = min(_now() + job["test_timeout_s"], deadline_total)
        result = run_child(body, deadline, cap=case["cap"])
        line = {"case": i, **result}
        if result.get("over") or len(_dumps(line)) > 2 * case["cap"] + 512:  # escapes can grow a value 6x
            line = {"case": i, "exit": result.get("exit"), "timeout": False, "over": True}
        emit(line)
        info = result.get("info") or {}
        if stop and not info.get("ok"):
            return


def run_script(job, source, stop, deadline_total):
    statements = []
    for st in job["statements"]:
        try:
            statements.append((st, compile(st["code"], f"<test line {st['line']}>", "exec", dont_inherit=True)))
        except (SyntaxError, ValueError) as e:
            emit({"fatal": "test script does not compile: " + describe(e), "phase": "reference"})
            return
    guarded_eq = make_guarded_eq()
    dog = Watchdog()
    namespace = load_watched(source, job, dog)
    if namespace is None:
        return
    emit({"load": "ok"})
    namespace["__rlvr_eq__"] = guarded_eq
    for st, code in statements:
        i, line = st.get("case"), st["line"]
        seconds = min(job["test_timeout_s"], deadline_total - _now())
        if seconds <= 0:
            emit({"case": i, "timeout": True, "total": True} if i is not None else {"setup": "timeout", "line": line})
            return
        dog.arm({"case": i, "timeout": True} if i is not None else {"setup": "timeout", "line": line}, seconds)
        try:
            _exec(code, namespace)
            outcome = {"ok": True}
        except _AssertionError as e:
            outcome = {"ok": False, "exc": describe(e), "assert": True}
        except BaseException as e:  # noqa: BLE001 - SystemExit included: exiting is not passing
            outcome = {"ok": False, "exc": describe(e)}
        dog.disarm()
        if i is None:
            if not outcome["ok"]:
                emit({"setup": "error", "line": line, "exc": outcome["exc"]})
                return
            continue
        emit({"case": i, "line": line, **outcome})
        if stop and not outcome["ok"]:
            return


def make_guarded_eq():
    """`a == b` for test-script asserts, except that a value equal to plain data must itself be plain data.

    Plain data: None, bool, int, float, complex, str, bytes, Fraction, Decimal, and lists, tuples, sets and
    dicts of plain data (subclasses count when they override no comparison). An object whose __eq__ always
    says True (the classic hack against `assert f(x) == 3`) is not plain, so it never equals 3. When both
    sides are non-plain (e.g. two ListNode objects) the test's own == decides.
    """
    import decimal
    import fractions

    atoms = {type(None), bool, int, float, complex, str, bytes, fractions.Fraction, decimal.Decimal}
    containers = {list, tuple, set, frozenset, dict}
    mro_of, dict_of = type.__dict__["__mro__"].__get__, type.__dict__["__dict__"].__get__

    def base_of(t):
        for k in mro_of(t):
            if k in atoms or k in containers:
                return k
            if any(m in dict_of(k) for m in ("__eq__", "__ne__", "__iter__", "items")):
                return None
        return None

    def plain(x, depth=0):
        base = base_of(type(x))
        if base is None:
            return False
        if base in atoms or depth > 100:
            return True
        if base is dict:
            return all(plain(k, depth + 1) and plain(v, depth + 1) for k, v in dict.items(x))
        return all(plain(v, depth + 1) for v in base.__iter__(x))

    def guarded_eq(a, b):
        if plain(a) != plain(b):
            return False
        return a == b

    return guarded_eq


def main():
    try:
        with open("job.json", "rb") as f:
            job = _loads(f.read())
        with open("main.py", "rb") as f:
            source = f.read()
        deadline_total = _now() + job["total_timeout_s"]
        runner = {"stdio": run_stdio, "call": run_call, "script": run_script}[job["mode"]]
    except BaseException as e:  # noqa: BLE001
        emit({"fatal": describe(e), "phase": "harness"})
        return
    try:
        runner(job, source, job["stop_on_failure"], deadline_total)
    except BaseException as e:  # noqa: BLE001 - after model code ran here, a crash of ours may be its doing
        emit({"fatal": describe(e), "phase": "model"})
        return
    emit({"done": True})


if __name__ == "__main__":
    main()
