"""Notations found in other people's labelled grader tests (benchmarks/data/math_third_party.jsonl), each pinned on
both sides: the form a careful grader accepts, and a near miss it rejects. The pairs are written here, not copied
from the corpus; the corpus itself is checked for provenance and a stable dev / held-out split.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from rlvr.verifiers.math import MathVerifier

ROOT = Path(__file__).resolve().parents[2]
V = MathVerifier()


def status(response: str, reference: str) -> str:
    return V.verify(response, reference).status


def boxed(answer: str) -> str:
    return f"So the result follows. \\boxed{{{answer}}}"


CASES = [
    # `\approx` ends the exact answer: what follows is a rounding (even a wrong one), not the answer
    (boxed(r"x = \frac13 \approx 0.333"), r"\frac13", "correct"),
    (boxed(r"x = \frac13 \approx 1.3"), r"\frac13", "correct"),
    (boxed(r"\frac{2}{3} \approx 0.667"), r"\frac23", "correct"),
    (boxed(r"x = \frac12 \approx 0.333"), r"\frac13", "incorrect"),
    (boxed(r"x \approx 0.333333"), r"\frac13", "correct"),  # an approximation alone is a decimal answer
    (boxed(r"x \approx 0.33"), r"\frac13", "incorrect"),
    # a quantity named by points or subscripted symbols: its value is the answer
    (boxed("4"), "AB=4", "correct"),
    (boxed("5"), "AB=4", "incorrect"),
    (boxed("1"), "|AB|=1", "correct"),
    (boxed(r"\frac{1}{\sqrt{6}}"), r"\frac{NO}{BO}=\frac{1}{\sqrt{6}}", "correct"),
    (boxed(r"\frac{1}{\sqrt{5}}"), r"\frac{NO}{BO}=\frac{1}{\sqrt{6}}", "incorrect"),
    (boxed("4, 5"), "AB=4,CD=5", "correct"),
    (boxed("4, 6"), "AB=4,CD=5", "incorrect"),
    (boxed("6"), "2x = 6", "incorrect"),  # a coefficient: the equation is not "the value of 2x"
    (boxed("4"), "xy = 4", "incorrect"),  # a curve, not a named quantity
    (boxed("3"), "x + y = 3", "incorrect"),
    # ratios: compared part by part, never as a point or a quotient
    (boxed("7:32"), "S_{MBCN}:S=7:32", "correct"),
    (boxed("11:21"), "V_{1}:V_{2}=11:21", "correct"),
    (boxed("11:20"), "V_{1}:V_{2}=11:21", "incorrect"),
    (boxed("(7, 32)"), "7:32", "incorrect"),
    (boxed("12:00"), "12:00", "correct"),
    (boxed("1:00"), "12:00", "incorrect"),
    # the range of a function written as an inequality is an interval
    (boxed("(0,1)"), "0<f(x)<1", "correct"),
    (boxed("[0,1)"), "0<f(x)<1", "incorrect"),
    (boxed("(0, 2]"), r"0 < g(x) \le 2", "correct"),
    # a list with an Oxford comma
    (boxed(r"19, 46, \text{ and } 82"), "19, 46, and 82", "correct"),
    (boxed("19, 46, 82"), "19, 46, and 82", "correct"),
    (boxed("19, 46, 83"), "19, 46, and 82", "incorrect"),
    (boxed("3, 5"), "2, 3, or 5", "incorrect"),
    # "percentage" is a percent sign
    (boxed("28 percentage"), r"28\%", "correct"),
    (boxed("29 percentage"), r"28\%", "incorrect"),
    # LaTeX escaped twice (`\\frac` everywhere, no single `\frac`)
    (boxed(r"\left( \frac{1}{5}, \frac{1}{6} \right)"), r"\\left(\\frac{1}{5},\\frac{1}{6}\\right)", "correct"),
    (boxed(r"\left( \frac{1}{5}, \frac{1}{7} \right)"), r"\\left(\\frac{1}{5},\\frac{1}{6}\\right)", "incorrect"),
    (r"$-2 \\le x \\le 7$", r"x \in [-2,7]", "correct"),
    (boxed(r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}"), r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}", "correct"),
    # a chat template's end-of-turn token ends the response: a made-up next turn is not the answer
    ("Therefore, the probability is 2/3. <|im_start|>user\nWhat is 1+1? The answer is 2", "2/3", "correct"),
    ("Therefore, the probability is 2/3. <|im_start|>user\nWhat is 1+1? The answer is 2", "2", "incorrect"),
    ("The answer is 7.<|im_end|>\nThe answer is 8.", "7", "correct"),
    # a reference that is a whole solution: its final-answer phrase, as for a response
    ("The answer is 18.", "Natalia sold 48/2 = 24 clips in May.\n#### 18", "correct"),
    ("The answer is 24.", "Natalia sold 48/2 = 24 clips in May.\n#### 18", "incorrect"),
    (boxed(r"28\%"), "Loss: $10\\%$, $20\\%$.\nFinal Answer: The final answer is $28 \\%$. I hope so.", "correct"),
    # boxes of one answer, each after the name of its part
    (r"$y_1 = \boxed{-2(x - 1)^2 + 5}$ and $y_2 = \boxed{3(x + 2)^2 - 2}$", "y_1 = -2x^2+4x+3, y_2 = 3x^2+12x+10",
     "correct"),
    (r"$y_1 = \boxed{-2(x - 1)^2 + 5}$ and $y_2 = \boxed{3(x + 2)^2 - 1}$", "y_1 = -2x^2+4x+3, y_2 = 3x^2+12x+10",
     "incorrect"),
    (r"$x = \boxed{2}$ or $x = \boxed{3}$", "3", "incorrect"),  # two answers against one: a hedge
    # no marker at all: the one number of the closing "Therefore, ..." sentence, not an earlier formula
    (r"So $d = \frac{90}{n}$ for each divisor. Therefore, there are 12 such sequences. I hope it is correct.", "12",
     "correct"),
    (r"So $d = \frac{90}{n}$ for each divisor. Therefore, there are 12 such sequences. I hope it is correct.", "13",
     "incorrect"),
    (r"We get $$x \geq 2.$$ Therefore, the minimum error increases by 100%.", r"100\%", "correct"),
    (r"We get $$x \geq 2.$$ Therefore, the minimum error increases by 100%.", r"50\%", "incorrect"),
    ("Therefore, with 3 cases the total is 10.", "3", "incorrect"),  # two numbers: the sentence's "is" decides
    ("Therefore, with 3 cases the total is 10.", "10", "correct"),
    # notation we do not read, then `= value`: the stated value is the answer
    (r"$\lim_{n \to \infty} \frac{1}{n} = 0$", "0", "correct"),
    (r"$\lim_{n \to \infty} \frac{1}{n} = 0$", "1", "incorrect"),
    (r"$23 \bmod 7 = 2$", "2", "correct"),
    (r"$23 \bmod 7 = 2$", "3", "incorrect"),
    (r"\boxed{\det \begin{vmatrix} 1 & 2 \\ 3 & 4 \end{vmatrix} = -2}", "-2", "correct"),
    (r"\boxed{\weird{x} \le 2}", "2", "incorrect"),  # no `=`: still an answer we cannot read
    # a chain of equalities answers its last side, even after a wrong step (the working's fault, not an answer)
    (boxed("x = 5+5+1 = 7 = 11"), "x = 11", "correct"),
    (boxed("x = 5+5+1 = 11 = 7"), "x = 11", "incorrect"),
    (boxed("z = 3+3 = 2"), "z = 1 + 1 = 2", "correct"),
    (boxed("z = 3+3 = 6"), "z = 1 + 1 = 2", "incorrect"),
    (boxed("0"), r"1 = \zzz = x = 0", "correct"),  # an unreadable reference chain: its last side
    (boxed("1"), r"1 = \zzz = x = 0", "incorrect"),
    # a decimal comma, where the other side is one number (a list can never equal one number)
    ("The answer is 1.22", "1,22", "correct"),
    ("The answer is 1.23", "1,22", "incorrect"),
    (boxed("2,74"), "2.74", "correct"),
    (boxed("2,75"), "2.74", "incorrect"),
    # a constant function and a named ratio are their values
    (boxed("1"), "f(x)=1", "correct"),
    (boxed("2"), "f(x)=1", "incorrect"),
    (boxed("1"), "A:B=1", "correct"),
    (boxed("2"), "A:B=1", "incorrect"),
    # an answer repeated in a list of answers is one answer; a missing or extra one still fails
    (boxed("(3,17,3,7), (1,2,3,4), (3,17,3,7)"), "(1,2,3,4), (3,17,3,7)", "correct"),
    (boxed("(3,17,3,7), (3,17,3,7)"), "(1,2,3,4), (3,17,3,7)", "incorrect"),
    (boxed("2, 2, 3, 4"), "2, 3", "incorrect"),
    # boxes after labels joined by "and" are one answer, in the reference as in the response
    (boxed("1,2"), r"\boxed{1} papers and \boxed{2} bins", "correct"),
    (boxed("2"), r"\boxed{1} papers and \boxed{2} bins", "incorrect"),
    (boxed("1,2"), r"\boxed{1} no no no \boxed{2}", "incorrect"),  # no "and": the last box is the gold
    (r"$\boxed{(3, 3)} \text{ for part (a) and } \boxed{(1, 1)}$", "(3, 3), (1, 1)", "correct"),
    (r"$\boxed{(3, 3)} \text{ for part (a) and } \boxed{(1, 1)}$", "(1, 1)", "incorrect"),  # a list, not one
    # a "final answer" phrase after the last box is the response's last word
    (r"so $0.05 \cdot 10,200 / 2 = \boxed{255}$. In all, $10,455. Final Answer: The final answer is $10,455$.",
     "10455", "correct"),
    (r"so $0.05 \cdot 10,200 / 2 = \boxed{255}$. In all, $10,455. Final Answer: The final answer is $10,455$.",
     "255", "incorrect"),
    (r"so the sum is \boxed{255}. The answer is checked.", "255", "correct"),  # "the answer is", not "final"
    ('Final Answer: The final answer is \\"$12 $ and $13 $\\". I hope it is correct.', r"12\text{ and }13",
     "correct"),
    # an answer sentence that does not parse: the last number it states outside math, unless it hedges
    ("Final Answer: Jane started growing Sphere 3 hours ago. I hope it is correct.", "3", "correct"),
    ("Final Answer: Jane started growing Sphere 3 hours ago. I hope it is correct.", "4", "incorrect"),
    ("Final Answer: The number of points in the domain of $f(x)$ is 19. I hope so.", "19", "correct"),
    ("Final Answer: The number of points in the domain of $f(x)$ is 19. I hope so.", "1", "incorrect"),
    ("not it's not 10 it's 1,000.99m²", "1000.99", "correct"),
    ("not it's not 10 it's 1,000.99m²", "10", "incorrect"),
    ("Soucis : 2,74 $ a..", "2.74", "correct"),
    ("Final Answer: it is 3 hours or 5 hours ago.", "5", "incorrect"),  # a hedge states no answer
    ("it's 3 apples or maybe 5", "5", "unparsed"),
    # a spacing command glued to the next letter in a gold (`\quadx_{2}`) is a space
    (r"$\boxed{10^{\frac{\sqrt{13} - 5}{6}}} \quad \text{and} \quad \boxed{10^{-\frac{5 + \sqrt{13}}{6}}}$",
     r"x_{1}=10^{\frac{-5+\sqrt{13}}{6}},\quadx_{2}=10^{\frac{-5-\sqrt{13}}{6}}", "correct"),
    (r"$\boxed{10^{\frac{\sqrt{13} - 5}{6}}} \quad \text{and} \quad \boxed{10^{-\frac{5 - \sqrt{13}}{6}}}$",
     r"x_{1}=10^{\frac{-5+\sqrt{13}}{6}},\quadx_{2}=10^{\frac{-5-\sqrt{13}}{6}}", "incorrect"),
    # a mixed number: a proper fraction after the whole part, a percent after it applies to the whole value
    ("The answer is 4 4/9%", "40/900", "correct"),
    ("The answer is 4 4/9%", "40/901", "incorrect"),
    ("The answer is 2 1/2", "5/2", "correct"),
    ("The answer is 11 7/6", "73/6", "incorrect"),  # 7/6 is no fraction part of a mixed number
    # an odd root of a variable is its real root (`x^{2/3}` = `\sqrt[3]{x}^2` for x < 0 too); even roots stay |x|
    (boxed("x^{2/3}"), r"\sqrt[3]{x}^2", "correct"),
    (boxed(r"\begin{pmatrix}\frac{1}{3x^{2/3}}&0\\0&1\end{pmatrix}"),
     r"\begin{pmatrix}\frac{1}{3\sqrt[3]{x}^2}&0\\0&1\\\end{pmatrix}", "correct"),
    (boxed("x^{1/3}"), r"\sqrt[3]{x}^2", "incorrect"),
    (boxed("x"), r"\sqrt{x^2}", "incorrect"),
    (boxed("-x^{1/3}"), r"\sqrt[3]{x}", "incorrect"),
    # equations naming the same variables in turn are a list of solutions, each a point
    (boxed("(5,2),(7,2)"), "p=5,q=2;p=7,q=2", "correct"),
    (boxed("(7,2),(5,2)"), "p=5,q=2;p=7,q=2", "correct"),
    (boxed("(2,5),(2,7)"), "p=5,q=2;p=7,q=2", "incorrect"),
    (boxed("(5,2),(7,3)"), "p=5,q=2;p=7,q=2", "incorrect"),
    (boxed("(5,2)"), "p=5,q=2;p=7,q=2", "incorrect"),
    # exactly written decimals: equal when one goes beyond 6 places and they agree rounded to 6 (a gold carried to
    # more digits); otherwise exact
    (boxed("0.0666668"), "0.066666793", "correct"),
    (boxed("0.0666658"), "0.066666793", "incorrect"),
    (boxed("0.1234566"), "0.1234564", "incorrect"),  # 0.123457 vs 0.123456
    (boxed("0.0000002"), "0.0000001", "incorrect"),  # tiny values: a factor of two, not a rounding
    (boxed("0.50001"), "0.5", "incorrect"),
    # LaTeX's `{,}` thousands separator with stray spaces
    ("the smallest possible value is $N = 14 {, }916$.", "14{,}916", "correct"),
    ("the smallest possible value is $N = 14 {, }917$.", "14{,}916", "incorrect"),
]  # fmt: skip


@pytest.mark.parametrize(("response", "reference", "expected"), CASES)
def test_third_party_notations(response: str, reference: str, expected: str) -> None:
    assert status(response, reference) == expected


def test_corpus_rows_carry_provenance_options_and_a_stable_split() -> None:
    sys.path.insert(0, str(ROOT / "benchmarks" / "data"))
    from make_math_third_party import split_of

    path = ROOT / "benchmarks" / "data" / "math_third_party.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(rows) >= 250
    for n, row in enumerate(rows):
        assert row["id"] == n
        assert row["expected"] in ("correct", "incorrect")
        src = row["source"]
        assert src["repo"] in ("huggingface/Math-Verify", "leandermaben/AReaL") and src["path"].endswith(".py")
        assert src["test"].startswith("test_")
        assert ("sha256" in src) != ("commit" in src)
        assert set(row["options"]) == {"match_types", "precision", "strict", "allow_set_relation_comp"}
        assert row["split"] == split_of(src, row["reference"], row["response"])
    assert {r["split"] for r in rows} == {"dev", "heldout"}
