"""Parity of d bits, with the running parity as checkable intermediate steps.

Reference: `{"bits": "10110"}` (the answer is the XOR of the bits). A response is either
- tagged: `<answer>1</answer>`, with any running-parity bits written before the tag as steps; or
- bare: nothing but bits (spaces allowed), the last bit being the answer: `1` (short form) or
  `1 1 0 1 1` (long form: the running parity after each input bit, whose last value is the answer).

Anything else without tags is `unparsed`, so prose that happens to end in a digit is not read as
an answer. Two different tagged answers are a hedge: incorrect. `verify_steps` scores the i-th
written step 1.0 when it equals the parity of the first i bits.
"""

from __future__ import annotations

import re
from typing import Any

from rlvr.verifiers.base import Verdict, Verifier
from rlvr.verifiers.steps import StepScore

_OPEN, _CLOSE = "<answer>", "</answer>"
_BARE = re.compile(r"[01](?:[ \t]*[01])*")


def _bits(reference: Any) -> str:
    bits = reference["bits"] if isinstance(reference, dict) else reference
    if not isinstance(bits, str) or not bits or set(bits) - {"0", "1"}:
        raise ValueError(f"parity reference must be {{'bits': '0101…'}}, got {reference!r}")
    return bits


def parity(bits: str) -> int:
    return bits.count("1") % 2


def running_parity(bits: str) -> str:
    out, p = [], 0
    for b in bits:
        p ^= b == "1"
        out.append(str(p))
    return "".join(out)


def _tags(response: str) -> list[tuple[int, str]]:
    """(start, stripped content) of every `<answer>...</answer>`, non-overlapping, left to right.

    A scan with `str.find` in linear time: the regex `<answer>(.*?)</answer>` retried from each of thousands of
    unclosed tags is quadratic (16,000 tags: 19 s). An opening tag inside a tag's content starts a new tag.
    """
    out, i = [], 0
    while (start := response.find(_OPEN, i)) >= 0:
        end = response.find(_CLOSE, start + len(_OPEN))
        if end < 0:
            break
        inner_start = response.rfind(_OPEN, start, end)  # the innermost opening before this close
        out.append((inner_start, response[inner_start + len(_OPEN) : end].strip()))
        i = end + len(_CLOSE)
    return out


def _parse(response: str) -> tuple[str | None, list[tuple[int, str]], str]:
    """(answer or None, [(offset, step bit)], why-unparsed)."""
    tags = _tags(response)
    if tags:
        answers = {content for _, content in tags}
        if len(answers) > 1:
            return "hedge", [], f"several different answers: {sorted(answers)[:4]}"
        answer = answers.pop()
        if answer not in ("0", "1"):
            return None, [], f"answer {answer[:20]!r} is not 0 or 1"
        head = response[: tags[0][0]]
        steps = [(i, c) for i, c in enumerate(head) if c in "01"] if _BARE.fullmatch(head.strip() or "0") else []
        return answer, steps, ""
    body = response.strip()
    if not body or not _BARE.fullmatch(body):
        return None, [], "no <answer> tag and not a plain bit string"
    start = response.index(body)
    steps = [(start + i, c) for i, c in enumerate(body) if c in "01"]
    return steps[-1][1], steps, ""


class ParityVerifier(Verifier):
    """Checks the final parity bit; `verify_steps` checks a written running-parity chain."""

    name = "parity"

    def _verify(self, response: str, reference: Any) -> Verdict:
        bits = _bits(reference)
        if not isinstance(response, str):
            return Verdict("unparsed", 0.0, None, f"response is {type(response).__name__}, not text")
        answer, _, why = _parse(response)
        if answer is None:
            return Verdict("unparsed", 0.0, None, why)
        if answer == "hedge":
            return Verdict("incorrect", 0.0, None, f"hedge: {why}")
        expected = str(parity(bits))
        if answer == expected:
            return Verdict("correct", 1.0, answer, "")
        return Verdict("incorrect", 0.0, answer, f"expected {expected}")

    def verify_steps(self, response: str, reference: Any) -> list[StepScore]:
        """One score per running-parity bit written before the answer (all of them in the bare long form)."""
        bits = _bits(reference)
        answer, steps, _ = _parse(response)
        if answer in (None, "hedge") or len(steps) < 2:
            return []
        chain = running_parity(bits)
        return [
            StepScore(start=pos, end=pos + 1, score=float(i < len(chain) and bit == chain[i]), text=bit)
            for i, (pos, bit) in enumerate(steps)
        ]
