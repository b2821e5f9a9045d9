"""Multiple-choice verifier: find the one option letter a response commits to and compare it with the reference.

Reference: a letter (`"B"`, `"(b)"`) or `{"answer": "B", "options": ["text A", "text B", ...]}`; letters A, B, ...
name the options in order. A malformed reference is a data bug, so it gives status `error`, never a 0 the
trainer would learn from.

How the answer is read (the first rule that finds something wins):

1. Containers: `\\boxed{...}` and `<answer>...</answer>`. Two containers naming different letters is a hedge.
2. Verbal markers, the last one that reads first: "the answer is B", "Answer: (B)", "**Final Answer**: B",
   "the correct option is B", "option B is correct", "I'll go with B".
3. The final non-empty line: a line that is only a letter form ("B", "(B)", "**B**", "B. Paris") gives that
   letter; otherwise the last standalone option letter on it.
4. The first non-empty line, when it is only a letter form ("B\\n\\nBecause ...").

Where options are given, the exact option text (case, whitespace and punctuation normalised) counts as its
letter in rules 1-3; a letter followed by the text of a *different* option ("B. Berlin") is self-contradictory
and gets no credit.

Standalone letters use word boundaries, so "C++", "A-level", "U.S.", "it's" and "I'd" hold no letters; "A" and
"I" followed by an ordinary lower-case word ("A car travels", "I think") are English, not answers; a letter
right after "not", "neither", "nor" or "except" is a rejection, not a choice; one right after a number is a unit
("the current is 0.9 A"), not a choice. Without options, only A-J (and the
reference letter) count as standalone letters; after an explicit marker any letter A-Z is read.

Hedges: two or more different letters joined by "or", "and", ",", "/", "&" ("A or B", "either A or C",
"A, B", "A/B") are `incorrect` with detail "hedge: ...". Repeating one letter ("B, B") is not a hedge, but a chain
of more than 32 letter mentions ("B B B ...") is letter spam and `incorrect`.

Unicode: the text is NFKC-normalised, so fullwidth "Ｂ" and mathematical "𝐁" read as B. Look-alike letters from
other scripts (Cyrillic "В", Greek "Β") are different letters and are not read: such an answer is `unparsed`.

Not handled: answers spread over several lines without a marker, ordinals ("the second option"), option text
that is paraphrased rather than exact, hedges written as option texts ("Paris or Berlin" reads as unparsed).
Marker spans are read up to the end of their line (at most 300 characters): an answer slot, not an essay; option
text is only compared with spans at most twice the longest option plus 32 characters.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import re
import unicodedata
from typing import Any

from rlvr.verifiers.base import Verdict, Verifier

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_DEFAULT_LETTERS = "ABCDEFGHIJ"  # up to ten options (MMLU-Pro) when the reference lists none
_SPAN_CHARS = 300

# Markdown emphasis and code marks carry no meaning for a letter answer; they become spaces.
_FORMATTING = str.maketrans({"*": " ", "_": " ", "`": " "})

# A standalone capital letter: not part of a word, a contraction, an abbreviation ("U.S."), "C++", "C#", "A-level".
_STANDALONE = re.compile(r"(?<![\w'’.\-])([A-Z])(?![\w'’+#]|-\w|\.\w)")
# English uses of "A" and "I" are followed by a lower-case word; these words still allow a letter reading.
_NEXT_WORD = re.compile(r"\s+([a-z]+)")
_LETTER_VERBS = {"or", "and", "nor", "vs", "versus", "is", "seems", "looks", "fits", "matches"}
_NEGATIONS = ("not", "n't", "neither", "nor", "except", "excluding")
_CONNECTOR = re.compile(
    r"[\s,;/&+()\[\]]*(?:\b(?:or|and|and/or|nor|vs\.?|versus|maybe|perhaps|possibly)\b[\s,;/&+()\[\]]*){0,3}"
)
_CONNECTOR_MAX = 24
# A chain of more letter mentions than this ("B B B B ...") is letter spam, not an answer: it reads as incorrect.
_CHAIN_MAX = 32

# Rule 1: containers. One level of nested braces covers \boxed{\text{B}}; the alternatives cannot overlap, so
# matching stays linear on inputs with thousands of unbalanced braces.
_BOXED = re.compile(r"\\boxed\s*\{((?:[^{}]|\{[^{}]*\})*)\}")
_TAG_OPEN = re.compile(r"<answer>", re.IGNORECASE)
_TAG_CLOSE = re.compile(r"</answer>", re.IGNORECASE)
_LATEX_WRAPPERS = re.compile(r"\\(?:boxed|text|textbf|mathrm|mathbf|mbox|bf|rm)\b|[{}$]")

# Rule 2: verbal markers. Group "letter" is set when the letter comes before the marker ("option B is correct").
_MARKER = re.compile(
    r"\b(?:(?:final|correct|right|best)\s+)?(?:answer|option|choice)s?\b[ \t]*"
    r"(?:is|:|=|-|would\s+be|should\s+be|must\s+be|will\s+be|here\s+is)[ \t]*:?"
    r"|\bI(?:'ll|\s+will|\s+would)?\s+(?:choose|pick|select|go\s+with)\b"
    r"|\b(?:option|choice)\s*[(\[]?(?P<letter>[A-Z])[)\]]?\s+is\s+(?:the\s+)?(?:correct|right|best|answer)\b",
    re.IGNORECASE,
)

# A span that starts with a letter form: "B", "(B)", "[b]", "B.", "B) text", "option B".
_SPAN_LEAD = re.compile(r"[\s:=\-–—>]*(?:(?:option|choice|letter)\b\s*)?(?:(?:either|both)\s+)?", re.IGNORECASE)
_SPAN_LETTER = re.compile(r"(?P<open>[(\[])?\s*(?P<letter>[A-Za-z])(?![\w'’+#]|-\w|\.\w)\s*(?P<close>[)\]])?")
_CHAIN = re.compile(
    r"\s*(?:,\s*(?:or|and)\b|,|/|&|\+|;|\bor\b|\band\b|\bnor\b|\bvs\.?|\bversus\b)\s*"
    r"(?:(?:option|choice)\s+)?(?P<open>[(\[])?\s*(?P<letter>[A-Za-z])(?![\w'’+#]|-\w|\.\w)\s*(?P<close>[)\]])?",
    re.IGNORECASE,
)
_REPEAT = re.compile(r"\s*[(\[]\s*(?P<letter>[A-Z])\s*[)\]]")  # "B (B)"
_NOT_WORD = re.compile(r"[^\w.]+|_+")
_SEPARATOR = re.compile(r"\s*[.):\-–—]\s*")
# What may stand between a number and its unit: spaces, LaTeX spacing and the opening of \text{...}/\mathrm{...}.
_UNIT_GAP = re.compile(r"(?:\s|~|\\[,;:! ]|\\(?:text|mathrm|rm|mbox)\s*\{|\{)*$")


@dataclasses.dataclass(frozen=True)
class ChoiceReference:
    """A validated reference: the correct letter and, optionally, the option texts in letter order."""

    answer: str
    options: tuple[str, ...] | None = None

    @functools.cached_property
    def normalised_options(self) -> tuple[str, ...]:
        return tuple(_normalise(o) for o in self.options or ())

    @functools.cached_property
    def longest_option(self) -> int:
        """Longest raw text compared with the options: formatting and punctuation may pad an option 2x, plus 32."""
        return 2 * max((len(o) for o in self.options or ()), default=0) + 32

    @functools.cached_property
    def letters(self) -> str:
        """Letters that count as standalone answers on a final line."""
        if self.options is not None:
            return _LETTERS[: len(self.options)]
        return _DEFAULT_LETTERS if self.answer in _DEFAULT_LETTERS else _DEFAULT_LETTERS + self.answer


def _parse_letter(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"choice reference: {field} must be a letter A-Z, got {type(value).__name__}")
    letter = value.strip().strip("()[]. ").upper()
    if len(letter) != 1 or letter not in _LETTERS:
        raise ValueError(f"choice reference: {field} must be a single letter A-Z, got {value!r}")
    return letter


def parse_reference(reference: Any) -> ChoiceReference:
    """Validate a reference; raises ValueError naming the field (a data bug, not the model's fault)."""
    if isinstance(reference, ChoiceReference):
        return reference
    if isinstance(reference, str):
        return ChoiceReference(_parse_letter(reference, "reference"))
    if not isinstance(reference, dict):
        raise ValueError(f"choice reference must be a letter or a dict with 'answer', got {type(reference).__name__}")
    unknown = set(reference) - {"answer", "options"}
    if unknown:
        raise ValueError(f"choice reference: unknown field(s) {sorted(unknown)}; allowed: answer, options")
    if "answer" not in reference:
        raise ValueError("choice reference: missing field 'answer'")
    answer = _parse_letter(reference["answer"], "answer")
    options = reference.get("options")
    if options is None:
        return ChoiceReference(answer)
    if not isinstance(options, (list, tuple)) or not all(isinstance(o, str) for o in options):
        raise ValueError("choice reference: options must be a list of strings")
    if not 2 <= len(options) <= 26:
        raise ValueError(f"choice reference: options must have 2 to 26 entries, got {len(options)}")
    if _LETTERS.index(answer) >= len(options):
        raise ValueError(f"choice reference: answer {answer!r} is beyond the {len(options)} options")
    return ChoiceReference(answer, tuple(options))


def _normalise(text: str) -> str:
    """Case, punctuation and whitespace-insensitive form used to compare option texts ("2.0 m/s" -> "2.0 m s")."""
    return " ".join(w.strip(".") for w in _NOT_WORD.sub(" ", text.casefold()).split() if w.strip("."))


@dataclasses.dataclass(frozen=True)
class _Reading:
    letters: tuple[str, ...]  # distinct letters in order; more than one is a hedge
    how: str
    problem: str = ""

    @property
    def hedge(self) -> bool:
        return len(self.letters) > 1


def _english_word_follows(text: str, end: int) -> bool:
    """True where "A"/"I" at text[end-1] is an article or pronoun ("A car", "I think"), not a letter."""
    m = _NEXT_WORD.match(text, end, end + 40)
    return m is not None and m.group(1) not in _LETTER_VERBS


def _negated(line: str, start: int) -> bool:
    """True where the letter at `start` follows "not", "neither", "nor", "except" ("not A", "neither (A)")."""
    before = line[max(0, start - 14) : start].rstrip(" \t([").lower()
    word = next((w for w in _NEGATIONS if before.endswith(w)), None)
    return word is not None and (len(before) == len(word) or not before[-len(word) - 1].isalnum() or word == "n't")


def _after_number(line: str, start: int) -> bool:
    """True where the letter at `start` follows a number ("0.9 A", "12\\,V", "5 \\text{ C}"): a unit (ampere, volt,
    coulomb), not an option letter; read as one, a wrong value in amperes would earn option A's credit."""
    before = line[max(0, start - 40) : start]
    return before[: _UNIT_GAP.search(before).start()][-1:].isdigit()


def _option_for_text(text: str, ref: ChoiceReference) -> str | None:
    """The letter whose option text equals `text` (normalised), when exactly one does."""
    if ref.options is None or len(text) > ref.longest_option:
        return None  # far longer than every option: not "the exact option text", and not worth normalising
    norm = _normalise(text)
    if not norm:
        return None
    hits = [_LETTERS[i] for i, o in enumerate(ref.normalised_options) if o == norm]
    return hits[0] if len(hits) == 1 else None


def _read_span(span: str, ref: ChoiceReference, how: str, strict: bool = False) -> _Reading | None:
    """Read the answer at the start of `span` (the text after a marker, a container's content, or a line).

    With `strict`, the letter must stand alone ("B", "(B)", "B. text", "B) text"): used for bare lines, where
    "B is wrong" must not read as B.
    """
    span = _LATEX_WRAPPERS.sub(" ", span.translate(_FORMATTING)).strip()
    if not span:
        return None
    pos = _SPAN_LEAD.match(span).end()
    m = _SPAN_LETTER.match(span, pos)
    if m is not None:
        letter, bracketed = m.group("letter"), bool(m.group("open") or m.group("close"))
        rest = span[m.end() :]
        plain_rest = not rest.strip(" .,;:!?")
        if letter.islower() and not (bracketed or plain_rest):
            m = None  # "the answer is a car": a lower-case letter needs brackets or nothing after it
        elif letter in "AI" and not bracketed and _english_word_follows(span, m.end("letter")):
            m = None
        elif strict and not (bracketed or plain_rest or _SEPARATOR.match(rest) or _CHAIN.match(rest)):
            m = None
    if m is None:
        letter = _option_for_text(span, ref)
        return _Reading((letter,), how + " option text") if letter else None

    letters = [letter.upper()]
    end = m.end()
    for _ in range(_CHAIN_MAX + 1):
        c = _CHAIN.match(span, end) or _REPEAT.match(span, end)
        if c is None:
            break
        nxt = c.group("letter")
        bracketed = bool(c.groupdict().get("open") or c.groupdict().get("close"))
        if nxt.islower() and not (letter.islower() or bracketed):
            break  # "B, a classic": a lower-case word, not a second letter
        if nxt in "AI" and not bracketed and _english_word_follows(span, c.end("letter")):
            break
        if nxt.upper() not in letters:
            letters.append(nxt.upper())
        end = c.end()
    else:
        return _Reading((), how, "letter spam")
    reading = _Reading(tuple(letters), how)
    if not reading.hedge and ref.options is not None:
        sep = _SEPARATOR.match(span, end)
        named = _option_for_text(span[sep.end() :], ref) if sep else None
        if named is not None and named != letters[0]:
            return _Reading(
                reading.letters, how, f"self-contradictory: letter {letters[0]} but the text of option {named}"
            )
    return reading


def _containers(text: str) -> list[str]:
    """Contents of every \\boxed{...} and <answer>...</answer>, in order of appearance."""
    found = [(m.start(), m.group(1)) for m in _BOXED.finditer(text)] if "\\boxed" in text else []
    if "<" in text:
        closes = [m.start() for m in _TAG_CLOSE.finditer(text)]
        opens = [(m.start(), m.end()) for m in _TAG_OPEN.finditer(text)]
        for k, (start, end) in enumerate(opens):
            i = bisect.bisect_left(closes, end)
            # a tag opened again before it closes is not a container: the innermost one is (contents stay disjoint,
            # so 16,000 unclosed tags cost one pass, not 16,000 overlapping copies)
            if i < len(closes) and (k + 1 == len(opens) or closes[i] < opens[k + 1][0]):
                found.append((start, text[end : closes[i]]))
    return [content for _, content in sorted(found)]


def _read_containers(text: str, ref: ChoiceReference) -> _Reading | None:
    readings = [r for c in _containers(text) if (r := _read_span(c, ref, "container")) is not None]
    if not readings:
        return None
    letters: list[str] = []
    for r in readings:
        letters += [x for x in r.letters if x not in letters]
    problem = next((r.problem for r in readings if r.problem), "")
    return _Reading(tuple(letters), "container", problem)


def _read_markers(text: str, ref: ChoiceReference) -> _Reading | None:
    for m in reversed(list(_MARKER.finditer(text))):
        if m.group("letter"):
            return _Reading((m.group("letter").upper(),), "marker")
        span = text[m.end() : m.end() + _SPAN_CHARS].split("\n", 1)[0]
        reading = _read_span(span, ref, "marker")
        if reading is not None:
            return reading
    return None


def _read_line(line: str, ref: ChoiceReference) -> _Reading | None:
    """A final line: a bare letter form, else the last standalone option letter (with its hedge chain)."""
    reading = _read_span(line, ref, "final line", strict=True)
    if reading is not None:
        return reading
    line = line.translate(_FORMATTING)
    matches = list(_STANDALONE.finditer(line))  # in C; the filters below run from the end and stop early
    chosen: list[re.Match[str]] = []
    for m in reversed(matches):
        letter = m.group(1)
        if letter not in ref.letters and letter != ref.answer:
            continue
        if letter in "AI" and _english_word_follows(line, m.end()):
            continue
        if _negated(line, m.start()) or _after_number(line, m.start()):
            continue
        if chosen:
            if chosen[-1].start() - m.end() > _CONNECTOR_MAX:
                break
            if not _CONNECTOR.fullmatch(line, m.end(), chosen[-1].start()):
                break
        chosen.append(m)
        if len(chosen) > _CHAIN_MAX:
            return _Reading((), "final line", "letter spam")
    if not chosen:
        return None
    letters: list[str] = []
    for m in reversed(chosen):
        if m.group(1) not in letters:
            letters.append(m.group(1))
    return _Reading(tuple(letters), "final line")


def _read_first_line(line: str, ref: ChoiceReference) -> _Reading | None:
    reading = _read_span(line, ref, "first line", strict=True)
    return reading if reading is not None and reading.how == "first line" else None


def read_answer(response: str, ref: ChoiceReference) -> _Reading | None:
    """Apply the reading rules of the module docstring in order; None when no answer is found."""
    text = unicodedata.normalize("NFKC", response).strip()
    if not text:
        return None
    reading = _read_containers(text, ref) or _read_markers(text, ref)
    if reading is not None:
        return reading
    last = text[text.rfind("\n") + 1 :].strip()
    reading = _read_line(last, ref)
    if reading is not None:
        return reading
    newline = text.find("\n")
    return _read_first_line(text[:newline], ref) if newline >= 0 else None


class ChoiceVerifier(Verifier):
    """Multiple-choice answers: exact letter match, hedges incorrect, no answer unparsed (see module docstring)."""

    name = "choice"

    def _verify(self, response: str, reference: Any) -> Verdict:
        try:
            ref = parse_reference(reference)
        except ValueError as e:
            return Verdict("error", 0.0, None, f"bad reference (data bug, not the model's fault): {e}")
        if not isinstance(response, str):
            return Verdict("unparsed", 0.0, None, f"response is {type(response).__name__}, not text")
        reading = read_answer(response, ref)
        if reading is None:
            return Verdict("unparsed", 0.0, None, "no option letter found")
        if reading.hedge:
            return Verdict("incorrect", 0.0, "/".join(reading.letters), f"hedge: {' or '.join(reading.letters)}")
        if reading.problem:
            letter = reading.letters[0] if reading.letters else None
            return Verdict("incorrect", 0.0, letter, f"not credited: {reading.problem}")
        letter = reading.letters[0]
        if letter == ref.answer:
            return Verdict("correct", 1.0, letter, f"{letter} matches ({reading.how})")
        return Verdict("incorrect", 0.0, letter, f"{letter} but the answer is {ref.answer} ({reading.how})")
