"""Where a response's answer stands: after a reasoning model's draft (`<think>...</think>`), inside its last
`<answer>...</answer>` block. Shared by the verifiers that read these tags and by the audit.

Tags are matched case-insensitively by regex on the text itself, never through `text.lower()`: lower-casing changes
the length of some characters (`İ` becomes two), which would shift every offset after them. Each search is one
left-to-right scan (linear, also on thousands of unclosed tags).
"""

from __future__ import annotations

import re

END_THINK = re.compile(r"(?i)</think>")
OPEN_ANSWER = re.compile(r"(?i)<answer>")
CLOSE_ANSWER = re.compile(r"(?i)</answer>")


def last_match(pattern: re.Pattern[str], text: str, start: int = 0, end: int | None = None) -> re.Match[str] | None:
    """The last match of `pattern` in text[start:end], or None."""
    m = None
    for m in pattern.finditer(text, start, len(text) if end is None else end):  # noqa: B007 - the last one is kept
        pass
    return m


def after_reasoning(text: str) -> int:
    """Where the answer part of `text` starts: after the last `</think>` (a reasoning model's draft, answers it tried
    included, is not its answer; nothing after it: no answer), else 0."""
    m = last_match(END_THINK, text) if "</" in text else None
    return 0 if m is None else m.end()


def answer_span(text: str, start: int = 0) -> tuple[int, int] | None:
    """(start, end) offsets of the content of the last `<answer>...</answer>` block in text[start:], or None."""
    close = last_match(CLOSE_ANSWER, text, start) if "<" in text else None
    opening = last_match(OPEN_ANSWER, text, start, close.start()) if close is not None else None
    return None if opening is None else (opening.end(), close.start())
