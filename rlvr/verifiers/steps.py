"""Step-level scores (the "dual reward"): where a response writes a checkable claim, and whether it holds.

`StepScore` is shared by verifiers that score intermediate steps; `equality_chains` finds the written equalities of a
response (`a = b`, or a chain `a = b = c` on one line) with the character span of every side, so a verifier only has
to parse and compare sides. Relations other than `=` (`<=`, `!=`, `\\le`, `\\approx`) are not steps; `==` is not
split. LaTeX alignment is understood: `&` is dropped, a trailing `\\\\` ends the line, and a line that starts with
`=` (`&= 3x + 1`) continues the previous line's chain from its last side.
"""

from __future__ import annotations

import dataclasses
import re

MAX_LINES = 5000  # lines scanned for steps; a longer response is scored on its first MAX_LINES lines
MAX_LINE_CHARS = 2000  # a longer line is prose or garbage, not a derivation step


@dataclasses.dataclass(frozen=True)
class StepScore:
    """One scored step: `text` is response[start:end]; `score` is 1.0 if the step holds, 0.0 if it does not."""

    start: int
    end: int
    score: float
    text: str


@dataclasses.dataclass(frozen=True)
class Chain:
    start: int
    end: int
    sides: tuple[tuple[int, int], ...]  # spans of the expressions between the `=` signs, in response offsets
    continued: bool  # the line started with `=`: sides[0] belongs to the previous chain


_DELIM = re.compile(r"\$\$|\$|\\\(|\\\)|\\\[|\\\]")
_CLOSER = {"$$": "$$", "$": "$", "\\(": "\\)", "\\[": "\\]"}
_EQ = re.compile(r"(?<![<>!=\\:])=(?!=)")


def _trim(text: str, a: int, b: int) -> tuple[int, int]:
    while a < b and (text[a].isspace() or text[a] == "&"):
        a += 1
    while b > a and (text[b - 1].isspace() or text[b - 1] in "&,."):
        b -= 1
    if text.endswith("\\\\", a, b):
        return _trim(text, a, b - 2)
    return a, b


def _regions(line: str) -> list[tuple[int, int]]:
    """The math segments of a line that hold an `=`, or the whole line when it has no math delimiters."""
    if "$" not in line and "\\(" not in line and "\\[" not in line:
        return [(0, len(line))]
    spans = []
    opener = None  # (delimiter, content start); one pass over the delimiters keeps this linear
    for m in _DELIM.finditer(line):
        d = m.group()
        if opener is None:
            if d in _CLOSER:
                opener = (d, m.end())
        elif d == _CLOSER[opener[0]]:
            if "=" in line[opener[1] : m.start()]:
                spans.append((opener[1], m.start()))
            opener = None
    return spans


def equality_chains(text: str) -> list[Chain]:
    """Every `a = b (= c ...)` written in `text`, in order, with response offsets."""
    chains: list[Chain] = []
    pos = 0
    for line_no, line in enumerate(text.split("\n")):
        if line_no >= MAX_LINES:
            break
        if "=" in line and len(line) <= MAX_LINE_CHARS:
            for ra, rb in _regions(line):
                cuts = [m.start() for m in _EQ.finditer(line, ra, rb)]
                if not cuts:
                    continue
                bounds = [ra, *cuts, rb]
                sides = [_trim(line, bounds[k] + (k > 0), bounds[k + 1]) for k in range(len(bounds) - 1)]
                continued = sides[0][0] == sides[0][1]
                if continued:
                    if not chains or chains[-1].end < pos - 2 * MAX_LINE_CHARS:
                        sides = sides[1:]
                        continued = False
                    else:
                        sides[0] = chains[-1].sides[-1]
                        sides = [sides[0], *((a + pos, b + pos) for a, b in sides[1:])]
                if not continued:
                    sides = [(a + pos, b + pos) for a, b in sides]
                if len(sides) >= 2 and all(a < b for a, b in sides):
                    start = pos + _trim(line, ra, rb)[0] if continued else sides[0][0]
                    chains.append(Chain(start, sides[-1][1], tuple(sides), continued))
        pos += len(line) + 1
    return chains
