"""Find the final answer in a model's response: linear time in the response length, whole response read.

A reasoning model's `<think>...</think>` is its draft: only what follows the last `</think>` is read (nothing: no
answer). Priority (first that applies):
  1. the last `<answer>...</answer>` block (a `\\boxed{}` inside it wins over the rest of its text);
  2. the last top-level `\\boxed{...}` / `\\fbox{...}` (balanced braces, nested boxes allowed). Boxes written next to
     each other with only connectors between them (`\\boxed{2} and \\boxed{3}`, `\\boxed{3} or \\boxed{5}`) are read
     together as one list answer, so a hedge between boxes is a list and cannot match a single reference; a box
     followed later by prose and a new box is a correction, and only the new box counts; so is a "final answer"
     phrase after the last box (`\\boxed{255} ... Final Answer: The final answer is $10,455$.`);
  3. the last "the answer is ...", "final answer: ..." phrase (to the end of its sentence or its first `$...$`);
  4. the last non-empty line (its last `$...$` / `\\(...\\)` / `\\[...\\]` segment if it has one; after " is " if it
     reads "... is X"). When the line ends with a conclusion ("Therefore, there are 12 sequences. I hope it is
     correct.") that has no math segment but exactly one number, that number (with its `%`) is the answer (not
     one it bounds or denies: "at least 12", "not 12"). An answer found only this way that does not parse counts as
     "no answer" (unparsed).

Everything runs on `str.find`/`rfind` and regexes without nested quantifiers, so hostile inputs (1 MB of braces,
thousands of unclosed `<answer>` tags) stay linear. Nothing here interprets the answer; see math_parse.
"""

from __future__ import annotations

import dataclasses
import re

from rlvr.verifiers.tags import after_reasoning, answer_span, last_match


@dataclasses.dataclass(frozen=True)
class Extracted:
    text: str
    source: str  # "answer_tag" | "boxed" | "phrase" | "last_line"
    start: int  # span of the answer in the searched text
    end: int
    prose: str = ""  # the sentence or line a prose answer came from (`_prose_number` reads its number)


MAX_GROUP = 64  # adjacent boxes read as one list; more than this is spam, and still a (wrong) list

_BRACE_EVENTS = re.compile(r"\\(?:boxed|fbox)\s*\{|\\[{}]|[{}]")
# Between the boxes (or math segments) of one answer: separators, "and" / "or", and the name of the next part
# (`x = \\boxed{2}, y = \\boxed{3}`, `y_1 = \\boxed{..} and y_2 = \\boxed{..}`), a label before "and"
# (`\\boxed{1} papers and \\boxed{2} bins`, `\\boxed{(3, 3)} \\text{ for part (a) and } \\boxed{(1, 1)}`).
_CONNECTOR = re.compile(
    r"(?:\s|\$|,|;|\\quad|\\qquad|\\[()\[\],; ]|\\text\{[^{}]{0,30}?\b(?:or|and)\s*\}|\bor\b|\band\b"
    r"|\b[A-Za-z]+\s+and\b|\b[A-Za-z](?:_\{?[A-Za-z0-9]{1,3}\}?)?\s*=)*"
)
_PHRASE = re.compile(
    r"(?i)\b(?:final\s+answer|answer)\s*(?:is\s*:?|:|=)[ \t]*|\bfinal\s+answer\b[ \t]*|^####[ \t]*", re.M
)
_PROSE_TAIL = re.compile(r"[,;]?\s+(?:since|because|as|which|where|so|then|this|that|from|by|with|for|because)\b")
_COPULA = re.compile(r"\$?\s+(?:is|are|equals)\s")
_SENTENCE_END = re.compile(r"\.(?=\s|$)(?![0-9])")
_LEFT_WRAPS = ("$", "\\(", "\\[", "\\displaystyle", "**")
_RIGHT_WRAPS = ("$", "\\)", "\\]", "**", ".", ",", ";", ":")  # not "!": 5! is an answer
_ENVIRONMENT = re.compile(r"\\(?:begin|end)\{[a-z*]+\}")
_DELIMS = ("$", "\\[", "\\]", "\\(", "\\)", "**", "```")


def _only_delimiters(line: str) -> bool:
    """True for lines like `\\]`, `$$`, `\\end{aligned}`: nothing but math delimiters (str.replace: linear, fast)."""
    for d in _DELIMS:
        line = line.replace(d, "")
    if "\\begin" in line or "\\end" in line:  # the regex only where it can match: a 100 MB line costs seconds in it
        line = _ENVIRONMENT.sub("", line)
    return not line.strip()


def top_level_boxes(text: str) -> list[tuple[int, int, int]]:
    """(command start, content start, content end) of every `\\boxed{`/`\\fbox{` not inside another box.

    One pass over the braces with an explicit stack (no recursion); unclosed boxes are dropped.
    """
    boxes: list[tuple[int, int, int]] = []
    stack: list[tuple[bool, int, int]] = []  # (is_box, command start, content start)
    open_boxes = 0
    for m in _BRACE_EVENTS.finditer(text):
        tok = m.group()
        if tok[0] == "\\" and len(tok) == 2:
            continue  # escaped brace \{ or \}
        if tok == "}":
            if not stack:
                continue
            is_box, start, content = stack.pop()
            if is_box:
                open_boxes -= 1
                if open_boxes == 0:
                    boxes.append((start, content, m.start()))
        else:
            is_box = tok != "{"
            stack.append((is_box, m.start(), m.end()))
            open_boxes += is_box
    return boxes


def _boxed(text: str) -> Extracted | None:
    boxes = top_level_boxes(text)
    if not boxes:
        return None
    group = [boxes[-1]]  # built backwards
    for prev in reversed(boxes[:-1]):
        gap = text[prev[2] + 1 : group[-1][0]]
        if len(group) > MAX_GROUP or len(gap) > 40 or "\n\n" in gap or _CONNECTOR.fullmatch(gap) is None:
            break
        group.append(prev)
    group.reverse()
    parts = [strip_wrappers(text[c:e]) for _, c, e in group]
    joined = parts[0] if len(parts) == 1 else ", ".join(f"{{{p}}}" for p in parts)
    return Extracted(joined, "boxed", group[0][1], group[-1][2])


def strip_wrappers(s: str) -> str:
    """Remove math delimiters, markdown bold and trailing punctuation around an answer."""
    # A loop over fixed tokens rather than an anchored regex: `(...)+$` backtracks quadratically on long runs.
    a, b = 0, len(s)
    changed = True
    while changed and a < b:
        changed = False
        while a < b and s[a].isspace():
            a, changed = a + 1, True
        while a < b and s[b - 1].isspace():
            b, changed = b - 1, True
        for w in _LEFT_WRAPS:
            if s.startswith(w, a, b):
                a, changed = a + len(w), True
        for w in _RIGHT_WRAPS:
            if b - len(w) >= a and s.endswith(w, a, b):
                b, changed = b - len(w), True
    return s[a:b]


def _math_segment(line: str, last: bool) -> tuple[int, int] | None:
    """Span of the first or last `$...$`, `\\(...\\)` or `\\[...\\]` content in `line` (linear: find/rfind)."""
    best = None
    if "\\$" in line:  # an escaped dollar is a currency sign, not a delimiter (same length: offsets stay valid)
        line = line.replace("\\$", "\\S")
    for op, cl in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if last:
            e = line.rfind(cl)
            s = line.rfind(op, 0, e - len(op) + 1) if e > 0 else -1
        else:
            s = line.find(op)
            e = line.find(cl, s + len(op)) if s >= 0 else -1
        if s >= 0 and e > s + len(op) and line[s + len(op) : e].strip():
            span = (s + len(op), e)
            if best is None or (span[1] > best[1] if last else span[0] < best[0]):
                best = span
    return best


def _following_segments(line: str, seg: tuple[int, int]) -> list[tuple[int, int]]:
    """`seg` and the math segments after it joined to it by connectors only (`$x=2$ or $x=3$`), at most 20."""
    out = [seg]
    while len(out) < 20:
        pos = out[-1][1]
        for d in ("$$", "$", "\\)", "\\]"):
            if line.startswith(d, pos):
                pos += len(d)
                break
        nxt = _math_segment(line[pos : pos + 200], last=False)
        if nxt is None or len(gap := line[pos : pos + nxt[0]]) > 40 or _CONNECTOR.fullmatch(gap) is None:
            break
        out.append((pos + nxt[0], pos + nxt[1]))
    return out


_PHRASE_ANCHORS = ("nswer", "NSWER", "####")  # in every match of _PHRASE (answer, Answer, ANSWER, ####)
_MAX_LINE = 20_000  # of a phrase's line, we read this much: a longer answer is refused anyway (MAX_CHARS = 4000)


def _last_phrase(text: str) -> re.Match[str] | None:
    """The last match of _PHRASE, found from the end with `str.rfind` on its anchors.

    One regex scan over a 100 MB response is a single C call of seconds that no deadline can interrupt; here each
    C call is a fast `rfind` or a regex run over a 60-character window, and the loop between them is Python.
    """
    last = {a: text.rfind(a) for a in _PHRASE_ANCHORS}  # each anchor's last occurrence before `end`: moves left only
    window = 64  # doubled after each window without a match (up to 1 MB): many failing anchors cost one C scan
    while (k := max(last.values())) >= 0:
        lo = max(0, k - window)
        m = None
        for m in _PHRASE.finditer(text, lo, k + 40):  # noqa: B007 - the last match in the window is the last one
            pass
        if m is not None:
            return m
        if lo == 0:
            return None
        end = lo + 29  # anchors ending after this were covered (with the 24 characters a match starts before one)
        for a, at in last.items():
            if at >= 0 and at + len(a) > end:
                last[a] = text.rfind(a, 0, end)
        window = min(2 * window, 1 << 20)
    return None


def _phrase(text: str) -> Extracted | None:
    m = _last_phrase(text) if "nswer" in text or "NSWER" in text or "####" in text else None
    if m is None:
        return None
    start = m.end()
    end = text.find("\n", start, start + _MAX_LINE)
    end = min(len(text), start + _MAX_LINE) if end < 0 else end
    rest = text[start:end]
    if '"' in rest:  # `The final answer is \"$12$ and $13$\".`: quotes around the answer (same length: offsets hold)
        rest = rest.replace('\\"', "  ").replace('"', " ")
    seg = _math_segment(rest, last=False) if rest.lstrip().startswith(("$", "\\(", "\\[")) else None
    if seg is not None and not _COPULA.match(rest, seg[1] + 1):
        segments = _following_segments(rest, seg)
        if len(segments) > 1:  # `the answer is $x=2$ and $x=3$`: one list answer
            joined = ", ".join(f"{{{strip_wrappers(rest[x:y])}}}" for x, y in segments)
            return Extracted(joined, "phrase", start + segments[0][0], start + segments[-1][1])
        a, b = seg
    else:
        a, b = 0, len(rest)
        if (s := _SENTENCE_END.search(rest)) is not None:
            b = s.start()
        if (s := _PROSE_TAIL.search(rest, 0, b)) is not None:
            b = s.start()
        # `Final Answer: The largest $n$ is 34.`: the answer is what the sentence says the thing is;
        # `Final answer: 12 is the smallest.`: the answer comes first, prose after it
        if (k := max(rest.rfind(" is ", a, b), rest.rfind(" are ", a, b), rest.rfind(" equals ", a, b))) >= 0:
            head, tail = rest[a:k].lstrip(), rest[rest.index(" ", k + 1) + 1 : b]
            if tail[:1].isalpha() and not head[:1].isalpha():
                b = k
            else:
                a = rest.index(" ", k + 1) + 1
    answer = strip_wrappers(rest[a:b])
    sentence = rest[: m.start()] if (m := _SENTENCE_END.search(rest)) is not None else rest
    return Extracted(answer, "phrase", start + a, start + b, sentence) if answer else None


# A bound or a range is not a value: `at least 5`, `more than 5`, `between 40 and 44`, `3 to 5`, `3-5`, `5+`
BOUND = re.compile(
    r"(?i)\b(?:at\s+(?:least|most)|than|between|up\s+to|range)\b|[0-9]\s*(?:[–—]|to\b)\s*-?[0-9]"
    r"|[0-9]-[0-9]+\b(?!\s*=)|[0-9]\+(?![\s$]*[0-9(])"
)
_NEGATED = re.compile(r"(?i)(?:\bnot|n't|\bnever|\bno)\s+(?:[a-z]+\s+){0,2}$")  # `is not 42`, `isn't equal to 42`


def denied(sentence: str, at: int) -> bool:
    """Whether the number at `sentence[at:]` is denied by the words just before it (`is not 42`, `isn't 42`)."""
    return _NEGATED.search(sentence, max(0, at - 40), at) is not None


_CONCLUSION = re.compile(r"(?:^|(?<=[.!?$\]]\s))(?:Therefore|Thus|Hence|So|In conclusion|Finally)\b")
_CONCLUSION_WINDOW = 2000  # a conclusion is sought in this many last characters of the line
_LONE_NUMBER = re.compile(r"(?<![\w.,])-?[0-9]+(?:,[0-9]{3})*(?:\.[0-9]+)?(?:\s?%)?(?![\w])")


def _conclusion(line: str) -> tuple[int, int] | None:
    """The span of the one number in the line's last "Therefore, ..." sentence without math, or None."""
    lo = max(0, len(line) - _CONCLUSION_WINDOW)
    if (found := last_match(_CONCLUSION, line[lo:])) is None:  # sliced: `^` matches at the window's start
        return None
    at = lo + found.start()
    end = m.start() if (m := _SENTENCE_END.search(line, at)) is not None else len(line)
    sentence = line[at:end]
    if "$" in sentence or "\\" in sentence:
        return None
    numbers = list(_LONE_NUMBER.finditer(sentence))
    if len(numbers) != 1 or BOUND.search(sentence) or denied(sentence, numbers[0].start()):
        return None  # `Therefore, there are at least 12 ways.`, `Thus there are not 12 ways.`: no value stated
    return at + numbers[0].start(), at + numbers[0].end()


def _last_line(text: str) -> Extracted | None:
    end = len(text)
    while end > 0:
        start = text.rfind("\n", 0, end) + 1
        line = text[start:end]
        if not _only_delimiters(line):
            break
        end = start - 1
    else:
        return None
    a, b = 0, len(line)
    if (num := _conclusion(line)) is not None:
        return Extracted(line[num[0] : num[1]], "last_line", start + num[0], start + num[1])
    if (seg := _math_segment(line, last=True)) is not None:
        a, b = seg
        segments = [line[a:b]]
        # `$x = 2$ or $x = 3$`: earlier segments joined to the last one by connectors only are part of the answer
        while len(segments) < 20 and (prev := _math_segment(line[: a - 1], last=True)) is not None:
            gap = line[prev[1] : a]
            if len(gap) > 40 or _CONNECTOR.fullmatch(gap) is None:
                break
            a = prev[0]
            segments.insert(0, line[prev[0] : prev[1]])
        answer = ", ".join(f"{{{strip_wrappers(x)}}}" for x in segments) if len(segments) > 1 else segments[0]
        answer = strip_wrappers(answer)
        return Extracted(answer, "last_line", start + a, start + b) if answer else None
    k = max(line.rfind(" is "), line.rfind(" are "))
    if k >= 0:
        a = line.index(" ", k + 1) + 1
    answer = strip_wrappers(line[a:b])
    return Extracted(answer, "last_line", start + a, start + b, line) if answer else None


# A chat template's end-of-turn or new-turn token: the response ends there (what follows is a made-up next turn).
_END_OF_TURN = re.compile(r"<\|(?:im_end|im_start|endoftext|end_of_text|eot_id|eom_id|end)\|>")


def extract_answer(text: str) -> Extracted | None:
    """The response's final answer, or None when there is none (see the module docstring for the rules).

    Tags are found case-insensitively by regex on the original text, never through `text.lower()`: lower-casing
    changes the length of some characters (`İ` becomes two), which would shift every index after them.
    """
    if "<|" in text and (eot := _END_OF_TURN.search(text)) is not None:
        text = text[: eot.start()]  # `... is 2/3. <|im_start|>user`: the answer is before the template token
    # `<think>... \\boxed{42}?</think> The answer is 41.`: the reasoning is a draft, the answer follows it
    text = text[after_reasoning(text) :]
    if (span := answer_span(text)) is not None:
        open_, close = span
        inner = text[open_:close]
        if (box := _boxed(inner) or _phrase(inner)) is not None:
            return Extracted(box.text, "answer_tag", open_ + box.start, open_ + box.end)
        answer = strip_wrappers(inner)
        return Extracted(answer, "answer_tag", open_, close) if answer else None
    if "\\boxed" in text or "\\fbox" in text:
        if (box := _boxed(text)) is not None:
            if (late := _final_phrase_after(text, box.end)) is not None:
                return late
            return box if box.text else None
    return _phrase(text) or _last_line(text)


def _final_phrase_after(text: str, end: int) -> Extracted | None:
    """`... = \\boxed{255}$ So ... $10,455. Final Answer: The final answer is $10,455$.`: a "final answer" phrase
    written after the last box is the response's last word on the answer (as a later box would be)."""
    if "inal" not in text[end:] and "INAL" not in text[end:]:
        return None
    m = _last_phrase(text)
    if m is None or m.start() < end or "final" not in m.group().lower():
        return None
    return _phrase(text)


def extract_reference(reference: str) -> str:
    """A reference answer as text: its last boxed group if it has one, else the answer its "the final answer is"
    phrase gives (a whole solution, a GSM8K answer with `#### 18`), else itself without math delimiters."""
    if "\\boxed" in reference or "\\fbox" in reference:
        if (box := _boxed(reference)) is not None:
            return box.text
    if (phrase := _phrase(reference)) is not None:
        return phrase.text
    return strip_wrappers(reference)
