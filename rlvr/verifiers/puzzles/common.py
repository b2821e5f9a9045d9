"""What every puzzle checker shares: reading the `<answer>` block, hedges, and token / grid parsing.

The answer is the content of the last complete `<answer>...</answer>` block (tags are case-insensitive) after the last
`</think>` (a reasoning model's draft, answer blocks included, is not its answer). Every such block is read, not only
the last: two non-empty blocks whose contents differ (after NFKC and case folding, with
whitespace removed) are a hedge and score `incorrect`, never `correct`, even when both would pass: the blocks are
compared as text, so the same answer written two ways (`R,R` and `RR`) also counts as two answers. No block, an
unclosed block, or a block longer than `MAX_ANSWER_CHARS` is `unparsed`. The whole response is scanned (no silent
truncation); the scan is linear. An `<answer>` opened inside another block's text reads from the inner tag.

`PuzzleVerifier` wires this together: a subclass implements `parse_reference` (a malformed reference is a data
bug and gives status `error`) and `check(answer, ref)`; families with partial assignments also implement `steps`.

Tokens carry their offsets in the response so that step scores (`StepScore`) point at the text they judge.

Not handled: answers written outside the tags ("the answer is ..."), markdown tables, answers split over blocks.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from typing import Any

from rlvr.verifiers.base import Verdict, Verifier
from rlvr.verifiers.steps import StepScore
from rlvr.verifiers.tags import after_reasoning

MAX_ANSWER_CHARS = 20_000  # the longest legitimate answer (a maze path on the largest grid) is a few thousand
_OPEN = re.compile(r"<answer>", re.IGNORECASE)
_CLOSE = re.compile(r"</answer>", re.IGNORECASE)
_SPACE = re.compile(r"\s+")


@dataclasses.dataclass(frozen=True)
class Answer:
    """The last answer block: `text` (NFKC-normalised content) starting at `offset` in the response."""

    text: str
    offset: int


@dataclasses.dataclass(frozen=True)
class Token:
    text: str
    start: int  # offsets in the response
    end: int


def _normal(text: str) -> str:
    return _SPACE.sub("", unicodedata.normalize("NFKC", text)).casefold()


def answer_block(response: Any) -> Answer | Verdict:
    """The last `<answer>` block of `response`, or the Verdict (unparsed / hedge) that ends verification."""
    if not isinstance(response, str):
        return Verdict("unparsed", 0.0, None, f"response is {type(response).__name__}, not text")
    blocks: list[tuple[int, int]] = []
    pos = after_reasoning(response)  # offsets stay the response's own: blocks are sought from after the draft
    while True:
        m = _OPEN.search(response, pos)
        if m is None:
            break
        c = _CLOSE.search(response, m.end())
        if c is None:
            break
        # A block holds no nested opening tag: "<answer> ... <answer>x</answer>" reads as the inner block.
        inner = response.rfind("<", m.end(), c.start())
        while inner >= 0 and not _OPEN.match(response, inner):
            inner = response.rfind("<", m.end(), inner)
        start = _OPEN.match(response, inner).end() if inner >= 0 else m.end()
        blocks.append((start, c.start()))
        pos = c.end()
    if not blocks:
        return Verdict("unparsed", 0.0, None, "no <answer>...</answer> block")
    start, end = blocks[-1]
    if end - start > MAX_ANSWER_CHARS:
        return Verdict("unparsed", 0.0, None, f"answer block longer than {MAX_ANSWER_CHARS} characters")
    seen = {_normal(response[a:b]) for a, b in blocks if b - a <= MAX_ANSWER_CHARS} - {""}
    if len(seen) > 1 or any(b - a > MAX_ANSWER_CHARS for a, b in blocks):
        return Verdict("incorrect", 0.0, response[start:end].strip()[:200], "hedge: several different answers")
    text = response[start:end]
    if not text.strip():
        return Verdict("unparsed", 0.0, "", "empty answer block")
    # NFKC keeps offsets only where it does not change lengths; offsets then stay approximate, which is fine for
    # step spans (they are for display), and the checks use the normalised text.
    return Answer(unicodedata.normalize("NFKC", text), start)


def tokens(answer: Answer, pattern: re.Pattern[str]) -> list[Token]:
    """Every match of `pattern` in the answer, with response offsets."""
    return [Token(m.group(), answer.offset + m.start(), answer.offset + m.end()) for m in pattern.finditer(answer.text)]


_ITEM_SEP = re.compile(r"[,;\n]+")


def split_items(answer: Answer) -> list[Token]:
    """Comma-, semicolon- or newline-separated items (stripped, empty ones dropped) with response offsets."""
    out, pos = [], 0
    text = answer.text
    for m in [*_ITEM_SEP.finditer(text), None]:
        end = m.start() if m is not None else len(text)
        raw = text[pos:end]
        stripped = raw.strip()
        if stripped:
            lead = len(raw) - len(raw.lstrip())
            a = answer.offset + pos + lead
            out.append(Token(stripped, a, a + len(stripped)))
        if m is not None:
            pos = m.end()
    return out


_PAIR_SEP = re.compile(r":|=|->|\bis\b", re.IGNORECASE)  # no surrounding \s*: linear on long runs of spaces


def parse_pairs(answer: Answer) -> list[tuple[str, str, Token]] | str:
    """Items of the form `key: value` / `key = value` / `key -> value` / `key is value` as (key, value, token),
    split at the first separator, both sides stripped (a final `.` dropped) and casefolded; a string naming the
    first unreadable item otherwise."""
    out = []
    for tok in split_items(answer):
        m = _PAIR_SEP.search(tok.text)
        key = tok.text[: m.start()].strip() if m else ""
        value = tok.text[m.end() :].strip().removesuffix(".").strip() if m else ""
        if not key or not value:
            return f"unreadable item {tok.text[:40]!r} (expected key: value)"
        out.append((key.casefold(), value.casefold(), tok))
    return out


_GRID_IGNORED = re.compile(r"[\s,;|+\-_=\[\]()]+")


def digit_grid(answer: Answer, cells: int) -> list[tuple[int, Token]] | str:
    """A grid written as digits row by row (spaces, commas, pipes, brackets and rule lines ignored).

    Returns (digit, token) per cell in reading order, or a string saying why it is unreadable (a character that
    is neither a digit nor a separator, or the wrong number of digits).
    """
    out = []
    for m in re.finditer(r"\S", answer.text):
        ch = m.group()
        if _GRID_IGNORED.fullmatch(ch):
            continue
        if not ch.isdigit() or not ch.isascii():
            return f"unexpected character {ch!r} in the grid"
        out.append((int(ch), Token(ch, answer.offset + m.start(), answer.offset + m.end())))
        if len(out) > cells:
            return f"more than {cells} digits"
    if len(out) != cells:
        return f"expected {cells} digits, got {len(out)}"
    return out


class PuzzleVerifier(Verifier):
    """Base of the puzzle checkers: reference parsing, answer extraction and hedges; subclasses judge the answer.

    `parse_reference(reference)` returns the checker's view of the puzzle and raises ValueError / KeyError /
    TypeError on a malformed one (status `error`: a data bug). `check(answer, ref)` returns a Verdict. `steps`
    returns one `StepScore` per step for families where partial assignments can be judged.
    """

    def parse_reference(self, reference: Any) -> Any:
        raise NotImplementedError

    def check(self, answer: Answer, ref: Any) -> Verdict:
        raise NotImplementedError

    def steps(self, answer: Answer, ref: Any) -> list[StepScore]:
        raise NotImplementedError(f"{self.name} has no step scores")

    @property
    def step_checker(self) -> bool:
        return type(self).steps is not PuzzleVerifier.steps  # families with step scores override `steps`

    def _reference(self, reference: Any) -> Any | Verdict:
        try:
            return self.parse_reference(reference)
        except (ValueError, KeyError, TypeError, IndexError) as e:
            return Verdict("error", 0.0, None, f"bad reference (data bug, not the model's fault): {e!r}"[:300])

    def _verify(self, response: str, reference: Any) -> Verdict:
        ref = self._reference(reference)
        if isinstance(ref, Verdict):
            return ref
        answer = answer_block(response)
        if isinstance(answer, Verdict):
            return answer
        return self.check(answer, ref)

    def verify_steps(self, response: str, reference: Any) -> list[StepScore]:
        """Step scores of the last answer block; [] when there is no readable block (or for a bad reference)."""
        ref = self._reference(reference)
        answer = answer_block(response)
        if isinstance(ref, Verdict) or isinstance(answer, Verdict):
            return []
        return self.steps(answer, ref)


def step(tok: Token, ok: bool) -> StepScore:
    return StepScore(tok.start, tok.end, 1.0 if ok else 0.0, tok.text)


def correct(extracted: str, detail: str) -> Verdict:
    return Verdict("correct", 1.0, extracted[:500], detail)


def incorrect(extracted: str, detail: str) -> Verdict:
    return Verdict("incorrect", 0.0, extracted[:500], detail[:300])


def unparsed(extracted: str, detail: str) -> Verdict:
    return Verdict("unparsed", 0.0, extracted[:500], detail[:300])
