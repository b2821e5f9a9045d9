"""The code verifier's reference: a JSON-serialisable dict (or its JSON text), validated into `CodeReference`.

Exactly one test style per reference:

  stdin/stdout   {"tests": [{"stdin": "1 2\\n", "stdout": "3\\n"}, ...]}
                 `stdin` may be omitted (empty input). Output is compared whitespace-normalised (trailing
                 whitespace per line and trailing blank lines ignored).
  function call  {"fn_name": "add", "tests": [{"args": [1, 2], "expected": 3}, {"args": [], "kwargs": {"a": 1},
                 "expected": 1}]}
                 Calls the top-level function `fn_name`, or `Solution().fn_name` (LeetCode) when the program
                 defines no such function. The return value is compared on the host with JSON-equivalence.
  assert script  {"test_script": "assert add(1, 2) == 3\\nassert add(0, 0) == 0\\n", "entry_point"?: "add"}
                 Each top-level assert, top-level expression statement (such as `check(add)`) or compound
                 statement holding an assert (a `for` loop of asserts) is one test; definitions, imports and
                 assignments are set-up. A script with no such statement is one test. With `entry_point`
                 (HumanEval layout), `check(<entry_point>)` is appended. Asserts that only combine calls of the
                 program's functions with constants are checked on the host, one test each (the asserts of
                 `check` included); see rlvr/verifiers/code_script.py.
  APPS / TACO    {"input_output": {"inputs": [...], "outputs": [...], "fn_name"?: "..."}} (the dict or its JSON
                 text, as the datasets store it). Without fn_name: stdin/stdout, each input/output a string or
                 a list of lines. With fn_name: each input is the argument list, and the return value may
                 equal the output or, when the output is a one-element list, its element (the APPS convention).

Optional everywhere: "language" (default "python"; see LANGUAGES in rlvr/verifiers/code.py), "float_tol"
(numbers compare within this relative/absolute tolerance), "mode" ("fraction" or "all", overriding the
verifier's). Unknown fields are an error, so a typo cannot silently drop a test.
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import json
import math
import threading
from typing import Any, Literal

from rlvr.verifiers.code_script import Call, HostCheck, _bound_names, _convert, _program_names, inline_check

_FIELDS = {"language", "tests", "fn_name", "test_script", "entry_point", "input_output", "float_tol", "mode"}
MODES = ("fraction", "all")


@dataclasses.dataclass(frozen=True)
class StdioCase:
    stdin: str
    stdout: str


@dataclasses.dataclass(frozen=True)
class CallCase:
    args: list[Any] | tuple[Any, ...]
    kwargs: dict[str, Any]
    expected: tuple[Any, ...]  # accepted return values (APPS: two); empty for a script's calls (checks decide)
    fn: str | None = None  # the function to call; None: the reference's fn_name


@dataclasses.dataclass(frozen=True)
class Statement:
    """One top-level statement of a test script; `case` is its test index, or None for set-up."""

    code: str
    line: int
    case: int | None


@dataclasses.dataclass(frozen=True)
class CodeReference:
    style: Literal["stdio", "call", "script"]
    n_tests: int
    language: str = "python"
    stdio: tuple[StdioCase, ...] = ()
    fn_name: str | None = None
    calls: tuple[CallCase, ...] = ()
    statements: tuple[Statement, ...] = ()  # a script's residual: what runs in the sandbox as script code
    checks: tuple[HostCheck | None, ...] = ()  # a script's tests: a host check, or None (a residual test)
    names: tuple[str, ...] = ()  # the program's names the residual uses (each becomes a proxy in the sandbox)
    float_tol: float | None = None
    mode: str | None = None


def _bad(msg: str) -> ValueError:
    return ValueError(f"code reference: {msg}")


def _text(value: Any, field: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(x, str) for x in value):
        return "\n".join(value)
    raise _bad(f"{field} must be a string (or a list of lines), got {type(value).__name__}")


def _identifier(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.isidentifier():
        raise _bad(f"{field} must be a Python identifier, got {value!r}")
    return value


def _json_value(value: Any, field: str) -> Any:
    try:
        json.dumps(value, allow_nan=True)
    except (TypeError, ValueError) as e:
        raise _bad(f"{field} must be JSON-serialisable: {e}") from None
    return value


def parse_reference(reference: Any) -> CodeReference:
    """Validate a reference; raises ValueError naming the field (a data bug, never the model's fault)."""
    if isinstance(reference, CodeReference):
        return reference
    if isinstance(reference, str):
        try:
            reference = json.loads(reference)
        except ValueError as e:
            raise _bad(f"a string reference must be JSON: {e}") from None
    if not isinstance(reference, dict):
        raise _bad(f"must be a dict, got {type(reference).__name__}")
    unknown = set(reference) - _FIELDS
    if unknown:
        raise _bad(f"unknown field(s) {sorted(unknown)}; allowed: {', '.join(sorted(_FIELDS))}")
    styles = [k for k in ("tests", "test_script", "input_output") if k in reference]
    if len(styles) != 1:
        raise _bad(f"needs exactly one of 'tests', 'test_script', 'input_output'; got {styles or 'none'}")
    common: dict[str, Any] = {"language": reference.get("language", "python")}
    if not isinstance(common["language"], str):
        raise _bad("language must be a string")
    tol = reference.get("float_tol")
    if tol is not None and (isinstance(tol, bool) or not isinstance(tol, (int, float)) or not 0 < tol < math.inf):
        raise _bad(f"float_tol must be a positive number, got {tol!r}")
    common["float_tol"] = None if tol is None else float(tol)
    mode = reference.get("mode")
    if mode is not None and mode not in MODES:
        raise _bad(f"mode must be one of {MODES}, got {mode!r}")
    common["mode"] = mode
    if "entry_point" in reference and styles != ["test_script"]:
        raise _bad("entry_point goes with test_script only")

    if styles == ["test_script"]:
        script = reference["test_script"]
        if not isinstance(script, str):
            raise _bad("test_script must be a string")
        entry = reference.get("entry_point")
        if entry is not None:
            script += f"\n\ncheck({_identifier(entry, 'entry_point')})\n"
        checks, calls, statements, names = split_script(script)
        cases = tuple(CallCase(c.args, c.kwargs, (), c.fn) for c in calls)
        return CodeReference(
            "script", len(checks), calls=cases, statements=statements, checks=checks, names=names, **common
        )

    if styles == ["input_output"]:
        io = reference["input_output"]
        if isinstance(io, str):
            try:
                io = json.loads(io)
            except ValueError as e:
                raise _bad(f"input_output text must be JSON: {e}") from None
        if not isinstance(io, dict) or not all(isinstance(io.get(k), list) for k in ("inputs", "outputs")):
            raise _bad("input_output must hold lists 'inputs' and 'outputs'")
        inputs, outputs = io["inputs"], io["outputs"]
        if len(inputs) != len(outputs) or not inputs:
            raise _bad(f"input_output: {len(inputs)} inputs and {len(outputs)} outputs (need equal, at least 1)")
        fn_name = io.get("fn_name", reference.get("fn_name"))
        if fn_name is None:
            cases = tuple(
                StdioCase(_text(i, f"inputs[{n}]"), _text(o, f"outputs[{n}]"))
                for n, (i, o) in enumerate(zip(inputs, outputs, strict=True))
            )
            return CodeReference("stdio", len(cases), stdio=cases, **common)
        calls = []
        for n, (args, out) in enumerate(zip(inputs, outputs, strict=True)):
            if not isinstance(args, list):
                raise _bad(f"input_output.inputs[{n}] must be the argument list")
            accepted = (out, out[0]) if isinstance(out, list) and len(out) == 1 else (out,)
            calls.append(CallCase(_json_value(args, f"inputs[{n}]"), {}, _json_value(accepted, f"outputs[{n}]")))
        return CodeReference("call", len(calls), fn_name=_identifier(fn_name, "fn_name"), calls=tuple(calls), **common)

    tests = reference["tests"]
    if not isinstance(tests, list) or not tests or not all(isinstance(t, dict) for t in tests):
        raise _bad("tests must be a non-empty list of objects")
    if "fn_name" not in reference:
        cases = []
        for n, t in enumerate(tests):
            if set(t) - {"stdin", "stdout"} or "stdout" not in t:
                raise _bad(f"tests[{n}] must have 'stdout' and optionally 'stdin' (with no fn_name), got {sorted(t)}")
            cases.append(StdioCase(_text(t.get("stdin", ""), f"tests[{n}].stdin"), _text(t["stdout"], "stdout")))
        return CodeReference("stdio", len(cases), stdio=tuple(cases), **common)
    calls = []
    for n, t in enumerate(tests):
        if set(t) - {"args", "kwargs", "expected"} or "expected" not in t:
            raise _bad(f"tests[{n}] must have 'expected' and optionally 'args', 'kwargs', got {sorted(t)}")
        args, kwargs = t.get("args", []), t.get("kwargs", {})
        if not isinstance(args, list) or not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
            raise _bad(f"tests[{n}]: args must be a list and kwargs an object")
        _json_value([args, kwargs], f"tests[{n}]")
        calls.append(CallCase(args, kwargs, (_json_value(t["expected"], f"tests[{n}].expected"),)))
    fn_name = _identifier(reference["fn_name"], "fn_name")
    return CodeReference("call", len(calls), fn_name=fn_name, calls=tuple(calls), **common)


def _is_test(stmt: ast.stmt) -> bool:
    if isinstance(stmt, ast.Assert):
        return True
    if isinstance(stmt, ast.Expr):
        return not isinstance(stmt.value, ast.Constant)  # a bare string is a docstring, not a test
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return False
    return any(isinstance(node, ast.Assert) for node in ast.walk(stmt))


def _check_call(stmt: ast.stmt, defs: dict[str, ast.FunctionDef], bound: set[str]) -> tuple[str, str] | None:
    """(checker, entry) when `stmt` is `checker(entry)`: a one-argument test function of the script called once
    with a name the script does not define (HumanEval's `check(candidate)` layout)."""
    if not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)):
        return None
    call = stmt.value
    if not isinstance(call.func, ast.Name) or call.func.id not in defs or call.keywords or len(call.args) != 1:
        return None
    arg = call.args[0]
    return (call.func.id, arg.id) if isinstance(arg, ast.Name) and arg.id not in bound else None


# CPython 3.11's `ast` keeps its AST-to-object recursion counter in module state shared by all threads: two threads
# parsing at once can fail with "SystemError: AST constructor recursion depth mismatch" (CPython gh-106905), and the
# code verifier checks a batch in threads. Every parse and conversion of a test script holds this lock.
_AST_LOCK = threading.Lock()


def split_script(
    script: str,
) -> tuple[tuple[HostCheck | None, ...], list[Call], tuple[Statement, ...], tuple[str, ...]]:
    """See `_split_script`; one thread at a time (`_AST_LOCK`)."""
    with _AST_LOCK:
        return _split_script(script)


def _split_script(
    script: str,
) -> tuple[tuple[HostCheck | None, ...], list[Call], tuple[Statement, ...], tuple[str, ...]]:
    """A (trusted) test script as tests: (checks, calls, residual statements, the program's names it uses);
    see rlvr/verifiers/code_script.py.

    Each top-level assert, top-level expression statement (such as `check(add)`) or compound statement holding an
    assert is one test, except that a `check(entry)` call whose function's asserts convert becomes one test per
    converted assert (plus one for what is left of it, if anything). Test k is `checks[k]` when it is checked on
    the host, else the residual statement whose `case` is k. Parsing happens on the host because the test script
    is reference data, not model output.
    """
    try:
        tree = ast.parse(script)
    except SyntaxError as e:
        raise _bad(f"test_script does not parse: {e.msg} (line {e.lineno})") from None
    bound = _bound_names(tree.body)
    names = tuple(sorted(_loaded_names(tree) - bound))
    if not any(_is_test(s) for s in tree.body):
        return (None,), [], (Statement(ast.unparse(tree), 1, 0),), names
    targets = _program_names(tree, bound)
    defs = {s.name: s for s in tree.body if isinstance(s, ast.FunctionDef)}
    called = [c for c in (_check_call(s, defs, bound) for s in tree.body) if c]
    once = {name for name, _ in called if sum(n == name for n, _ in called) == 1}
    checks: list[HostCheck | None] = []
    calls: list[Call] = []
    residual: list[ast.stmt | None] = []  # None: a test without a residual statement
    cases: list[int | None] = []
    replaced: dict[str, ast.FunctionDef | None] = {}
    for stmt in tree.body:
        if isinstance(stmt, (ast.Assert, ast.For)) and (test := _convert(stmt, targets, calls)) is not None:
            checks.append(test)
            continue
        pair = _check_call(stmt, defs, bound)
        if pair and pair[0] in once:
            converted, rest = inline_check(defs[pair[0]], pair[1], targets, calls)
            checks.extend(converted)
            replaced[pair[0]] = rest
            if rest is None and converted:
                continue
        if _is_test(stmt):
            residual.append(stmt)
            cases.append(len(checks))
            checks.append(None)
        else:
            residual.append(stmt)
            cases.append(None)
    if all(c is not None for c in checks):
        return tuple(checks), calls, (), ()
    statements = []
    for stmt, case in zip(residual, cases, strict=True):
        if isinstance(stmt, ast.FunctionDef) and stmt.name in replaced:
            stmt = replaced[stmt.name] or stmt
        statements.append(Statement(ast.unparse(stmt), stmt.lineno, case))
    return tuple(checks), calls, tuple(statements), names


def _loaded_names(tree: ast.Module) -> set[str]:
    """Names the script reads that Python does not provide: with those it binds removed, the program's names."""
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and not hasattr(builtins, n.id)}
