"""Write math_third_party.jsonl: (gold, prediction, label) triples from other people's grader tests, as data.

Source: the test suite shipped in math-verify's source distribution (PyPI `math-verify==0.9.0`, the version installed
in the venv; test files under the MIT notice of The HuggingFace Team, package under Apache-2.0). Every
`@pytest.mark.parametrize` list whose names include `gold`, `pred` and `expected` (or `result`) becomes rows; the
labels are theirs, unchanged (1 -> correct, 0 -> incorrect). The test body is read (never run) for the options its
comparison uses, recorded per row so a comparison with math-verify can be fair:

  * `match_types`: the extraction targets `compare_strings` passes to `parse` (`latex`, `expr`), or `default`
    (a test that calls `parse(gold)` / `parse(pred)` with no config);
  * `precision`: math-verify's `float_rounding` (6 unless the test says otherwise);
  * `strict`, `allow_set_relation_comp`: math-verify's `verify` flags (True / False unless the test says otherwise).

Rows whose values are not Python literals (an f-string computing `sqrt(17)`) are left out and counted. Rows of
math-verify's newer `test_mixed_number_extraction.py` (not in the 0.9.0 sdist) are transcribed by hand in
`MIXED_NUMBERS` with the GitHub commit they were read at, and 43 pairs of another project's tests (AReaL's
math-verify reward tests, `AREAL`), transcribed by hand for the same reason. Each row gets a `split` (`dev` or
`heldout`) from a hash of its source and text, fixed before any verifier was run on the file:

    pip download --no-deps --no-binary :all: math-verify==0.9.0 -d /tmp/mv && tar xzf /tmp/mv/*.tar.gz -C /tmp/mv
    python benchmarks/data/make_math_third_party.py /tmp/mv/math_verify-0.9.0   # rewrites math_third_party.jsonl
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).with_name("math_third_party.jsonl")
SDIST = "math-verify==0.9.0 sdist (PyPI)"
SDIST_SHA256 = "45ac6c61344ba056b9e99a660a4bc8d044ed408f730aed68c60435aa5eec4645"
REPO = "huggingface/Math-Verify"
DEFAULTS = {"match_types": ["latex", "expr"], "precision": 6, "strict": True, "allow_set_relation_comp": False}
OPTION_NAMES = ("precision", "strict", "allow_set_relation_comp")

# tests/test_mixed_number_extraction.py at huggingface/Math-Verify@05aa3a67e1e5aa4a0dbecea17550a17cc2d5ed2d: the
# (gold, prediction, label) of each `verify(parse(gold, EXPR), parse(pred, EXPR))` it asserts; percent rows compare
# `4 4/9%` with 40/900 (True) and 40/9 (False). Transcribed by hand: these tests build their pairs in code.
MIXED_COMMIT = "05aa3a67e1e5aa4a0dbecea17550a17cc2d5ed2d"
MIXED_NUMBERS = [
    ("test_mixed_number_is_equivalent_to_improper_fraction", "40/9", "The answer is 4 4/9.", 1),
    ("test_mixed_number_does_not_match_only_its_whole_number_prefix", "4", "The answer is 4 4/9.", 0),
    ("test_parse_mixed_number_with_zero_numerator_as_whole_value", "4", "4 0/9", 1),
    ("test_invalid_mixed_number_has_no_finite_component_equivalence", "4", "4 4/0", 0),
    ("test_invalid_mixed_number_has_no_finite_component_equivalence", "11", "11 6/6", 0),
    ("test_invalid_mixed_number_has_no_finite_component_equivalence", "73/6", "11 7/6", 0),
    ("test_non_mixed_syntax_does_not_gain_an_implicit_operation", "139/90", "11/10 4/9", 0),
    ("test_non_mixed_syntax_does_not_gain_an_implicit_operation", "103/9", "11.0 4/9", 0),
    ("test_line_separator_does_not_form_a_mixed_number", "71/6", "11\n5/6", 0),
    ("test_explicit_addition_and_subtraction_remain_distinct", "11 + 4/9", "11 - 4/9", 0),
    ("test_mixed_number_percentage_applies_to_complete_value", "40/900", "4 4/9%", 1),
    ("test_mixed_number_percentage_applies_to_complete_value", "40/9", "4 4/9%", 0),
    ("test_mixed_number_percentage_applies_to_complete_value", "40/900", "4 4/9 percent", 1),
    ("test_parse_mixed_number_with_optional_positive_sign", "71/6", "11 5/6", 1),
    ("test_parse_negative_mixed_number_as_negative_complete_value", "-40/9", "-4 4/9", 1),
]

# areal/tests/test_math_verify_reward.py at leandermaben/AReaL@24f05fbf82f3e4fe7a6f7b67a9c51a550d88c367 (a fork of
# inclusionAI/AReaL, Apache-2.0): every (answer, completion) whose reward the test asserts to be exactly 1.0 or 0.0,
# for `gsm8k_reward_fn` and the math-verify worker's `verify(pred, gold)` (math-verify underneath, its defaults).
# Left out: asserts that only check the reward is a float, and `geometry3k_reward_fn` (its own `[answer]` format).
AREAL_REPO = "leandermaben/AReaL"
AREAL_COMMIT = "24f05fbf82f3e4fe7a6f7b67a9c51a550d88c367"
AREAL_PATH = "areal/tests/test_math_verify_reward.py"
AREAL = [
    ("test_gsm8k_exact_match", "4", "The answer is 4", 1),
    ("test_gsm8k_symbolic_equivalence", "1/2", "The answer is 0.5", 1),
    ("test_gsm8k_boxed_format", "4", "Step 1: 2+2=4. \\boxed{4}", 1),
    ("test_gsm8k_incorrect_answer", "4", "The answer is 5", 0),
    ("test_gsm8k_empty_answer", "4", "", 0),
    ("test_gsm8k_latex_expression", "2", "$\\sqrt{4} = 2$", 1),
    ("test_gsm8k_malformed_expression", "4", "The answer is !!!invalid!!!", 0),
    ("test_gsm8k_exponents", "2^3", "The answer is 8", 1),
    ("test_gsm8k_square_root", "4", "The answer is $\\sqrt{16}$", 1),
    ("test_gsm8k_complex_fraction", "5/6", "The answer is $\\frac{5}{6}$", 1),
    ("test_gsm8k_negative_numbers", "-15", "-15", 1),
    ("test_gsm8k_equation_form", "3", "x = 3", 1),
    ("test_gsm8k_multiline_solution", "42", "Step 1: Calculate\nStep 2: Simplify\nFinal answer: 42", 1),
    ("test_gsm8k_scientific_notation", "1000", "$10^3$", 1),
    ("test_gsm8k_unicode_math_symbols", "42", "42", 1),
    ("test_gsm8k_very_large_number", "999999999999999", "999999999999999", 1),
    ("test_gsm8k_very_small_decimal", "0.0000001", "0.0000001", 1),
    ("test_gsm8k_division_order", "12/3", "4", 1),
    ("test_gsm8k_division_order", "3/12", "4", 0),
    ("test_gsm8k_commutativity", "5", "3+2", 1),
    ("test_gsm8k_inequality_handling", "4", "x = 4", 1),
    ("test_gsm8k_complex_exponent", "-1", "$e^{i\\pi} = -1$", 1),
    ("test_gsm8k_power_notation", "1000", "$10^3 = 1000$", 1),
    ("test_gsm8k_scientific_latex", "1000", "$1 \\times 10^3$", 1),
    ("test_gsm8k_matrix_determinant", "3", "$\\begin{vmatrix} 2 & 1 \\\\ 1 & 2 \\end{vmatrix} = 3$", 1),
    ("test_gsm8k_fraction_chain", "2/3", "$\\frac{\\frac{1}{2}}{\\frac{3}{4}} = \\frac{2}{3}$", 1),
    ("test_gsm8k_binomial_coefficient", "10", "$\\binom{5}{2} = 10$", 1),
    ("test_gsm8k_greek_letters_in_formula", "1", "$\\sin\\left(\\frac{\\pi}{2}\\right) = 1$", 1),
    ("test_gsm8k_limit_notation", "1", "$\\lim_{x \\to 0} \\frac{\\sin x}{x} = 1$", 1),
    ("test_gsm8k_partial_derivative", "3", "The result is $3$", 1),
    ("test_gsm8k_absolute_value_complex", "2", "$\\left| 3 - 5 \\right| = 2$", 1),
    ("test_gsm8k_modulo_operation", "2", "$17 \\bmod 5 = 2$", 1),
    ("test_gsm8k_logarithm_change_base", "3", "$\\log_2(8) = 3$", 1),
    ("test_worker_rounding_none_answer_fails", "None", "\\boxed{0.0667}", 0),
    ("test_worker_rounding_matches_six_decimal_places", "\\boxed{0.066666793}", "\\boxed{0.0666668}", 1),
    ("test_worker_rounding_matches_three_decimal_places", "\\boxed{0.066793}", "\\boxed{0.067}", 0),
    ("test_worker_rounding_allows_extra_precision", "\\boxed{2.23}", "\\boxed{2.232}", 0),
    ("test_worker_rounding_allows_less_precision", "\\boxed{2.232}", "\\boxed{2.23}", 0),
    ("test_worker_text_embedded_fraction", "answer is 0.6666667", "The final answer is \\boxed{2/3}.", 1),
    ("test_worker_text_embedded_sqrt", "the answer is sqrt(2)", "After simplification we get \\boxed{\\sqrt{2}}", 0),
    ("test_worker_text_embedded_latex_power", "answer is 10000", "Area equals \\boxed{10^4} square units", 1),
    ("test_worker_text_embedded_nested_expr", "answer is 0.25 + 3", "Result: \\boxed{(1/2)^{2} + \\sqrt{9}}", 1),
    ("test_worker_verify_in_thread_uses_timeout_free_fallback", "12", "The final answer is \\boxed{12}.", 1),
]


def split_of(source: dict[str, Any], gold: str, pred: str) -> str:
    """`dev` or `heldout`, from a hash of the row's source test and text (stable across runs and machines)."""
    key = json.dumps([source["path"], source["test"], gold, pred], ensure_ascii=False)
    return "dev" if hashlib.sha256(key.encode()).digest()[0] % 2 == 0 else "heldout"


def _call_options(fn: ast.FunctionDef) -> dict[str, Any]:
    """The options the test's comparison passes: literals, or names of parametrize arguments (`"$precision"`)."""
    opts: dict[str, Any] = {}
    for node in ast.walk(fn):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
            continue
        if node.func.id == "compare_strings":
            for kw in node.keywords:
                value = kw.value
                opts[kw.arg] = "$" + value.id if isinstance(value, ast.Name) else ast.literal_eval(value)
        elif node.func.id == "parse" and len(node.args) == 1 and not node.keywords:
            opts.setdefault("match_types", "default")
    return opts


def _parametrize(fn: ast.FunctionDef) -> tuple[list[str], ast.List] | None:
    for dec in fn.decorator_list:
        if isinstance(dec, ast.Call) and isinstance(dec.func, ast.Attribute) and dec.func.attr == "parametrize":
            names = [n.strip() for n in ast.literal_eval(dec.args[0]).split(",")]
            if isinstance(dec.args[1], ast.List):
                return names, dec.args[1]
    return None


def rows_of_file(path: Path, rel: str) -> tuple[list[dict[str, Any]], int]:
    """Rows of one test file, and how many parametrize rows were left out (values not literals)."""
    rows, skipped = [], 0
    for fn in ast.parse(path.read_text(encoding="utf-8")).body:
        if not isinstance(fn, ast.FunctionDef) or (p := _parametrize(fn)) is None:
            continue
        names, values = p
        label = "expected" if "expected" in names else "result"
        if not {"gold", "pred", label} <= set(names):
            continue
        call = _call_options(fn)
        for node in values.elts:
            try:
                args = dict(zip(names, ast.literal_eval(node), strict=True))
            except ValueError:
                skipped += 1
                continue
            options = {**DEFAULTS, **{k: v for k, v in call.items() if k in ("match_types", *OPTION_NAMES)}}
            for k, v in options.items():
                if isinstance(v, str) and v.startswith("$"):
                    options[k] = args[v[1:]]
            for k in OPTION_NAMES:
                options[k] = args.get(k, options[k])
            source = {"repo": REPO, "path": rel, "version": SDIST, "sha256": SDIST_SHA256, "test": fn.name}
            rows.append(make_row(source, args["gold"], args["pred"], int(args[label]), options))
    return rows, skipped


def make_row(source: dict[str, Any], gold: str, pred: str, label: int, options: dict[str, Any]) -> dict[str, Any]:
    return {
        "verifier": "math",
        "reference": gold,
        "response": pred,
        "expected": "correct" if label else "incorrect",
        "source": source,
        "options": options,
        "split": split_of(source, gold, pred),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sdist", type=Path, help="the unpacked math-verify 0.9.0 source distribution")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    rows, skipped = [], 0
    for path in sorted((args.sdist / "tests").glob("test_*.py")):
        file_rows, file_skipped = rows_of_file(path, f"tests/{path.name}")
        rows += file_rows
        skipped += file_skipped
    for test, gold, pred, label in MIXED_NUMBERS:
        source = {"repo": REPO, "path": "tests/test_mixed_number_extraction.py", "commit": MIXED_COMMIT, "test": test}
        rows.append(make_row(source, gold, pred, label, {**DEFAULTS, "match_types": ["expr"]}))
    for test, gold, pred, label in AREAL:
        source = {"repo": AREAL_REPO, "path": AREAL_PATH, "commit": AREAL_COMMIT, "test": test}
        rows.append(make_row(source, gold, pred, label, {**DEFAULTS, "match_types": "default"}))
    with args.out.open("w", encoding="utf-8") as f:
        for i, row in enumerate(rows):
            f.write(json.dumps({"id": i, **row}, ensure_ascii=False) + "\n")
    dev = sum(r["split"] == "dev" for r in rows)
    print(f"wrote {len(rows)} rows ({dev} dev, {len(rows) - dev} held out); {skipped} non-literal rows left out")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
