"""Countdown checker: the answer is an arithmetic expression that reaches the target using the given numbers.

Reference: `{"numbers": [int, ...], "target": int}`.

The expression is read by a small recursive-descent parser (never `eval`): integers, `+ - * /` (also `×`, `·`,
`÷`, `−`, LaTeX `\\times`, `\\cdot`, `\\div`; not the letter `x`), and parentheses. It is
evaluated exactly over `Fraction`s, so intermediate fractions are allowed ((1/3)*3 = 1). A trailing `= target`
is allowed; `= something else` is incorrect. Each literal must be one of the given numbers, each used at most as
often as it is given. Unary minus, exponents, decimals and other numbers are not allowed.

Limits (hostile text): an expression longer than `MAX_EXPR_CHARS` or nested deeper than `MAX_DEPTH` parentheses
is unparsed without being parsed; literals are length-bounded by the expression, and evaluation only happens
after the literals are checked against the (small) number list, so values stay small. Division by zero is
incorrect. Status: unparsed when the block is not an expression, incorrect when it is one that breaks a rule.
"""

from __future__ import annotations

import re
from collections import Counter
from fractions import Fraction
from typing import Any

from rlvr.verifiers.base import Verdict
from rlvr.verifiers.puzzles.common import Answer, PuzzleVerifier, correct, incorrect, unparsed

MAX_EXPR_CHARS = 500
MAX_DEPTH = 32
_TOKEN = re.compile(r"\s*(?:(\d+)|([-+*/()]))")
_REPLACE = [
    ("\\times", "*"),
    ("\\cdot", "*"),
    ("\\div", "/"),
    ("×", "*"),
    ("·", "*"),
    ("÷", "/"),
    ("−", "-"),
    ("–", "-"),
    ("\\left", ""),
    ("\\right", ""),
    ("$", ""),
]
_EQUALS = re.compile(r"^(.*?)=\s*(\S+?)\.?\s*$", re.DOTALL)


class _Node:
    __slots__ = ("op", "left", "right", "value")

    def __init__(self, op: str | None, left: Any = None, right: Any = None, value: int = 0) -> None:
        self.op, self.left, self.right, self.value = op, left, right, value


class _Parser:
    """expr := term (('+'|'-') term)*; term := atom (('*'|'/') atom)*; atom := INT | '(' expr ')'."""

    def __init__(self, toks: list[tuple[str, str]]) -> None:
        self.toks, self.i = toks, 0

    def peek(self) -> str | None:
        return self.toks[self.i][1] if self.i < len(self.toks) else None

    def expr(self) -> _Node:
        node = self.term()
        while self.peek() in ("+", "-"):
            op = self.toks[self.i][1]
            self.i += 1
            node = _Node(op, node, self.term())
        return node

    def term(self) -> _Node:
        node = self.atom()
        while self.peek() in ("*", "/"):
            op = self.toks[self.i][1]
            self.i += 1
            node = _Node(op, node, self.atom())
        return node

    def atom(self) -> _Node:
        if self.i >= len(self.toks):
            raise ValueError("expression ends early")
        kind, text = self.toks[self.i]
        self.i += 1
        if kind == "num":
            return _Node(None, value=int(text))
        if text == "(":
            node = self.expr()
            if self.peek() != ")":
                raise ValueError("unbalanced parentheses")
            self.i += 1
            return node
        raise ValueError(f"unexpected {text!r}")


def parse(expr: str) -> _Node | str:
    """The expression tree, or a string saying why `expr` is not a readable expression."""
    if len(expr) > MAX_EXPR_CHARS:
        return f"expression longer than {MAX_EXPR_CHARS} characters"
    depth = 0
    for ch in expr:
        depth += (ch == "(") - (ch == ")")
        if depth > MAX_DEPTH:
            return f"parentheses nested deeper than {MAX_DEPTH}"
    toks, pos = [], 0
    stripped = expr.rstrip()
    while pos < len(stripped):
        m = _TOKEN.match(stripped, pos)
        if m is None:
            return f"unexpected character {stripped[pos:].lstrip()[:1]!r}"
        toks.append(("num", m.group(1)) if m.group(1) else ("op", m.group(2)))
        pos = m.end()
    if not toks:
        return "empty expression"
    p = _Parser(toks)
    try:
        tree = p.expr()
    except ValueError as e:
        return str(e)
    if p.i != len(toks):
        return f"unexpected {toks[p.i][1]!r}"
    return tree


def literals(node: _Node) -> list[int]:
    out, stack = [], [node]
    while stack:
        n = stack.pop()
        if n.op is None:
            out.append(n.value)
        else:
            stack += [n.left, n.right]
    return out


def evaluate(node: _Node) -> Fraction:
    """Exact value; raises ZeroDivisionError on division by zero (depth is bounded by the parser's limits)."""
    if node.op is None:
        return Fraction(node.value)
    a, b = evaluate(node.left), evaluate(node.right)
    if node.op == "+":
        return a + b
    if node.op == "-":
        return a - b
    if node.op == "*":
        return a * b
    return a / b


class CountdownVerifier(PuzzleVerifier):
    name = "puzzle/countdown"

    def parse_reference(self, reference: Any) -> tuple[Counter, int]:
        numbers, target = reference["numbers"], reference["target"]
        if not isinstance(target, int) or not all(isinstance(n, int) for n in numbers):
            raise ValueError("numbers and target must be integers")
        return Counter(numbers), target

    def check(self, answer: Answer, ref: tuple[Counter, int]) -> Verdict:
        numbers, target = ref
        text = answer.text.strip()
        for old, new in _REPLACE:
            text = text.replace(old, new)
        if len(text) > MAX_EXPR_CHARS:
            return unparsed(text, f"expression longer than {MAX_EXPR_CHARS} characters")
        m = _EQUALS.match(text)
        if m is not None:
            text, claimed = m.group(1).strip(), m.group(2)
            if claimed != str(target):
                return incorrect(text, f"the expression is said to equal {claimed[:20]}, not the target {target}")
        tree = parse(text)
        if isinstance(tree, str):
            return unparsed(text, tree)
        used = Counter(literals(tree))
        extra = used - numbers
        if extra:
            n = next(iter(extra))
            shown = str(n) if len(str(n)) <= 20 else str(n)[:20] + "..."
            why = "is not one of the numbers" if n not in numbers else "is used more often than given"
            return incorrect(text, f"{shown} {why}")
        try:
            value = evaluate(tree)
        except ZeroDivisionError:
            return incorrect(text, "division by zero")
        if value != target:
            return incorrect(text, f"the expression equals {value}, not {target}")
        return correct(text, f"equals {target}")
