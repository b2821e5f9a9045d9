"""The numeric-with-tolerance verifier: number forms, tolerance, units, hedges, bad references."""

from __future__ import annotations

import pytest

from rlvr.verifiers import get_verifier
from rlvr.verifiers.numeric import normalise_unit, parse_reference

V = get_verifier("numeric")
REF = {"value": 12.5, "rel_tol": 0.01, "unit": "m/s"}


@pytest.mark.parametrize(
    ("response", "status"),
    [
        ("\\boxed{12.5}", "correct"),
        ("\\boxed{12.45 \\text{ m/s}}", "correct"),
        ("The speed is 12.5 m/s", "correct"),
        ("\\boxed{1.25 \\times 10^{1}}", "correct"),
        ("\\boxed{1.25e1}", "correct"),
        ("\\boxed{\\frac{25}{2}}", "correct"),
        ("\\boxed{25/2 m/s}", "correct"),
        ("\\boxed{12.7}", "incorrect"),
        ("\\boxed{-12.5}", "incorrect"),
        ("\\boxed{12.5 km/h}", "incorrect"),  # no unit conversion
        ("\\boxed{12.5 m/s^2}", "incorrect"),
        ("\\boxed{12.5} or \\boxed{13}", "incorrect"),
        ("\\boxed{12.5 or 13}", "incorrect"),
        ("\\boxed{12.5, 12.6}", "incorrect"),
        ("\\boxed{fast}", "incorrect"),
        ("", "unparsed"),
        ("I am not sure", "unparsed"),
    ],
)
def test_verdicts(response, status):
    verdict = V.verify(response, REF)
    assert verdict.status == status, verdict
    assert (verdict.reward == 1.0) == (status == "correct")


def test_units_normalise_and_absolute_tolerance():
    assert normalise_unit("\\text{ Ohms}") == normalise_unit("\\Omega") == "Ω"
    assert normalise_unit("grams") == "g"
    assert V.verify("\\boxed{1,250 g}", {"value": 1250, "unit": "g"}).correct
    assert V.verify("\\boxed{0.001}", {"value": 0, "abs_tol": 0.01}).correct
    assert V.verify("\\boxed{42}", 42).correct


@pytest.mark.parametrize(
    ("reference", "field"),
    [({}, "value"), ({"value": "x"}, "value"), ({"value": 1, "rel_tol": -1}, "rel_tol"), ({"value": 1, "x": 1}, "x")],
)
def test_bad_reference(reference, field):
    with pytest.raises(ValueError, match=field):
        parse_reference(reference)
    assert V.verify("\\boxed{1}", reference).status == "error"


@pytest.mark.parametrize(
    ("response", "status"),
    [
        (r"\boxed{v = 12.5 \text{ m/s}}", "correct"),
        (r"\boxed{v_0 = 12.5}", "correct"),
        (r"\boxed{\approx 12.5 m/s}", "correct"),
        (r"\boxed{v = 13.5 \text{ m/s}}", "incorrect"),
        (r"\boxed{v = 10 + 2.5 = 12.5}", "incorrect"),  # a chain is several numbers
        (r"\boxed{12.5 = 13}", "incorrect"),
    ],
)
def test_a_named_or_approximate_value_is_read(response, status):
    assert V.verify(response, {"value": 12.5, "rel_tol": 0.01, "unit": "m/s"}).status == status
