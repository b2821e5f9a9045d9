"""Ours and math-verify on benchmarks/data/math_third_party.jsonl: labels written by other people, same run.

The corpus is math-verify's own test suite (see benchmarks/data/README.md), so math-verify is graded on cases its
authors wrote to pass: its figure is an upper bound, ours the independent one. Each row carries the options its test
gave math-verify (`match_types`, `precision` as `float_rounding`, `strict`, `allow_set_relation_comp`); math-verify
runs with them, ours with none (it has no such knobs). Rows whose options differ from math-verify's defaults are
counted apart (`options_default` / `options_special`) so a reader can drop them. Agreement is binary ("correct" or
not: our `unparsed` counts as not correct), per split (`dev`: studied while fixing; `heldout`: not looked at until
the end) and per source test file, with the false-correct count (said correct, label incorrect).

    python benchmarks/math_third_party.py [--split dev|heldout|all] [--show]   # --show prints every disagreement

math-verify runs in the main thread only (its timeouts use SIGALRM).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "benchmarks" / "data" / "math_third_party.jsonl"
DEFAULT_OPTIONS = {"precision": 6, "strict": True, "allow_set_relation_comp": False}


def load(path: Path = CORPUS) -> list[dict[str, Any]]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        row = json.loads(line)
        if not {"reference", "response", "expected", "options", "split", "source"} <= set(row):
            raise ValueError(f"{path}:{n}: a row needs reference, response, expected, options, split and source")
        rows.append(row)
    return rows


def math_verify_status(row: dict[str, Any]) -> str:
    """math-verify as the row's test called it: `parse` with its extraction targets, `verify` with its options."""
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

    opts = row["options"]
    if opts["match_types"] == "default":
        targets = None
    else:
        kinds = {"latex": lambda: LatexExtractionConfig(boxed_match_priority=0), "expr": ExprExtractionConfig}
        targets = [kinds[m]() for m in opts["match_types"]]
    try:
        gold = parse(row["reference"]) if targets is None else parse(row["reference"], targets)
        pred = parse(row["response"]) if targets is None else parse(row["response"], targets)
        if not pred:
            return "unparsed"
        ok = verify(gold, pred, float_rounding=opts["precision"], strict=opts["strict"],
                    allow_set_relation_comp=opts["allow_set_relation_comp"])  # fmt: skip
        return "correct" if ok else "incorrect"
    except Exception:  # noqa: BLE001 - a crash on one row must not hide the others
        return "error"


def our_status(row: dict[str, Any], verifier: Any) -> str:
    return verifier.verify(row["response"], row["reference"]).status


def agreement(rows: list[dict[str, Any]], statuses: list[str]) -> dict[str, Any]:
    agree = [(s == "correct") == (r["expected"] == "correct") for r, s in zip(rows, statuses, strict=True)]
    false_correct = sum(s == "correct" and r["expected"] != "correct" for r, s in zip(rows, statuses, strict=True))
    return {
        "items": len(rows),
        "binary_agreement": sum(agree) / len(rows) if rows else None,
        "disagreements": len(rows) - sum(agree),
        "false_correct": false_correct,
    }


def compare(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Both verifiers on every row; agreement overall, per split, per option class and per source file."""
    from rlvr.verifiers import get_verifier

    ours_v = get_verifier("math")
    ours = [our_status(r, ours_v) for r in rows]
    theirs = [math_verify_status(r) for r in rows]
    groups: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        special = any(r["options"][k] != v for k, v in DEFAULT_OPTIONS.items())
        for key in ("all", f"split:{r['split']}", f"options_{'special' if special else 'default'}:{r['split']}",
                    f"source:{r['split']}:{r['source']['path']}"):  # fmt: skip
            groups[key].append(i)
    out: dict[str, Any] = {}
    for key, idx in sorted(groups.items()):
        sub = [rows[i] for i in idx]
        out[key] = {"ours": agreement(sub, [ours[i] for i in idx]),
                    "math_verify": agreement(sub, [theirs[i] for i in idx])}  # fmt: skip
    out["disagreements"] = [
        {"id": r["id"], "split": r["split"], "test": r["source"]["test"], "reference": r["reference"][:300],
         "response": r["response"][-300:], "expected": r["expected"], "ours": o, "math_verify": t}
        for r, o, t in zip(rows, ours, theirs, strict=True)
        if (o == "correct") != (r["expected"] == "correct") or (t == "correct") != (r["expected"] == "correct")
    ]  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--split", choices=("dev", "heldout", "all"), default="dev")
    ap.add_argument("--show", action="store_true", help="print every row where either verifier disagrees")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    rows = [r for r in load() if args.split == "all" or r["split"] == args.split]
    result = compare(rows)
    for key, r in result.items():
        if key != "disagreements":
            o, t = r["ours"], r["math_verify"]
            print(f"{key:<62}{o['items']:>5}  ours {o['binary_agreement']:.3f} (fc {o['false_correct']})"
                  f"  math-verify {t['binary_agreement']:.3f} (fc {t['false_correct']})")  # fmt: skip
    if args.show:
        for d in result["disagreements"]:
            print(json.dumps(d, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
