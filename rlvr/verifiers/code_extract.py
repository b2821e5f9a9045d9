"""Host-side text work for the code verifier: find the program in a response, compare outputs and values.

Nothing here runs or compiles model code; it only reads text and JSON.

Extraction (of what follows the last `</think>`, if any): the last fenced block (``` or ~~~, three or more, closed by
a fence of the same character at least as long) whose info string names the language (```python, ```py, ```python3,
```py3); when there is none, the last fence with no info string; when the response has no fence at all, the whole
response. When the tests call functions that this block does not define but an earlier one does (a usage example
after the solution), the last block defining them. Blocks in other languages (```text, ```cpp, ```output) are never
taken. An unclosed final fence (a response cut off by the token limit) counts as a block running to the end of the
text. Not handled: HTML <code> blocks.
"""

from __future__ import annotations

import math
import re
from typing import Any

from rlvr.verifiers.tags import after_reasoning

_FENCE = re.compile(r"([ \t]*)(`{3,}|~{3,})[ \t]*([^\n`]*?)[ \t]*")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(language tag lower-cased, body) for every fenced block in order; a single linear pass over the lines.

    A fence may be indented (a block inside a list item: `1. Solution:\\n    ```python`); as in CommonMark, up to
    the opening fence's indentation is removed from each body line, and the closing fence may be indented up to 3
    columns more than the opening one. `\\r\\n` line ends count as `\\n`.
    """
    blocks: list[tuple[str, str]] = []
    lines = text.replace("\r\n", "\n").split("\n")
    i = 0
    while i < len(lines):
        m = _FENCE.fullmatch(lines[i])
        if m is None:
            i += 1
            continue
        indent, fence, info = len(m.group(1)), m.group(2), m.group(3)
        tag = info.split()[0].lower() if info.split() else ""
        body: list[str] = []
        i += 1
        while i < len(lines):
            close = _FENCE.fullmatch(lines[i])
            if (
                close
                and not close.group(3)
                and len(close.group(1)) <= indent + 3
                and close.group(2)[0] == fence[0]
                and len(close.group(2)) >= len(fence)
            ):
                break
            line = lines[i]
            body.append(line[min(indent, len(line) - len(line.lstrip(" \t"))) :])
            i += 1
        blocks.append((tag, "\n".join(body)))
        i += 1
    return blocks


def _defines(body: str, names: tuple[str, ...]) -> bool:
    """Whether a block defines (def, class or assignment) every one of `names` (a method counts: LeetCode)."""
    return all(
        re.search(rf"(?m)^[ \t]*(?:(?:async[ \t]+)?def|class)[ \t]+{re.escape(n)}\b|^{re.escape(n)}[ \t]*[:=]", body)
        for n in names
    )


def _pick(bodies: list[str], names: tuple[str, ...]) -> tuple[str, bool]:
    """The last body, or (when it does not define `names` and an earlier one does) the last that defines them:
    `def add(...)` in one block, then `print(add(1, 2))` as an example in the next. True when not the last."""
    if not names or _defines(bodies[-1], names):
        return bodies[-1], False
    for body in reversed(bodies[:-1]):
        if _defines(body, names):
            return body, True
    return bodies[-1], False


def extract_program(response: str, tags: tuple[str, ...], names: tuple[str, ...] = ()) -> tuple[str | None, str]:
    """The program in `response` for a language whose fence tags are `tags`, or None with the reason.

    Only what follows the last `</think>` is read (a reasoning model's draft is not its answer). `names`: the
    functions the tests call; a last block that does not define them (a usage example) gives way to the last block
    that does."""
    response = response[after_reasoning(response) :]
    blocks = fenced_blocks(response)
    if not blocks:
        program, how = response, "whole response"
    else:
        tagged = [body for tag, body in blocks if tag in tags]
        untagged = [body for tag, body in blocks if not tag]
        if tagged or untagged:
            program, earlier = _pick(tagged or untagged, names)
            kind = f"```{tags[0]}" if tagged else "untagged ```"
            how = f"last {kind} block" + (f" defining {', '.join(names)}" if earlier else "")
        else:
            others = sorted({tag for tag, _ in blocks})
            return None, f"no {tags[0]} code block (found: {', '.join(others)})"
    if not program.strip():
        return None, f"empty program ({how})"
    return program, how


def normalise_output(text: str) -> list[str]:
    """Lines with trailing whitespace removed and trailing blank lines dropped; \\r\\n counts as \\n."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _close(a: float, b: float, tol: float) -> bool:
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol) or (math.isnan(a) and math.isnan(b))


def outputs_match(got: str, expected: str, float_tol: float | None = None) -> bool:
    """Whitespace-normalised comparison; with `float_tol`, numeric tokens compare within that tolerance.

    Tokens (whitespace-separated, line by line) that both look like decimal numbers compare with
    `math.isclose(rel_tol=abs_tol=float_tol)`; every other token must be identical. Lines must match in number.
    """
    a, b = normalise_output(got), normalise_output(expected)
    if float_tol is None:
        return a == b
    if len(a) != len(b):
        return False
    for line_a, line_b in zip(a, b, strict=True):
        ta, tb = line_a.split(), line_b.split()
        if len(ta) != len(tb):
            return False
        for x, y in zip(ta, tb, strict=True):
            if x == y:
                continue
            if not (_NUMBER.fullmatch(x) and _NUMBER.fullmatch(y)) or not _close(float(x), float(y), float_tol):
                return False
    return True


def values_match(got: Any, expected: Any, float_tol: float | None = None) -> bool:
    """JSON-equivalence of two decoded JSON values: lists and tuples alike, ints equal to equal floats,
    booleans never equal to numbers, dict keys compared as strings, floats within `float_tol` when given."""
    if isinstance(got, bool) or isinstance(expected, bool):
        return isinstance(got, bool) and isinstance(expected, bool) and got == expected
    if isinstance(got, (int, float)) and isinstance(expected, (int, float)):
        if float_tol is not None and (isinstance(got, float) or isinstance(expected, float)):
            try:
                return _close(float(got), float(expected), float_tol)
            except OverflowError:
                return False
        return got == expected or (got != got and expected != expected)  # NaN equals NaN in a test's eyes
    if isinstance(got, (list, tuple)) and isinstance(expected, (list, tuple)):
        return len(got) == len(expected) and all(
            values_match(x, y, float_tol) for x, y in zip(got, expected, strict=True)
        )
    if isinstance(got, dict) and isinstance(expected, dict):
        g = {str(k): v for k, v in got.items()}
        e = {str(k): v for k, v in expected.items()}
        return g.keys() == e.keys() and all(values_match(g[k], e[k], float_tol) for k in e)
    if type(got) is not type(expected):
        return False
    return got == expected
