"""Write math_equivalence_external.jsonl: hand-labelled equivalence cases in public model-output formats.

Every case is (reference, response, label). The label comes from the rule that made the response, decided by hand
for the whole rule (README.md next to this file lists the rules and formats); no verifier is run here. The answers
of a base item are written by hand: `same` are forms a careful grader accepts for the reference, `wrong` are forms
it rejects. Each answer is wrapped in one of the output formats of MATH, GSM8K, AIME, OlympiadBench and R1-style
reasoning models, chosen deterministically, so the file is reproducible:

    python benchmarks/data/make_math_external.py    # rewrites benchmarks/data/math_equivalence_external.jsonl
"""

from __future__ import annotations

import json
from pathlib import Path

OUT = Path(__file__).with_name("math_equivalence_external.jsonl")

# Output formats (the text around a final answer); {a} is the answer, {w} a line of working with distractor numbers.
FORMATS = {
    "math_minerva": "{w}\nFinal Answer: The final answer is ${a}$. I hope it is correct.",
    "math_boxed": "{w} Therefore, the answer is $\\boxed{{{a}}}$.",
    "aime_boxed": "{w}\n\n\\boxed{{{a}}}",
    "olympiad": "{w}\nSo the final answer is \\boxed{{{a}}}.",
    "r1": "<think>\n{w}\nWait, let me check. Yes.\n</think>\n\n{w}\n\n**Final Answer**\n\\[\n\\boxed{{{a}}}\n\\]",
    "qwen": "{w}\n\nTherefore, the final answer is: $\\boxed{{{a}}}$. I hope it is correct.",
    "answer_is": "{w} The answer is {a}.",
}
NUMERIC_FORMATS = {  # GSM8K's formats only carry plain numbers
    "gsm8k": "{w}\n#### {a}",
    "gsm8k_cot": "{w} So the answer is {a}.",
}
SENTENCE = "{w}\nFinal Answer: {a}."
WORK = [
    "First, 12 + 7 = 19, and then we multiply by 3 to get 57.",
    "We have $x^2 - 5x + 6 = 0$, so the discriminant is $25 - 24 = 1$.",
    "Let $n = 4$. Then $2^n = 16$ and the sum of the first $n$ odd numbers is 16.",
    "Substituting $t = 2$ gives $3t + 1 = 7$; the other case $t = -1$ gives $-2$.",
    "The triangle has sides 3, 4 and 5, so its area is $\\frac{1}{2} \\cdot 3 \\cdot 4 = 6$.",
]


def integer_item(n: int, dataset: str) -> dict:
    """Rules I1-I6 (same) and J1-J4 (wrong) for an integer reference; see README."""
    s = str(n)
    same = [s, f"{s}.0", f"{s}\\text{{ units}}"]  # I1 as is, I2 trailing .0, I3 a unit word added
    if n >= 1000:
        grouped = f"{n:,}"
        same += [grouped, grouped.replace(",", "{,}"), grouped.replace(",", "\\,"), grouped.replace(",", ",\\!")]  # I4
    if dataset == "gsm8k":
        same.append(f"\\${s}")  # I5 a currency sign
    if dataset == "aime" and n < 100:
        same.append(f"{n:03d}")  # I6 AIME's three-digit form
    wrong = [str(n + 1)] + ([str(n * 10)] if n else [])  # J1 off by one, J2 off by a factor of ten
    if n:
        wrong.append(str(-n))  # J3 sign
    wrong.append(f"{s} \\text{{ or }} {n + 2}")  # J4 a hedge between two values
    if n >= 10**6 and int(s[:5]) * 10 ** (len(s) - 5) != n:
        wrong.append(f"{s[0]}.{s[1:5]} \\times 10^{{{len(s) - 1}}}")  # J5 a scientific form that lost digits
    if n >= 10**6:
        wrong.append(f"{n - 1}.5")  # J6 a decimal near the integer
    return {"reference": s, "same": same, "wrong": wrong, "dataset": dataset}


INTEGERS = {
    "gsm8k": [18, 3, 70000, 540, 1250, 624, 35, 7, 460, 12, 2125, 16, 104, 96, 38, 15000, 5, 260, 1000000, 48],
    "aime": [33, 106, 204, 809, 25, 7, 540, 80, 145, 997, 61, 1],
    "math": [0, -4, 12, 2016, 1099511627776, 42, 110, 1234567891],
}

# Hand-written items: (reference, forms a grader accepts, forms it rejects, dataset style).
ITEMS = [
    (
        "\\frac{1}{3}",
        ["\\frac13", "\\dfrac{1}{3}", "1/3", "\\frac{2}{6}", "0.3333333333"],
        ["\\frac{3}{1}", "0.33", "0.333", "\\frac{1}{4}"],
        "math",
    ),
    (
        "\\frac{5}{6}",
        ["\\frac{5}{6}", "5/6", "\\tfrac{5}{6}", "0.833333333"],
        ["\\frac{6}{5}", "0.83", "\\frac{5}{7}"],
        "math",
    ),
    ("\\frac{2}{7}", ["\\frac{4}{14}", "2/7", "\\frac{2}{7}"], ["0.29", "\\frac{7}{2}", "\\frac{2}{9}"], "math"),
    ("\\frac{8}{3}", ["\\frac{8}{3}", "2\\frac{2}{3}", "2.666666667"], ["2.67", "2.6667", "\\frac{3}{8}"], "math"),
    ("\\frac{1}{2}", ["0.5", "\\frac{1}{2}", "1/2", ".5", "\\frac{50}{100}"], ["0.05", "2", "\\frac{1}{3}"], "math"),
    ("\\frac{3}{4}", ["0.75", "\\frac{3}{4}", "\\dfrac34"], ["0.7", "\\frac{4}{3}", "0.075"], "math"),
    ("0.125", ["\\frac{1}{8}", "0.125", "0.1250", "1/8"], ["0.12", "0.13", "\\frac{1}{6}"], "math"),
    (
        "-\\frac{7}{2}",
        ["-3.5", "-\\frac{7}{2}", "\\frac{-7}{2}", "-3\\frac{1}{2}"],
        ["\\frac{7}{2}", "-\\frac{2}{7}", "-3"],
        "math",
    ),
    (
        "2\\sqrt{3}",
        ["\\sqrt{12}", "2 \\sqrt 3", "2\\cdot\\sqrt{3}", "\\sqrt{3}\\cdot 2"],
        ["\\sqrt{6}", "3\\sqrt{2}", "3.46"],
        "math",
    ),
    (
        "\\frac{\\sqrt{2}}{2}",
        ["\\frac{1}{\\sqrt{2}}", "\\frac{\\sqrt2}{2}", "\\sqrt{2}/2", "0.7071067812"],
        ["\\sqrt{2}", "0.71", "\\frac{\\sqrt{3}}{2}"],
        "math",
    ),
    ("3\\sqrt{5}", ["\\sqrt{45}", "3\\sqrt5"], ["5\\sqrt{3}", "\\sqrt{15}"], "math"),
    (
        "\\frac{\\pi}{6}",
        ["\\pi/6", "\\frac{1}{6}\\pi", "\\frac{\\pi}{6}"],
        ["\\frac{\\pi}{3}", "0.52", "\\frac{6}{\\pi}"],
        "math",
    ),
    ("4\\pi", ["4\\pi", "\\pi \\cdot 4", "12.566370614"], ["12.57", "2\\pi", "4"], "math"),
    ("\\pi", ["\\pi", "3.141592654"], ["3.14", "3.1416", "\\frac{22}{7}"], "math"),
    ("x^2+2x+1", ["(x+1)^2", "1+2x+x^2", "x^2 + 2x + 1"], ["x^2+1", "(x-1)^2", "x^2+2x"], "math"),
    ("(x-2)(x+3)", ["x^2+x-6", "(x+3)(x-2)"], ["x^2-x-6", "(x+2)(x-3)"], "math"),
    (
        "\\frac{x+1}{x-1}",
        ["\\frac{1+x}{x-1}", "(x+1)/(x-1)", "-\\frac{x+1}{1-x}"],
        ["\\frac{x-1}{x+1}", "\\frac{x+1}{1-x}"],
        "math",
    ),
    ("2\\sin x \\cos x", ["\\sin 2x", "\\sin(2x)", "2\\cos x\\sin x"], ["\\cos 2x", "\\sin x"], "math"),
    ("e^{2x}", ["(e^x)^2", "e^{x}e^{x}", "\\exp(2x)"], ["e^{x^2}", "2e^x"], "math"),
    ("\\log_2 8", ["3", "\\log_2 8"], ["8", "\\log_8 2"], "math"),
    ("[2, 5)", ["[2,5)", "2 \\le x < 5", "x \\in [2, 5)", "[2, 5)"], ["(2,5)", "[2,5]", "(2,5]"], "math"),
    (
        "(-\\infty, 3]",
        ["(-\\infty,3]", "x \\le 3", "x \\in (-\\infty, 3]"],
        ["(-\\infty, 3)", "x < 3", "[3, \\infty)"],
        "math",
    ),
    (
        "(-2, 1) \\cup (3, \\infty)",
        ["(3,\\infty) \\cup (-2,1)", "(-2,1)\\cup(3,\\infty)"],
        ["(-2,1)", "(-2, 3)", "(-2,1] \\cup (3,\\infty)"],
        "math",
    ),
    (
        "-2 \\le x \\le 7",
        ["x \\in [-2,7]", "[-2,7]", "-2 \\leq x \\leq 7"],
        ["-2 < x < 7", "[-7, 2]", "x \\le 7"],
        "math",
    ),
    (
        "(\\frac{3}{5}, \\frac{8}{3}]",
        ["(0.6, \\frac{8}{3}]", "(\\frac35,\\frac83]"],
        ["[\\frac{3}{5}, \\frac{8}{3}]", "(0.6, 2.67]", "(\\frac{3}{5}, \\frac{8}{3})"],
        "math",
    ),
    ("1, 2, 3", ["3, 2, 1", "1,2,3", "\\{1, 2, 3\\}", "x = 1, 2, 3"], ["1, 2", "1, 2, 4", "6"], "math"),
    (
        "\\{-1, 4\\}",
        ["\\{4, -1\\}", "-1, 4", "x = -1 \\text{ or } x = 4", "4, -1"],
        ["\\{-1\\}", "-1, -4", "\\{1, 4\\}"],
        "math",
    ),
    ("-3, 2", ["2, -3", "x = 2, x = -3", "x=-3 \\text{ and } x=2"], ["3, -2", "-3", "2"], "math"),
    (
        "2 \\pm \\sqrt{3}",
        ["2+\\sqrt3, 2-\\sqrt3", "2-\\sqrt{3}, 2+\\sqrt{3}"],
        ["2+\\sqrt{3}", "2 \\pm \\sqrt{2}"],
        "math",
    ),
    ("(3, -1)", ["(3,-1)", "\\left(3, -1\\right)"], ["(-1, 3)", "(3, 1)", "3, -1 \\text{ or } -1, 3"], "math"),
    ("(1, 2, 3)", ["(1,2,3)", "\\left( 1, 2, 3 \\right)"], ["(3, 2, 1)", "(1, 2)"], "math"),
    (
        "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}",
        ["\\begin{bmatrix} 1 & 2 \\\\ 3 & 4 \\end{bmatrix}", "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}"],
        ["\\begin{pmatrix} 1 & 3 \\\\ 2 & 4 \\end{pmatrix}", "\\begin{pmatrix} 1 & 2 \\\\ 3 & 5 \\end{pmatrix}"],
        "math",
    ),
    (
        "\\begin{pmatrix} 4 \\\\ 6 \\end{pmatrix}",
        [
            "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix} + \\begin{pmatrix} 3 \\\\ 4 \\end{pmatrix}",
            "2\\begin{pmatrix} 2 \\\\ 3 \\end{pmatrix}",
            "(4, 6)",
        ],
        [
            "\\begin{pmatrix} 6 \\\\ 4 \\end{pmatrix}",
            "\\begin{pmatrix} 4 & 6 \\end{pmatrix} + \\begin{pmatrix} 1 & 0 \\end{pmatrix}",
        ],
        "math",
    ),
    ("y = 2x + 3", ["y=3+2x", "y = 2x+3", "2x + 3"], ["y = 3x + 2", "y = 2x - 3"], "math"),
    ("x^2 + y^2 = 25", ["y^2 + x^2 = 25", "x^2+y^2-25=0"], ["x^2 + y^2 = 5", "x^2 - y^2 = 25"], "math"),
    ("3 + 4i", ["4i + 3", "3+4i"], ["3 - 4i", "4 + 3i", "5"], "math"),
    ("30^\\circ", ["30", "30^{\\circ}", "30 degrees", "30°"], ["60^\\circ", "150^\\circ"], "math"),
    ("25\\%", ["25\\%", "25", "25 percent", "0.25", "\\frac{1}{4}"], ["2.5\\%", "0.25\\%", "75\\%"], "math"),
    ("12.5\\%", ["12.5\\%", "12.5", "0.125"], ["1.25\\%", "12\\%"], "math"),
    (
        "2^{100}",
        ["1267650600228229401496703205376", "4^{50}", "2^{100}"],
        ["2^{99}", "1267650600228229401496703205377", "100^2"],
        "math",
    ),
    ("(1+x)^{100000}", ["(x+1)^{100000}", "(1+x)^{100000}"], ["(x+1)^{99999}", "(1-x)^{100000}"], "math"),
    ("2^{2^{40}}", ["4^{2^{39}}", "2^{2^{40}}"], ["2^{2^{39}}", "4^{2^{40}}"], "math"),
    (
        "\\vec{a} - \\vec{b}",
        ["\\vec{a}-\\vec{b}", "\\vec{a} - \\vec{b}"],
        ["\\vec{a} + \\vec{b}", "\\vec{b} - \\vec{a}"],
        "math",
    ),
    ("\\text{Tuesday}", ["Tuesday", "\\text{Tuesday}", "\\textbf{Tuesday}"], ["Monday", "\\text{Thursday}"], "math"),
    ("\\text{(C)}", ["(C)", "C", "\\text{C}"], ["(B)", "D"], "math"),
    ("\\text{No}", ["No", "\\text{no}", "NO"], ["Yes", "\\text{yes}"], "olympiad"),
    (
        "10\\text{ cm}",
        ["10", "10 cm", "10\\text{ centimeters}", "10\\,\\text{cm}"],
        ["100 cm", "1", "10\\text{ cm}^2 \\text{ or } 20 \\text{ cm}"],
        "math",
    ),
    ("16386.2", ["\\$16,386.20", "16386.20", "16,386.2 dollars", "16386.2"], ["16386", "1638.62", "16386.3"], "gsm8k"),
    ("1000.99", ["1,000.99", "1000,99", "1,000.99€", "1\\,000.99"], ["1000.9", "100099", "1000.98"], "math"),
    ("0.111", ["0,111", "0.111", ".111"], ["0.11", "111", "1.11"], "math"),
    ("34", ["The largest $n$ is 34", "n = 34", "x = 5+29 = 34"], ["33", "n = 43", "x = 5 + 29 = 35"], "math"),
    ("11", ["x = 5+5+1 = 11", "5+5+1=11", "5+5+1"], ["5+5+2", "x = 5+5+2 = 12"], "math"),
    ("6", ["3!", "\\binom{4}{2}", "\\frac{12}{2}"], ["4!", "\\binom{4}{3}", "\\frac{12}{3}"], "math"),
    ("\\sqrt[3]{2}", ["2^{1/3}", "2^{\\frac13}", "\\sqrt[3]{2}"], ["\\sqrt{2}", "2^{3}", "\\frac{2}{3}"], "math"),
    ("\\infty", ["\\infty", "+\\infty"], ["-\\infty", "0"], "olympiad"),
    ("\\emptyset", ["\\emptyset", "\\varnothing", "\\{\\}"], ["\\{0\\}", "0"], "olympiad"),
    ("\\frac{1}{x}", ["x^{-1}", "1/x", "\\frac{1}{x}"], ["x", "-x^{-1}", "\\frac{1}{x^2}"], "olympiad"),
    ("a^2 - b^2", ["(a+b)(a-b)", "(a-b)(a+b)", "-b^2 + a^2"], ["(a-b)^2", "a^2 + b^2"], "olympiad"),
    (
        "n(n+1)/2",
        ["\\frac{n(n+1)}{2}", "\\frac{n^2+n}{2}", "\\binom{n+1}{2}"],
        ["n(n-1)/2", "\\frac{n^2}{2}"],
        "olympiad",
    ),
    ("f(x) = 2x", ["f(x)=2x", "2x"], ["f(x) = x^2", "x/2"], "olympiad"),
]

NO_ANSWER = [
    ("42", "I am not sure how to approach this problem."),
    ("42", "Let me think about this step by step.\nFirst, we need to understand the problem."),
    ("\\frac{1}{2}", "The probability depends on how the coins are tossed, which is not specified."),
    ("7", "We can try small cases and look for a pattern in them"),
    ("x^2", "This question seems ill-posed; I cannot determine a unique answer."),
    ("12", ""),
]
HEDGES = [
    ("5", "\\boxed{3} or \\boxed{5}"),
    ("5", "The answer is either $3$ or $5$."),
    ("\\frac{1}{2}", "The answer is \\boxed{\\frac{1}{2}, \\frac{1}{3}}"),
    ("7", "\\boxed{7} \\boxed{8}"),
    ("(3, -1)", "\\boxed{(3,-1) \\text{ or } (-1,3)}"),
]


def cases() -> list[dict]:
    items = [integer_item(n, ds) for ds, ns in INTEGERS.items() for n in ns]
    items += [{"reference": r, "same": s, "wrong": w, "dataset": ds} for r, s, w, ds in ITEMS]
    out, k = [], 0
    for item in items:
        numeric = item["dataset"] == "gsm8k"
        fmts = {**FORMATS, **NUMERIC_FORMATS} if numeric else FORMATS
        names = sorted(fmts)
        for label, forms in (("correct", item["same"]), ("incorrect", item["wrong"])):
            for form in forms:
                name = names[k % len(names)]
                k += 1
                work = WORK[k % len(WORK)]
                if name in ("gsm8k", "gsm8k_cot", "answer_is") and ("\\" in form or "{" in form):
                    name = "math_boxed"  # plain-text formats carry plain answers only
                if form.startswith("The "):
                    name = "sentence"  # the answer stated in a sentence, as Llama-style models end
                response = (SENTENCE if name == "sentence" else fmts[name]).format(a=form, w=work)
                out.append(
                    {"reference": item["reference"], "response": response, "expected": label,
                     "format": name, "dataset": item["dataset"], "answer": form}
                )  # fmt: skip
    for ref, resp in NO_ANSWER:
        out.append({"reference": ref, "response": resp, "expected": "unparsed", "format": "none", "dataset": "any",
                    "answer": None})  # fmt: skip
    for ref, resp in HEDGES:
        out.append({"reference": ref, "response": resp, "expected": "incorrect", "format": "hedge", "dataset": "any",
                    "answer": None})  # fmt: skip
    return out


def main() -> None:
    rows = cases()
    with OUT.open("w", encoding="utf-8") as f:
        for i, c in enumerate(rows):
            f.write(json.dumps({"id": i, "verifier": "math", "category": c["dataset"] + "/" + c["format"], **c},
                               ensure_ascii=False) + "\n")  # fmt: skip
    print(f"wrote {len(rows)} cases to {OUT}")


if __name__ == "__main__":
    main()
