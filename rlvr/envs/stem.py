"""rlvr/STEM-v0: science questions generated from formulas, as multiple choice or as a number with a tolerance.

    gym.make("rlvr/STEM-v0")                                         # mixed formats, all topics, difficulty 3
    gym.make("rlvr/STEM-v0", format="numeric", topics=["circuits"], difficulty=7, rel_tol=0.005)

Topics (`TOPICS`) and what `difficulty` (1-10) grows:
- kinematics: final speed, distance, speed after a distance under constant acceleration; from d = 5 a second phase
  at constant speed; values get larger and gain decimals;
- circuits: Ohm's law, current through 2 + d//2 resistors in series, the equivalent resistance of resistors in
  parallel, and from d = 6 one resistor in series with a parallel pair;
- stoichiometry: grams of product from grams of reactant through a balanced equation (atomic masses given in the
  prompt); from d = 5 two reactant masses where the limiting reagent decides;
- units: conversions; from d = 4 compound units (mph to m/s), from d = 7 areas and volumes (squared/cubed factors).

Formats: "numeric" (verifier "numeric": reference {"value", "rel_tol", "unit"}; the prompt asks for 3 significant
figures, and `rel_tol` (default 1%) is loose enough for that rounding), "choice" (verifier "choice": four options;
the wrong ones come from common mistakes - a forgotten 1/2, series for parallel, an inverted ratio or conversion
factor - topped up with scaled values when two mistakes give the same number), "mixed" (each problem draws one).

Not handled: symbolic answers, vectors, significant-figure grading (any value within the tolerance is accepted).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Sequence
from decimal import Decimal

import numpy as np

from rlvr.envs.base import Problem, ReasoningEnv, problem_rng
from rlvr.verifiers import Verifier

TOPICS = ("kinematics", "circuits", "stoichiometry", "units")
FORMATS = ("choice", "numeric", "mixed")
MAX_DIFFICULTY = 10
LETTERS = "ABCDEFGH"


@dataclasses.dataclass(frozen=True)
class STEMConfig:
    """difficulty 1..10; topics drawn uniformly; format "choice" | "numeric" | "mixed"; rel_tol of numeric answers;
    num_options (2-8) of multiple-choice questions."""

    difficulty: int = 3
    topics: tuple[str, ...] = TOPICS
    format: str = "mixed"
    rel_tol: float = 0.01
    num_options: int = 4

    def __post_init__(self) -> None:
        if isinstance(self.difficulty, bool) or not isinstance(self.difficulty, int):
            raise ValueError(f"difficulty must be an integer in 1..{MAX_DIFFICULTY}, got {self.difficulty!r}")
        if not 1 <= self.difficulty <= MAX_DIFFICULTY:
            raise ValueError(f"difficulty must be in 1..{MAX_DIFFICULTY}, got {self.difficulty}")
        if isinstance(self.topics, str) or not self.topics:
            raise ValueError(f"topics must be a non-empty list; allowed: {', '.join(TOPICS)}")
        unknown = [t for t in self.topics if t not in TOPICS]
        if unknown:
            raise ValueError(f"topics: unknown topic(s) {unknown}; allowed: {', '.join(TOPICS)}")
        object.__setattr__(self, "topics", tuple(self.topics))
        if self.format not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}, got {self.format!r}")
        if isinstance(self.rel_tol, bool) or not isinstance(self.rel_tol, (int, float)) or not 0 < self.rel_tol < 0.2:
            raise ValueError(f"rel_tol must be a number in (0, 0.2), got {self.rel_tol!r}")
        if isinstance(self.num_options, bool) or not isinstance(self.num_options, int):
            raise ValueError(f"num_options must be an integer in 2..{len(LETTERS)}, got {self.num_options!r}")
        if not 2 <= self.num_options <= len(LETTERS):
            raise ValueError(f"num_options must be in 2..{len(LETTERS)}, got {self.num_options}")


@dataclasses.dataclass(frozen=True)
class _Question:
    text: str
    value: float
    unit: str
    working: str
    mistakes: tuple[float, ...]  # answers that common mistakes give


def fmt(v: float, sig: int = 4) -> str:
    """`v` to `sig` significant figures, without exponent notation for ordinary magnitudes."""
    text = format(Decimal(f"{v:.{sig}g}").normalize(), "f")
    return text[:-2] if text.endswith(".0") else text


def _pick(rng: np.random.Generator, seq: Sequence):
    return seq[int(rng.integers(len(seq)))]


def _num(rng: np.random.Generator, lo: float, hi: float, decimals: int) -> float:
    """A uniform value rounded to `decimals` and to 4 significant figures: exactly what `fmt` shows in the prompt."""
    return float(fmt(round(float(rng.uniform(lo, hi)), decimals)))


# ---------------------------------------------------------------- kinematics


def _kinematics(rng: np.random.Generator, d: int) -> _Question:
    dec = 0 if d <= 2 else 1
    u, a, t = _num(rng, 0, 4 * d, dec), _num(rng, 1, 2 + d, dec), _num(rng, 2, 4 + d, dec)
    start = f"A cart starts at {fmt(u)} m/s and accelerates uniformly at {fmt(a)} m/s^2"
    sub = _pick(rng, ("speed", "distance", "speed_after"))
    if d >= 5 and sub == "distance":
        t2 = _num(rng, 2, 2 + d, dec)
        v = u + a * t
        value = u * t + 0.5 * a * t * t + v * t2
        text = f"{start} for {fmt(t)} s, then moves at constant speed for {fmt(t2)} s. How far does it travel in total?"
        mistakes = (u * t + a * t * t + v * t2, u * t + 0.5 * a * t * t, (u + v) * (t + t2) / 2)
        return _Question(text, value, "m", f"s = ut + at^2/2 + v t2 = {fmt(value)} m", mistakes)
    if sub == "speed":
        value = u + a * t
        text = f"{start} for {fmt(t)} s. What is its final speed?"
        return _Question(text, value, "m/s", f"v = u + at = {fmt(value)} m/s", (a * t, u + a * t / 2, u * t + a))
    if sub == "distance":
        value = u * t + 0.5 * a * t * t
        text = f"{start} for {fmt(t)} s. How far does it travel?"
        return _Question(text, value, "m", f"s = ut + at^2/2 = {fmt(value)} m", (u * t + a * t * t, 0.5 * a * t * t))
    s = _num(rng, 5, 10 + 10 * d, dec)
    value = math.sqrt(u * u + 2 * a * s)
    text = f"{start} over a distance of {fmt(s)} m. What is its speed at the end of that distance?"
    mistakes = (u * u + 2 * a * s, math.sqrt(u * u + a * s), u + math.sqrt(2 * a * s))
    return _Question(text, value, "m/s", f"v = sqrt(u^2 + 2as) = {fmt(value)} m/s", mistakes)


# ---------------------------------------------------------------- circuits

_RESISTORS = (10, 12, 15, 18, 22, 27, 33, 39, 47, 56, 68, 82, 100, 120, 150, 220, 330, 470, 680, 1000)


def _circuits(rng: np.random.Generator, d: int) -> _Question:
    def rs(n: int) -> list[int]:
        return [int(_pick(rng, _RESISTORS[: 8 + d])) for _ in range(n)]

    def ohms(values: list[int]) -> str:
        return ", ".join(f"{r} Ω" for r in values)

    subs = ("ohm", "series", "parallel") + (("mixed",) if d >= 6 else ())
    sub = _pick(rng, subs)
    volts = _num(rng, 1.5, 6 + 6 * d, 0 if d <= 3 else 1)
    if sub == "ohm":
        (r,) = rs(1)
        value = volts / r
        text = f"A {fmt(volts)} V battery is connected across a {r} Ω resistor. What current flows?"
        return _Question(text, value, "A", f"I = V/R = {fmt(value)} A", (volts * r, r / volts, 1000 * value))
    n = 2 + d // 2
    values = rs(n)
    series, parallel = sum(values), 1 / sum(1 / r for r in values)
    if sub == "series":
        value = volts / series
        text = (
            f"Resistors of {ohms(values)} are connected in series across a {fmt(volts)} V supply. What current flows?"
        )
        mistakes = (volts / parallel, volts / values[0], sum(volts / r for r in values) / n)
        return _Question(text, value, "A", f"R = {series} Ω, I = V/R = {fmt(value)} A", mistakes)
    if sub == "parallel":
        text = f"Resistors of {ohms(values)} are connected in parallel. What is their equivalent resistance?"
        mistakes = (float(series), series / n, sum(1 / r for r in values))
        return _Question(text, parallel, "Ω", f"1/R = sum of 1/R_i, R = {fmt(parallel)} Ω", mistakes)
    r1, r2, r3 = rs(3)
    value = r1 + r2 * r3 / (r2 + r3)
    text = (
        f"A {r1} Ω resistor is connected in series with a parallel pair of {r2} Ω and {r3} Ω resistors. "
        "What is the total resistance?"
    )
    mistakes = (float(r1 + r2 + r3), 1 / (1 / r1 + 1 / r2 + 1 / r3), r1 * (r2 + r3) / (r1 + r2 + r3) + r2)
    return _Question(text, value, "Ω", f"R = R1 + R2 R3/(R2 + R3) = {fmt(value)} Ω", mistakes)


# ---------------------------------------------------------------- stoichiometry

ATOMIC_MASS = {"H": 1.008, "C": 12.011, "N": 14.007, "O": 15.999, "Na": 22.990, "Mg": 24.305, "Al": 26.982,
               "Cl": 35.45, "Ca": 40.078, "Fe": 55.845}  # fmt: skip
# (reactants, products), each a list of (coefficient, formula)
REACTIONS = (
    ([(2, "H2"), (1, "O2")], [(2, "H2O")]),
    ([(1, "CH4"), (2, "O2")], [(1, "CO2"), (2, "H2O")]),
    ([(2, "Na"), (1, "Cl2")], [(2, "NaCl")]),
    ([(1, "N2"), (3, "H2")], [(2, "NH3")]),
    ([(1, "C3H8"), (5, "O2")], [(3, "CO2"), (4, "H2O")]),
    ([(2, "Mg"), (1, "O2")], [(2, "MgO")]),
    ([(4, "Fe"), (3, "O2")], [(2, "Fe2O3")]),
    ([(2, "Al"), (3, "Cl2")], [(2, "AlCl3")]),
    ([(1, "CaCO3")], [(1, "CaO"), (1, "CO2")]),
)
_ELEMENT = re.compile(r"([A-Z][a-z]?)(\d*)")


def molar_mass(formula: str) -> float:
    """Molar mass in g/mol of a formula without brackets ("Fe2O3")."""
    return sum(ATOMIC_MASS[el] * int(n or 1) for el, n in _ELEMENT.findall(formula))


def _equation(reaction) -> str:
    def side(items):
        return " + ".join(f"{c if c > 1 else ''}{f}" for c, f in items)

    return f"{side(reaction[0])} -> {side(reaction[1])}"


def _stoichiometry(rng: np.random.Generator, d: int) -> _Question:
    pool = REACTIONS if d >= 5 else tuple(r for r in REACTIONS if len(r[0]) == 2) + REACTIONS[-1:]
    reaction = _pick(rng, pool)
    reactants, products = reaction
    cp, product = _pick(rng, products)
    elements = sorted({el for _, f in reactants + products for el, _ in _ELEMENT.findall(f)})
    masses = ", ".join(f"{el} = {ATOMIC_MASS[el]}" for el in elements)
    head = f"For the reaction {_equation(reaction)} (atomic masses: {masses} g/mol), "
    mp = molar_mass(product)
    dec = 0 if d <= 3 else 1
    if d >= 5 and len(reactants) == 2:
        (c1, f1), (c2, f2) = reactants
        m1, m2 = _num(rng, 2, 10 * d, dec), _num(rng, 2, 10 * d, dec)
        n1, n2 = m1 / molar_mass(f1) / c1, m2 / molar_mass(f2) / c2  # reaction extents each reactant allows
        value = min(n1, n2) * cp * mp
        text = f"{head}{fmt(m1)} g of {f1} react with {fmt(m2)} g of {f2}. What mass of {product} can form at most?"
        limiting = f1 if n1 <= n2 else f2
        return _Question(text, value, "g", f"{limiting} is limiting; m = {fmt(value)} g", (max(n1, n2) * cp * mp,))
    cr, reactant = reactants[0]
    m = _num(rng, 1, 20 * d, dec)
    mr = molar_mass(reactant)
    value = m / mr * cp / cr * mp
    text = f"{head}what mass of {product} forms from {fmt(m)} g of {reactant} (other reactants in excess)?"
    mistakes = (m / mr * mp, m / mr * cr / cp * mp, m * cp / cr, m / mr * cp / cr)
    return _Question(text, value, "g", f"n = {fmt(m / mr)} mol {reactant}; m = {fmt(value)} g {product}", mistakes)


# ---------------------------------------------------------------- unit conversion

# (from, to, factor, dimension level); value_in_to = value_in_from * factor
_CONVERSIONS = (
    ("km/h", "m/s", 1 / 3.6, 1), ("m/s", "km/h", 3.6, 1), ("mi", "km", 1.609344, 1), ("in", "cm", 2.54, 1),
    ("ft", "m", 0.3048, 1), ("lb", "kg", 0.45359237, 1), ("L", "mL", 1000.0, 1), ("h", "s", 3600.0, 1),
    ("atm", "kPa", 101.325, 1), ("kWh", "MJ", 3.6, 1),
    ("mph", "m/s", 1609.344 / 3600, 2), ("g/cm^3", "kg/m^3", 1000.0, 2), ("km/h", "ft/s", 1000 / 3600 / 0.3048, 2),
    ("cm^2", "m^2", 1e-4, 3), ("m^3", "L", 1000.0, 3), ("ft^2", "m^2", 0.3048**2, 3), ("mm^3", "cm^3", 1e-3, 3),
)  # fmt: skip
_LINEAR = {"cm^2": 1e-2, "m^3": 10.0, "ft^2": 0.3048, "mm^3": 0.1}  # the factor someone who forgets the power uses


def _units(rng: np.random.Generator, d: int) -> _Question:
    level = 1 if d < 4 else 2 if d < 7 else 3
    choices = [c for c in _CONVERSIONS if c[3] <= level]
    if level > 1 and rng.random() < 0.7:
        choices = [c for c in choices if c[3] == level]
    src, dst, factor, _ = _pick(rng, choices)
    x = _num(rng, 1, 10 ** (1 + d // 3), 0 if d <= 3 else 2)
    value = x * factor
    text = f"Convert {fmt(x)} {src} to {dst}."
    mistakes = [x / factor, value * 10, value / 10]
    if src in _LINEAR:
        mistakes.insert(0, x * _LINEAR[src])
    return _Question(text, value, dst, f"{fmt(x)} {src} x {fmt(factor, 6)} = {fmt(value)} {dst}", tuple(mistakes))


GENERATORS: dict[str, Callable[[np.random.Generator, int], _Question]] = {
    "kinematics": _kinematics,
    "circuits": _circuits,
    "stoichiometry": _stoichiometry,
    "units": _units,
}


def _options(rng: np.random.Generator, q: _Question, n: int, rel_tol: float) -> tuple[list[str], int]:
    """n option texts (the right one at a random index) whose values differ pairwise by more than 3 * rel_tol."""

    def far(v: float, taken: list[float]) -> bool:
        return math.isfinite(v) and v > 0 and all(abs(v - t) > 3 * rel_tol * max(abs(v), abs(t)) for t in taken)

    values = [q.value]
    for v in list(q.mistakes) + [q.value * f for f in (2.0, 0.5, 1.5, 0.25, 3.0, 0.1, 10.0, 0.75)]:
        v = float(fmt(v, 3))
        if len(values) < n and far(v, values):
            values.append(v)
    wrong = values[1:]
    order = [int(i) for i in rng.permutation(len(wrong))]
    at = int(rng.integers(n))
    shown = [wrong[i] for i in order]
    shown.insert(at, values[0])
    return [f"{fmt(v, 3)} {q.unit}" for v in shown], at


class STEMSource:
    """Topic, format and numbers all come from `problem_rng(seed)`."""

    def __init__(self, config: STEMConfig) -> None:
        self.config = config

    def problem(self, seed: int) -> Problem:
        cfg = self.config
        rng = problem_rng(seed)
        topic = cfg.topics[int(rng.integers(len(cfg.topics)))]
        fmt_ = cfg.format if cfg.format != "mixed" else ("choice", "numeric")[int(rng.integers(2))]
        q = GENERATORS[topic](rng, cfg.difficulty)
        difficulty = {"difficulty": cfg.difficulty, "topic": topic, "format": fmt_}
        pid = f"stem/{topic}/{fmt_}/d{cfg.difficulty}/{seed}"
        if fmt_ == "numeric":
            wrong = next((m for m in q.mistakes if abs(m - q.value) > 3 * cfg.rel_tol * abs(q.value)), 2 * q.value)
            return Problem(
                id=pid,
                domain="stem",
                prompt=f"{q.text}\n\nGive your answer in {q.unit}, to 3 significant figures, within \\boxed{{}}.",
                reference={"value": q.value, "rel_tol": cfg.rel_tol, "unit": q.unit},
                verifier="numeric",
                answer_format="boxed",
                difficulty=difficulty,
                solution=f"{q.working}.\n\n\\boxed{{{fmt(q.value)} \\text{{ {q.unit}}}}}",
                meta={"wrong": f"\\boxed{{{fmt(wrong, 3)}}}", "right": f"\\boxed{{{fmt(q.value)}}}"},
            )
        options, at = _options(rng, q, cfg.num_options, cfg.rel_tol)
        letters = LETTERS[: len(options)]
        listing = "\n".join(f"{letter}. {o}" for letter, o in zip(letters, options, strict=True))
        other = letters[(at + 1) % len(options)]
        return Problem(
            id=pid,
            domain="stem",
            prompt=f"{q.text}\n\n{listing}\n\nAnswer with the letter of the correct option within \\boxed{{}}.",
            reference={"answer": letters[at], "options": options},
            verifier="choice",
            answer_format="choice",
            difficulty=difficulty,
            solution=f"{q.working}, which is option {letters[at]}.\n\n\\boxed{{{letters[at]}}}",
            meta={"wrong": f"\\boxed{{{other}}}", "right": f"\\boxed{{{letters[at]}}}"},
        )


class STEMEnv(ReasoningEnv):
    """rlvr/STEM-v0 (see module docstring for topics, formats and the difficulty knob)."""

    def __init__(
        self,
        difficulty: int = 3,
        topics: Sequence[str] | None = None,
        format: str = "mixed",  # noqa: A002 - the config field name users write
        rel_tol: float = 0.01,
        num_options: int = 4,
        verifier: Verifier | None = None,
        render_mode: str | None = None,
    ) -> None:
        self.config = STEMConfig(difficulty, TOPICS if topics is None else tuple(topics), format, rel_tol, num_options)
        super().__init__(STEMSource(self.config), verifier=verifier, render_mode=render_mode)

    def negative_responses(self) -> list[str]:
        if self.problem is None:
            raise RuntimeError("call reset() before negative_responses()")
        right, wrong = self.problem.meta["right"], self.problem.meta["wrong"]
        return ["", f"The answer is {wrong}.", f"{right} or {wrong}"]
