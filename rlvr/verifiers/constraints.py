"""IFEval-style constraint kinds: each is a small registered class with a params schema, `check` and `describe`.

    CONSTRAINTS["word_count"].check(response, min=50, max=200)   -> bool
    CONSTRAINTS["word_count"].describe(min=50, max=200)          -> "Answer with at least 50 and at most 200 words."
    CONSTRAINTS["word_count"].validate({"min": 50})              -> {"min": 50, "max": None}  (or ValueError)

`check` and `describe` validate their params first, so a bad config always fails with a ValueError naming the kind
and the field, never with a TypeError from deep inside. Range kinds take `min` and/or `max` (inclusive; exactly N is
min == max); "exactly N" kinds take `count`.

Definitions used throughout (checked on the whole response, never a truncated part; all linear time):
- a word is a run of non-whitespace that contains at least one letter or digit ("--" is not a word, "it's" and
  "well-known" are one word each);
- a sentence ends at ".", "!" or "?" followed by whitespace or the end; unterminated trailing text is a sentence too.
  Abbreviations ("Dr. Smith") split sentences: not handled;
- paragraphs are separated by blank lines or by lines made only of `***`; empty paragraphs do not count;
- keywords match case-insensitively on word boundaries ("cat" is not in "category"), and a space inside a phrase
  keyword matches any run of whitespace.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any, ClassVar

_MISSING = object()


@dataclasses.dataclass(frozen=True)
class Field:
    """One parameter: its type, whether it is required, its default, and the smallest allowed integer."""

    name: str
    type: str  # "int" | "str" | "letter" | "str_list"
    required: bool = True
    default: Any = None
    minimum: int = 0
    doc: str = ""


class Constraint:
    """Base of the registered kinds: subclasses set `kind`, `fields`, `_check` and `_describe`."""

    kind: ClassVar[str] = ""
    fields: ClassVar[tuple[Field, ...]] = ()

    @classmethod
    def validate(cls, params: dict[str, Any]) -> dict[str, Any]:
        """Return params with defaults filled in; ValueError naming kind and field on anything wrong."""
        if not isinstance(params, dict):
            raise ValueError(f"{cls.kind}: params must be a mapping, got {type(params).__name__}")
        allowed = {f.name for f in cls.fields}
        unknown = sorted(set(params) - allowed)
        if unknown:
            names = ", ".join(sorted(allowed)) or "none"
            raise ValueError(f"{cls.kind}: unknown field(s) {', '.join(map(repr, unknown))}; allowed: {names}")
        out = {}
        for f in cls.fields:
            value = params.get(f.name, _MISSING)
            if value is _MISSING or value is None:
                if f.required:
                    raise ValueError(f"{cls.kind}: missing required field {f.name!r} ({f.doc or f.type})")
                out[f.name] = f.default
            else:
                out[f.name] = _check_type(cls.kind, f, value)
        cls._validate_together(out)
        return out

    @classmethod
    def _validate_together(cls, params: dict[str, Any]) -> None:
        """Cross-field rules; range kinds need at least one bound and min <= max."""
        names = {f.name for f in cls.fields}
        if {"min", "max"} <= names:
            lo, hi = params["min"], params["max"]
            if lo is None and hi is None:
                raise ValueError(f"{cls.kind}: give at least one of 'min' or 'max'")
            if lo is not None and hi is not None and lo > hi:
                raise ValueError(f"{cls.kind}: 'min' ({lo}) must not exceed 'max' ({hi})")

    @classmethod
    def check(cls, response: str, **params: Any) -> bool:
        """True when `response` satisfies the constraint."""
        return bool(cls._check(response, **cls.validate(params)))

    @classmethod
    def describe(cls, **params: Any) -> str:
        """The instruction sentence for a prompt."""
        return cls._describe(**cls.validate(params))

    @staticmethod
    def _check(response: str, **params: Any) -> bool:
        raise NotImplementedError

    @staticmethod
    def _describe(**params: Any) -> str:
        raise NotImplementedError


def _check_type(kind: str, f: Field, value: Any) -> Any:
    where = f"{kind}: field {f.name!r}"
    if f.type == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{where} must be an integer, got {value!r}")
        if value < f.minimum:
            raise ValueError(f"{where} must be >= {f.minimum}, got {value}")
        return value
    if f.type == "str":
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{where} must be a non-empty string, got {value!r}")
        return value
    if f.type == "letter":
        if not isinstance(value, str) or len(value) != 1 or not value.isalpha():
            raise ValueError(f"{where} must be a single letter, got {value!r}")
        return value
    if f.type == "str_list":
        if isinstance(value, str) or not isinstance(value, (list, tuple)) or not value:
            raise ValueError(f"{where} must be a non-empty list of strings, got {value!r}")
        if not all(isinstance(v, str) and v.strip() for v in value):
            raise ValueError(f"{where} must contain only non-empty strings, got {value!r}")
        return list(value)
    raise ValueError(f"{where}: unknown field type {f.type!r}")  # a bug in this module's schema


CONSTRAINTS: dict[str, type[Constraint]] = {}


def register(cls: type[Constraint]) -> type[Constraint]:
    if cls.kind in CONSTRAINTS:
        raise ValueError(f"constraint kind {cls.kind!r} is already registered")
    CONSTRAINTS[cls.kind] = cls
    return cls


def get_constraint(kind: Any) -> type[Constraint]:
    if not isinstance(kind, str) or kind not in CONSTRAINTS:
        raise ValueError(f"unknown constraint kind {kind!r}; allowed: {', '.join(sorted(CONSTRAINTS))}")
    return CONSTRAINTS[kind]


# ---------------------------------------------------------------- helpers

_ALNUM = re.compile(r"[^\W_]")
_SENTENCE_END = re.compile(r"[.!?]+(?=\s|$)")
_SEPARATOR_LINE = re.compile(r"[ \t]*(?:\*[ \t]*){3,}")


def _word_count(text: str) -> int:
    # split-then-search, not one regex: "\S*[^\W_]\S*" backtracks quadratically on a long token without letters.
    return sum(1 for token in text.split() if _ALNUM.search(token))


def _sentences(text: str) -> int:
    return sum(1 for part in _SENTENCE_END.split(text) if _ALNUM.search(part))


def _paragraphs(text: str) -> int:
    count, inside = 0, False
    for line in text.splitlines():
        if not line.strip() or _SEPARATOR_LINE.fullmatch(line):
            inside = False
        elif not inside:
            count, inside = count + 1, True
    return count


def _in_range(n: int, min: int | None, max: int | None) -> bool:  # noqa: A002 - the config field names
    return (min is None or n >= min) and (max is None or n <= max)


def _range_words(min: int | None, max: int | None, unit: str) -> str:  # noqa: A002
    if min is not None and min == max:
        return f"exactly {min} {unit}"
    if max is None:
        return f"at least {min} {unit}"
    if min is None:
        return f"at most {max} {unit}"
    return f"at least {min} and at most {max} {unit}"


def _keyword_pattern(keyword: str) -> re.Pattern[str]:
    body = r"\s+".join(re.escape(w) for w in keyword.split())
    return re.compile(rf"(?<!\w){body}(?!\w)", re.IGNORECASE)


def _count_keyword(text: str, keyword: str) -> int:
    return sum(1 for _ in _keyword_pattern(keyword).finditer(text))


def _range_fields(what: str) -> tuple[Field, Field]:
    return (
        Field("min", "int", required=False, doc=f"at least this many {what}"),
        Field("max", "int", required=False, doc=f"at most this many {what}"),
    )


# ---------------------------------------------------------------- length and structure


@register
class WordCount(Constraint):
    kind = "word_count"
    fields = _range_fields("words")

    @staticmethod
    def _check(response, min, max):  # noqa: A002
        return _in_range(_word_count(response), min, max)

    @staticmethod
    def _describe(min, max):  # noqa: A002
        return f"Answer with {_range_words(min, max, 'words')}."


@register
class SentenceCount(Constraint):
    kind = "sentence_count"
    fields = _range_fields("sentences")

    @staticmethod
    def _check(response, min, max):  # noqa: A002
        return _in_range(_sentences(response), min, max)

    @staticmethod
    def _describe(min, max):  # noqa: A002
        return f"Your response should contain {_range_words(min, max, 'sentences')}."


@register
class ParagraphCount(Constraint):
    kind = "paragraph_count"
    fields = _range_fields("paragraphs")

    @staticmethod
    def _check(response, min, max):  # noqa: A002
        return _in_range(_paragraphs(response), min, max)

    @staticmethod
    def _describe(min, max):  # noqa: A002
        return (
            f"Your response should contain {_range_words(min, max, 'paragraphs')}. "
            "Separate paragraphs with a blank line or the markdown divider ***."
        )


_BULLET = re.compile(r"^[ \t]*[-*+][ \t]+\S", re.MULTILINE)
_RULE_LINE = re.compile(r"[ \t]*(?:[-*_][ \t]*){3,}")


@register
class BulletCount(Constraint):
    """Markdown bullets ("* ", "- ", "+ " at a line start, nested ones included); numbered items and rules
    ("***", "---", "* * *") are not bullets."""

    kind = "bullet_count"
    fields = (Field("count", "int", doc="exact number of bullet points"),)

    @staticmethod
    def _check(response, count):
        bullets = 0
        for m in _BULLET.finditer(response):
            end = response.find("\n", m.start())
            if not _RULE_LINE.fullmatch(response, m.start(), len(response) if end < 0 else end):
                bullets += 1
        return bullets == count

    @staticmethod
    def _describe(count):
        return (
            f"Your answer must contain exactly {count} bullet points. "
            "Use markdown bullet points such as:\n* This is a point."
        )


_SECTION_NUMBER = r"[ \t]+(?:\d+|(?-i:[IVXLC]+))\b"  # roman numerals in capitals only


@register
class SectionCount(Constraint):
    """Sections start with a line beginning "<marker> <number>" (case-insensitive, markdown "#"/"*" allowed before
    it), e.g. "SECTION 1", "Section 2:", "## Section III". The numbers are not checked to be in order."""

    kind = "section_count"
    fields = (
        Field("count", "int", minimum=1, doc="exact number of sections"),
        Field("marker", "str", required=False, default="Section", doc="word that starts each section"),
    )

    @staticmethod
    def _check(response, count, marker):
        pattern = re.compile(rf"^[ \t#*]*{re.escape(marker.strip())}{_SECTION_NUMBER}", re.IGNORECASE | re.MULTILINE)
        return sum(1 for _ in pattern.finditer(response)) == count

    @staticmethod
    def _describe(count, marker):
        m = marker.strip().upper()
        return (
            f"Your response must have exactly {count} sections. "
            f"Mark the beginning of each section with {m} X, such as: {m} 1."
        )


# ---------------------------------------------------------------- keywords and letters


@register
class KeywordsIncluded(Constraint):
    kind = "keywords_included"
    fields = (Field("keywords", "str_list", doc="words or phrases that must all appear"),)

    @staticmethod
    def _check(response, keywords):
        return all(_keyword_pattern(k).search(response) for k in keywords)

    @staticmethod
    def _describe(keywords):
        return f"Include the keywords {', '.join(repr(k) for k in keywords)} in the response."


@register
class KeywordsExcluded(Constraint):
    kind = "keywords_excluded"
    fields = (Field("keywords", "str_list", doc="forbidden words or phrases"),)

    @staticmethod
    def _check(response, keywords):
        return not any(_keyword_pattern(k).search(response) for k in keywords)

    @staticmethod
    def _describe(keywords):
        return f"Do not include the words {', '.join(repr(k) for k in keywords)} in the response."


@register
class KeywordFrequency(Constraint):
    kind = "keyword_frequency"
    fields = (Field("keyword", "str", doc="word or phrase to count"), *_range_fields("occurrences"))

    @staticmethod
    def _check(response, keyword, min, max):  # noqa: A002
        return _in_range(_count_keyword(response, keyword), min, max)

    @staticmethod
    def _describe(keyword, min, max):  # noqa: A002
        return f"In your response, the word {keyword!r} should appear {_range_words(min, max, 'times')}."


@register
class LetterFrequency(Constraint):
    """Counts one letter case-insensitively anywhere in the text (inside words too)."""

    kind = "letter_frequency"
    fields = (Field("letter", "letter", doc="a single letter"), *_range_fields("occurrences"))

    @staticmethod
    def _check(response, letter, min, max):  # noqa: A002
        return _in_range(response.casefold().count(letter.casefold()), min, max)

    @staticmethod
    def _describe(letter, min, max):  # noqa: A002
        return f"In your response, the letter {letter!r} should appear {_range_words(min, max, 'times')}."


@register
class CapitalWords(Constraint):
    """Words of two or more letters written entirely in capitals ("NASA", "VERY"); "I" and "A" do not count."""

    kind = "capital_words"
    fields = _range_fields("all-capital words")

    @staticmethod
    def _check(response, min, max):  # noqa: A002
        n = sum(1 for w in re.findall(r"[^\W\d_]{2,}", response) if w.isupper())
        return _in_range(n, min, max)

    @staticmethod
    def _describe(min, max):  # noqa: A002
        return f"Your response should contain {_range_words(min, max, 'words in all capital letters')}."


# ---------------------------------------------------------------- format


_FENCE = re.compile(r"```[ \t]*(?:json|JSON)?[ \t]*\n(.*)\n[ \t]*```", re.DOTALL)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


@register
class JsonFormat(Constraint):
    """The whole response is one strict JSON value (no NaN/Infinity), optionally inside one ``` or ```json fence.
    JSON nested deeper than the decoder's recursion limit is rejected."""

    kind = "json_format"

    @staticmethod
    def _check(response):
        text = response.strip()
        fence = _FENCE.fullmatch(text)
        if fence is not None:
            text = fence.group(1)
        try:
            json.loads(text, parse_constant=_reject_constant)
        except (ValueError, RecursionError):
            return False
        return True

    @staticmethod
    def _describe():
        return "Your entire output should be wrapped in JSON format. You can use markdown ticks such as ```."


_TITLE = re.compile(r"<<([^\n<>]+)>>")


@register
class Title(Constraint):
    """A non-blank title wrapped in double angular brackets, such as <<poem of joy>>, anywhere in the response."""

    kind = "title"

    @staticmethod
    def _check(response):
        return any(m.group(1).strip() for m in _TITLE.finditer(response))

    @staticmethod
    def _describe():
        return "Your answer must contain a title, wrapped in double angular brackets, such as <<poem of joy>>."


_PLACEHOLDER = re.compile(r"\[([^\[\]\n]+)\](?!\()")


@register
class Placeholders(Constraint):
    """Square-bracket placeholders with non-blank content ("[address]"); markdown links "[text](url)" do not count."""

    kind = "placeholders"
    fields = (Field("min", "int", minimum=1, doc="at least this many placeholders"),)

    @staticmethod
    def _check(response, min):  # noqa: A002
        return sum(1 for m in _PLACEHOLDER.finditer(response) if m.group(1).strip()) >= min

    @staticmethod
    def _describe(min):  # noqa: A002
        return (
            f"The response must contain at least {min} placeholders represented by square brackets, such as [address]."
        )


_HIGHLIGHT = re.compile(r"(?<!\*)\*\*?([^\s*](?:[^*\n]*[^\s*])?)\*\*?(?!\*)")


@register
class Highlights(Constraint):
    """Markdown-highlighted spans on one line, *text* or **text**; "* item" bullets and "2 * 3" are not highlights."""

    kind = "highlights"
    fields = (Field("min", "int", minimum=1, doc="at least this many highlighted spans"),)

    @staticmethod
    def _check(response, min):  # noqa: A002
        return sum(1 for _ in _HIGHLIGHT.finditer(response)) >= min

    @staticmethod
    def _describe(min):  # noqa: A002
        return f"Highlight at least {min} sections in your answer with markdown, i.e. *highlighted section*."


# ---------------------------------------------------------------- whole-text form


@register
class StartPhrase(Constraint):
    """The response, after leading whitespace, starts with the exact phrase (case-sensitive)."""

    kind = "start_phrase"
    fields = (Field("phrase", "str", doc="exact opening phrase"),)

    @staticmethod
    def _check(response, phrase):
        return response.lstrip().startswith(phrase.strip())

    @staticmethod
    def _describe(phrase):
        return f"Start your response with the exact phrase {phrase.strip()!r}."


@register
class EndPhrase(Constraint):
    """The response, before trailing whitespace, ends with the exact phrase (case-sensitive); nothing may follow."""

    kind = "end_phrase"
    fields = (Field("phrase", "str", doc="exact closing phrase"),)

    @staticmethod
    def _check(response, phrase):
        return response.rstrip().endswith(phrase.strip())

    @staticmethod
    def _describe(phrase):
        return (
            f"Finish your response with this exact phrase {phrase.strip()!r}. No other words should follow this phrase."
        )


@register
class AllLowercase(Constraint):
    """No upper-case letters, and at least one lower-case one (digits and punctuation alone are not "lowercase")."""

    kind = "all_lowercase"

    @staticmethod
    def _check(response):
        return response == response.lower() and response != response.upper()

    @staticmethod
    def _describe():
        return (
            "Your entire response should be in English, and in all lowercase letters. No capital letters are allowed."
        )


@register
class AllUppercase(Constraint):
    """No lower-case letters, and at least one upper-case one."""

    kind = "all_uppercase"

    @staticmethod
    def _check(response):
        return response == response.upper() and response != response.lower()

    @staticmethod
    def _describe():
        return "Your entire response should be in English, and in all capital letters."


@register
class NoCommas(Constraint):
    """No ASCII comma, fullwidth comma (U+FF0C) or ideographic comma (U+3001)."""

    kind = "no_commas"

    @staticmethod
    def _check(response):
        return not any(c in response for c in ",，、")

    @staticmethod
    def _describe():
        return "In your entire response, refrain from the use of any commas."


_QUOTE_PAIRS = (('"', '"'), ("“", "”"))


@register
class Quotation(Constraint):
    """The whole response (outer whitespace aside) is wrapped in double quotes, straight or curly, with text inside."""

    kind = "quotation"

    @staticmethod
    def _check(response):
        text = response.strip()
        return any(
            len(text) >= 2 and text.startswith(a) and text.endswith(b) and text[1:-1].strip() for a, b in _QUOTE_PAIRS
        )

    @staticmethod
    def _describe():
        return "Wrap your entire response with double quotation marks."


@register
class Postscript(Constraint):
    """A line that starts with the marker (e.g. "P.S."), followed by some text, anywhere after the first line."""

    kind = "postscript"
    fields = (Field("marker", "str", required=False, default="P.S.", doc="postscript marker such as P.S. or P.P.S"),)

    @staticmethod
    def _check(response, marker):
        pattern = re.compile(rf"\n[ \t*_]*{re.escape(marker.strip())}[ \t:]*\S", re.IGNORECASE)
        return pattern.search(response) is not None

    @staticmethod
    def _describe(marker):
        return f"At the end of your response, please explicitly add a postscript starting with {marker.strip()}"


__all__ = ["CONSTRAINTS", "Constraint", "Field", "get_constraint", "register"]
