"""Numeric answers with a tolerance: physics, chemistry and engineering results that are rounded by nature.

The math verifier compares exactly (or within 1e-9 for decimals), which is right for closed-form answers but not for
"the car's speed is 12.5 m/s" computed from rounded constants. This verifier reads one number (and an optional
unit) from the final answer and accepts it within a relative and/or absolute tolerance.

Reference (a dict, a JSON string of one, or a bare number meaning an exact-ish match at `rel_tol` 1e-6):

    {"value": 12.5, "rel_tol": 0.01, "abs_tol": 0.0, "unit": "m/s"}

- accepted when |answer - value| <= max(rel_tol * |value|, abs_tol);
- the answer is found as in the math verifier (`<answer>` tags, the last `\\boxed{}`, "the answer is", the last line);
- number forms: `12.5`, `-3`, `1,250` (thousands), `1.2e-3`, `1.2 \\times 10^{-3}`, `3/4`, `\\frac{3}{4}`, named or
  approximate (`v = 12.5 m/s`, `\\approx 12.5`; a chain `v = 10 + 2.5 = 12.5` is several numbers);
- units: when both the answer and the reference name a unit, they must be the same unit after normalisation
  (`\\text{ m/s}` = `m/s` = `m s^-1` is NOT handled: spelling variants beyond spaces, `\\text`/`\\mathrm`, plurals and
  a few synonyms such as `ohms` = `\\Omega` differ). There is no unit conversion: `1250 m` is not `1.25 km`. An
  answer without a unit is read in the reference's unit (the prompt names it);
- more than one number in the answer (`12.5 or 13`, `12, 13`, `\\boxed{12}\\boxed{13}`) is a hedge: `incorrect`;
- no answer found, or an answer that is not a number: `unparsed` (no container) or `incorrect` (a container holding
  something else), as in the math verifier.
A malformed reference (missing value, a negative tolerance) is a data bug: status `error`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from typing import Any

from rlvr.verifiers.base import Verdict, Verifier
from rlvr.verifiers.math_extract import extract_answer

DEFAULT_REL_TOL = 1e-6
MAX_ANSWER_CHARS = 200  # a final answer longer than this is prose, not a number

_NUM = r"[-+−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?(?:[eE][-+]?\d+)?|[-+−]?\.\d+(?:[eE][-+]?\d+)?"
_NUMBER = re.compile(
    rf"\s*(?:\\[dt]?frac\{{\s*(?P<fn>{_NUM})\s*\}}\{{\s*(?P<fd>{_NUM})\s*\}}"
    rf"|(?P<num>{_NUM})(?:\s*/\s*(?P<den>{_NUM})"
    rf"|\s*(?:\\times|\\cdot|×|\*|x)\s*10\s*\^\s*\{{?\s*(?P<exp>[-+−]?\d+)\s*\}}?)?)"
)
_WRAPPER = re.compile(r"\\(?:text|mathrm|textrm|mbox|operatorname|rm)\s*\{([^{}]*)\}")
_EXPONENT = re.compile(r"\^\s*\{?\s*[-+−]?\d+\s*\}?|[⁰¹²³⁴-⁹⁻]+")
_HEDGE = re.compile(r"\bor\b|\band\b|[,;]|\\pm|±", re.IGNORECASE)
# `v = 12.5 m/s`, `v_0 = 3`, `\\Delta H = -285 kJ`, `\\approx 12.5`: a named or approximate value is the value
_NAMED = re.compile(r"(?:[A-Za-z\\][\w\\{}^ ]{0,20}?)?\s*(?:=|\\approx|≈)\s*(?=[-+−.\d\\])")
_SYNONYMS = {
    "ohm": "Ω", "ohms": "Ω", "\\omega": "Ω", "\\Omega": "Ω", "meter": "m", "meters": "m", "metre": "m", "metres": "m",
    "second": "s", "seconds": "s", "sec": "s", "gram": "g", "grams": "g", "kilogram": "kg", "kilograms": "kg",
    "ampere": "A", "amperes": "A", "amp": "A", "amps": "A", "volt": "V", "volts": "V", "mole": "mol", "moles": "mol",
    "mols": "mol", "liter": "L", "liters": "L", "litre": "L", "litres": "L", "l": "L", "watt": "W", "watts": "W",
    "joule": "J", "joules": "J", "newton": "N", "newtons": "N", "hour": "h", "hours": "h", "hr": "h",
    "minute": "min", "minutes": "min", "kilometer": "km", "kilometers": "km", "kilometres": "km", "kilometre": "km",
    "\\mu": "µ", "μ": "µ", "\\circ": "°", "^\\circ": "°", "degrees": "°", "degree": "°",
}  # fmt: skip
_UNIT_TOKEN = re.compile(r"\\[A-Za-z]+|[A-Za-zµμΩ°]+|[^A-Za-zµμΩ°\s\\]")


@dataclasses.dataclass(frozen=True)
class NumericReference:
    value: float
    rel_tol: float = DEFAULT_REL_TOL
    abs_tol: float = 0.0
    unit: str | None = None


def parse_reference(reference: Any) -> NumericReference:
    """Validate a reference; raises ValueError naming the field (a data bug, not the model's fault)."""
    if isinstance(reference, NumericReference):
        return reference
    if isinstance(reference, str):
        try:
            reference = json.loads(reference)
        except ValueError as e:
            raise ValueError(f"numeric reference is a string but not JSON: {e}") from None
    if isinstance(reference, (int, float)) and not isinstance(reference, bool):
        reference = {"value": reference}
    if not isinstance(reference, dict):
        raise ValueError(f"numeric reference must be a number or a dict with 'value', got {type(reference).__name__}")
    unknown = set(reference) - {"value", "rel_tol", "abs_tol", "unit"}
    if unknown:
        raise ValueError(
            f"numeric reference: unknown field(s) {sorted(unknown)}; allowed: value, rel_tol, abs_tol, unit"
        )
    if "value" not in reference:
        raise ValueError("numeric reference: missing field 'value'")
    out = {}
    for name, default in (("value", None), ("rel_tol", DEFAULT_REL_TOL), ("abs_tol", 0.0)):
        v = reference.get(name, default)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"numeric reference: {name} must be a finite number, got {v!r}")
        if name != "value" and v < 0:
            raise ValueError(f"numeric reference: {name} must be >= 0, got {v!r}")
        out[name] = float(v)
    unit = reference.get("unit")
    if unit is not None and not isinstance(unit, str):
        raise ValueError(f"numeric reference: unit must be a string or null, got {unit!r}")
    return NumericReference(out["value"], out["rel_tol"], out["abs_tol"], unit or None)


def normalise_unit(unit: str) -> str:
    """`\\text{ m/s}` -> `m/s`, `Ohms` -> `Ω`, `grams` -> `g`: wrappers, spaces and a few synonyms; no conversion."""
    text = unit
    for _ in range(3):
        text = _WRAPPER.sub(r"\1", text)
    text = text.replace("\\,", " ").replace("\\ ", " ").replace("{", "").replace("}", "").replace("$", "")
    out = []
    for tok in _UNIT_TOKEN.findall(text):
        out.append(_SYNONYMS.get(tok, _SYNONYMS.get(tok.lower(), tok)) if len(tok) > 1 or tok in "l" else tok)
    return "".join(out).replace("^°", "°")


def _to_float(text: str) -> float:
    return float(text.replace("−", "-").replace(",", ""))


def read_number(answer: str) -> tuple[float, str] | str:
    """(value, unit text) of an answer such as `12.5 m/s`, or a reason string when it is not one number."""
    text = answer.strip()
    if text.startswith("{") and "}, {" in text:  # adjacent boxes, joined by the extractor
        return "several boxed answers (a hedge)"
    for _ in range(3):
        text = _WRAPPER.sub(r" \1", text)
    text = text.replace("\\,", "").replace("{,}", ",").replace("\\!", "").replace("\\ ", " ").strip().strip("$")
    if len(text) > MAX_ANSWER_CHARS:
        return "answer too long to be a number"
    if (named := _NAMED.match(text)) is not None:
        text = text[named.end() :]
    m = _NUMBER.match(text)
    if m is None:
        return "no number in the answer"
    try:
        if m.group("fn") is not None:
            value = _to_float(m.group("fn")) / _to_float(m.group("fd"))
        else:
            value = _to_float(m.group("num"))
            if m.group("den") is not None:
                value /= _to_float(m.group("den"))
            elif m.group("exp") is not None:
                value *= 10.0 ** int(m.group("exp").replace("−", "-"))
    except (ZeroDivisionError, OverflowError, ValueError):
        return "the number does not evaluate"
    unit = text[m.end() :].strip()
    if _HEDGE.search(unit) or re.search(r"\d", _EXPONENT.sub("", unit)):
        return "several numbers in the answer (a hedge)"
    if not math.isfinite(value):
        return "the number is not finite"
    return value, unit


class NumericVerifier(Verifier):
    """One number within a tolerance, units compared without conversion (see module docstring)."""

    name = "numeric"

    def _verify(self, response: str, reference: Any) -> Verdict:
        try:
            ref = parse_reference(reference)
        except ValueError as e:
            return Verdict("error", 0.0, None, f"bad reference (data bug, not the model's fault): {e}"[:500])
        if not isinstance(response, str) or not response.strip():
            return Verdict("unparsed", 0.0, None, "empty response")
        found = extract_answer(response)
        if found is None:
            return Verdict("unparsed", 0.0, None, "no final answer found")
        explicit = found.source != "last_line"
        read = read_number(found.text)
        if isinstance(read, str):
            if "hedge" in read:
                return Verdict("incorrect", 0.0, found.text[:200], read)
            return Verdict("incorrect" if explicit else "unparsed", 0.0, found.text[:200], read)
        value, unit = read
        if unit and ref.unit and normalise_unit(unit) != normalise_unit(ref.unit):
            return Verdict("incorrect", 0.0, found.text[:200], f"unit {unit!r} is not the reference unit {ref.unit!r}")
        tol = max(ref.rel_tol * abs(ref.value), ref.abs_tol)
        if abs(value - ref.value) <= tol:
            return Verdict("correct", 1.0, found.text[:200], f"{value:g} is within {tol:g} of {ref.value:g}")
        return Verdict("incorrect", 0.0, found.text[:200], f"{value:g} is not within {tol:g} of {ref.value:g}")
