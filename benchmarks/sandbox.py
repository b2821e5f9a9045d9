"""Sandbox latency and throughput per backend, through the Python API.

For each available backend (bwrap, docker, process) and concurrency 1 and 2: latency p50/p99 and
runs per second of two workloads: `python3 -c 'print(1)'`, and a small program checked against a
test (reads stdin, prints an answer, compared on the host). Also the cost of bare `bwrap` and bare
`python3` from a shell-less Popen, to show what the Python layer adds.

    .venv/bin/python benchmarks/sandbox.py [--runs 200] [--docker-runs 40] [--out benchmarks/results/sandbox.json]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, machine_info, percentile, write_result  # noqa: E402

from rlvr.sandbox import Limits, get_sandbox, unavailable_reason  # noqa: E402

PROGRAM = "import sys\nnums = list(map(int, sys.stdin.read().split()))\nprint(sum(nums), max(nums))\n"
STDIN = " ".join(str(i) for i in range(1000))
EXPECTED = f"{sum(range(1000))} 999"
LIMITS = Limits(wall_s=10, cpu_s=10, memory_mb=256)


def workloads(sb):
    def print1():
        res = sb.run(["python3", "-c", "print(1)"], limits=LIMITS)
        return res.ok and res.stdout == "1\n"

    def program_with_test():
        res = sb.run(["python3", "main.py"], files={"main.py": PROGRAM}, stdin=STDIN, limits=LIMITS)
        return res.ok and res.stdout.strip() == EXPECTED

    return {"print1": print1, "program_with_test": program_with_test}


def measure(fn, runs: int, concurrency: int) -> dict:
    fn()  # warm-up: first-run costs (page cache, image layers) are not what a training run sees
    latencies: list[float] = []

    def one(_):
        t = time.perf_counter()
        ok = fn()
        latencies.append(time.perf_counter() - t)
        return ok

    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as ex:
        oks = list(ex.map(one, range(runs)))
    wall = time.perf_counter() - start
    return {
        "runs": runs,
        "concurrency": concurrency,
        "ok_fraction": sum(oks) / runs,
        "p50_ms": 1000 * percentile(latencies, 50),
        "p99_ms": 1000 * percentile(latencies, 99),
        "runs_per_s": runs / wall,
    }


def bare(argv: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=True)
        times.append(time.perf_counter() - t)
    return 1000 * percentile(times, 50)


def bare_references(backends: list[str], skipped: dict) -> dict[str, float]:
    """The same `print(1)` without our Python layer: plain python3, bwrap with our exact argv, `docker run`."""
    ref = {"python3_print1_p50_ms": bare(["/usr/bin/python3", "-c", "print(1)"], 50)}
    if "bwrap" in backends and "bwrap" not in skipped:
        import os

        from rlvr.sandbox.base import HOST_TOOLS_ENV, sandbox_uid
        from rlvr.sandbox.bwrap import bwrap_argv

        r, w = os.pipe()
        argv = bwrap_argv(["python3", "-c", "print(1)"], {}, LIMITS, w, sandbox_uid(0))
        times = []
        for _ in range(50):
            t = time.perf_counter()
            subprocess.run(argv, pass_fds=(w,), capture_output=True, env=HOST_TOOLS_ENV, check=True)
            times.append(time.perf_counter() - t)
            os.set_blocking(r, False)
            try:
                os.read(r, 1 << 16)
            except BlockingIOError:
                pass
        os.close(r)
        os.close(w)
        ref["bwrap_cli_same_argv_print1_p50_ms"] = 1000 * percentile(times, 50)
    if "docker" in backends and "docker" not in skipped:
        from rlvr.sandbox.image import image_tag

        docker_run = ["docker", "run", "--rm", "--network", "none", "--read-only", "--user", "65534:65534"]
        docker_run += ["--memory", "256m", "--pids-limit", "64", "--cap-drop", "ALL", image_tag()]
        ref["docker_cli_run_print1_p50_ms"] = bare(docker_run + ["python3", "-c", "print(1)"], 10)
    return ref


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=200, help="runs per (backend, workload, concurrency) for bwrap/process")
    ap.add_argument("--docker-runs", type=int, default=40, help="runs per cell for docker (it is ~10x slower)")
    ap.add_argument("--backends", default="bwrap,docker,process")
    ap.add_argument("--out", type=Path, default=RESULTS / "sandbox.json")
    args = ap.parse_args(argv)

    results, skipped = [], {}
    for backend in args.backends.split(","):
        why = unavailable_reason(backend)
        if why:
            skipped[backend] = why
            print(f"{backend}: skipped ({why})")
            continue
        sb = get_sandbox(backend, max_concurrency=2)
        runs = args.docker_runs if backend == "docker" else args.runs
        for name, fn in workloads(sb).items():
            for concurrency in (1, 2):
                row = {"backend": backend, "workload": name, **measure(fn, runs, concurrency)}
                results.append(row)
                print(
                    f"{backend:8} {name:18} c={concurrency}  p50 {row['p50_ms']:7.1f} ms  p99 {row['p99_ms']:7.1f} ms"
                    f"  {row['runs_per_s']:6.1f} runs/s  ok {row['ok_fraction']:.2f}"
                )
        sb.close()
    reference = bare_references(args.backends.split(","), skipped)
    for name, ms in reference.items():
        print(f"{name:40} p50 {ms:7.1f} ms")
    targets = {"bwrap_p50_ms_max": 30, "docker_p50_ms_max": 400}
    out = write_result(
        args.out,
        {
            "benchmark": "sandbox",
            "machine": machine_info(("docker",)),
            "targets": targets,
            "reference": reference,
            "results": results,
            "skipped": skipped,
        },
    )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
