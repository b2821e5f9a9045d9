"""Sandbox latency and throughput per backend, through the Python API.

For each available backend (bwrap, docker, process) and concurrency 1 and 2: latency p50/p99 and
runs per second of two workloads: `python3 -c 'print(1)'`, and a small program checked against a
test (reads stdin, prints an answer, compared on the host). Runs go back to back (closed loop).
Also bare `python3`, bare `bwrap` and plain `docker run --rm`, to show what our layer adds.

Warm rows (bwrap and Docker): `print1_spaced`, `print1` with `--gap-s` between runs (the spare is ready
when the run comes, as between training steps); the back-to-back cells again without spares
(`bwrap-cold`, `docker-cold`: each run starts its own sandbox or container). bwrap's spares are nests (a fresh
sandbox forked from a fork server, rlvr/sandbox/bwrap_nest.py); `bwrap-flat` and `bwrap-flat-cold` are the same
cells with a bwrap sandbox per program (`nest=False`: what runs where nests cannot be built). Docker extras: the median
of each phase of our runs (`phases_ms`); each Docker API call of a cold run timed alone
(`docker.docker_api_phases_ms`). Other work on the machine skews all of it:
compare rows of one run (plain `docker run --rm` is measured right after our rows), not across runs.

    .venv/bin/python benchmarks/sandbox.py [--runs 200] [--docker-runs 40] [--backends bwrap,docker,process]
"""

from __future__ import annotations

import argparse
import os
import statistics
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


def measure(fn, runs: int, concurrency: int, gap_s: float = 0.0) -> dict:
    fn()  # warm-up: first-run costs (page cache, image layers, the first spare) are not what a training run sees
    latencies: list[float] = []

    def one(_):
        time.sleep(gap_s)
        t = time.perf_counter()
        ok = fn()
        latencies.append(time.perf_counter() - t)
        return ok

    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as ex:
        oks = list(ex.map(one, range(runs)))
    wall = time.perf_counter() - start
    row = {
        "runs": runs,
        "concurrency": concurrency,
        "ok_fraction": sum(oks) / runs,
        "p50_ms": 1000 * percentile(latencies, 50),
        "p99_ms": 1000 * percentile(latencies, 99),
        "runs_per_s": runs / wall,
    }
    return row | ({"gap_s": gap_s} if gap_s else {})


def phase_medians(log: list[dict[str, float]]) -> dict[str, float]:
    """Median ms of each phase a run logs. bwrap: total_ms, spare (the fraction of runs that took a started
    spare, up or still coming up). Docker: take_ms (get a started container: waiting for the spare, or starting
    one), output_ms (job sent to end of output), wait_ms (end of output to the exit code), total_ms; create_ms,
    attach_ms, start_ms of the container used (in the background when it was a spare); spare."""
    keys = ("take_ms", "output_ms", "wait_ms", "total_ms", "create_ms", "attach_ms", "start_ms", "spare")
    values = {k: [p[k] for p in log if k in p] for k in keys}
    return {k: round(statistics.median(v), 1 if k != "spare" else 2) for k, v in values.items() if v}


def docker_api_phases(runs: int) -> dict[str, float]:
    """Median ms of each Docker API call of one cold run, called one after another as before spares were used."""
    from rlvr.sandbox.docker import DockerSandbox, _frames, _remove

    sb = DockerSandbox(max_concurrency=1, spares=False)
    times: dict[str, list[float]] = {}
    try:
        for i in range(runs + 1):
            t = [time.perf_counter()]
            box = sb._start(LIMITS)  # create, attach, start: each timed inside
            t.append(time.perf_counter())
            os.makedirs(f"{box.indir}/files")
            with open(f"{box.indir}/stdin", "wb"):
                pass
            box.sock.sendall(b'["python3", "-c", "print(1)"]\n')
            out = b"".join(data for stream, data in _frames(box.sock))
            t.append(time.perf_counter())
            code = box.container.wait()["StatusCode"]
            t.append(time.perf_counter())
            _remove(box.container, box.indir)
            t.append(time.perf_counter())
            assert (code, out) == (0, b"\0" + b"1\n"), (code, out)
            if i:  # the first is a warm-up
                names = ("create_attach_start_ms", "job_to_eof_ms", "wait_ms", "remove_ms")
                for name, a, b in zip(names, t, t[1:], strict=False):
                    times.setdefault(name, []).append(1000 * (b - a))
                for name, ms in box.phases_ms.items():
                    times.setdefault(name, []).append(ms)
    finally:
        sb.close()
    return {name: round(statistics.median(v), 1) for name, v in times.items()}


def bare(argv: list[str], runs: int) -> dict[str, float]:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=True)
        times.append(time.perf_counter() - t)
    return {"p50_ms": 1000 * percentile(times, 50), "p99_ms": 1000 * percentile(times, 99)}


def docker_cli_run(runs: int) -> dict[str, float]:
    """Plain `docker run --rm` of the same image and program, with the main isolation flags."""
    from rlvr.sandbox.image import image_tag

    docker_run = ["docker", "run", "--rm", "--network", "none", "--read-only", "--user", "65534:65534"]
    docker_run += ["--memory", "256m", "--pids-limit", "64", "--cap-drop", "ALL", image_tag()]
    return bare(docker_run + ["python3", "-c", "print(1)"], runs)


def bare_references(backends: list[str], skipped: dict) -> dict[str, float]:
    """The same `print(1)` without our Python layer: plain python3, and bwrap with our mounts and rlimits running
    `python3 -c 'print(1)'` directly (what a run costs without a spare, before our init and protocol)."""
    ref = {"python3_print1_p50_ms": bare(["/usr/bin/python3", "-c", "print(1)"], 50)["p50_ms"]}
    if "bwrap" in backends and "bwrap" not in skipped:
        from rlvr.sandbox.base import HOST_TOOLS_ENV, drop_privileges_prefix, rlimit_prefix, sandbox_uid
        from rlvr.sandbox.bwrap import _bwrap_args

        argv = rlimit_prefix(LIMITS, helpers=2) + drop_privileges_prefix(sandbox_uid(0))
        argv += _bwrap_args(["python3", "-c", "print(1)"], LIMITS, None)
        times = []
        for _ in range(50):
            t = time.perf_counter()
            subprocess.run(argv, capture_output=True, env=HOST_TOOLS_ENV, check=True)
            times.append(time.perf_counter() - t)
        ref["bwrap_cli_same_argv_print1_p50_ms"] = 1000 * percentile(times, 50)
    return ref


def run_cells(name: str, sb, runs: int, results: list, gap_s: float = 0.0) -> None:
    """Every (workload, concurrency) cell; with `gap_s`, only `print1` at concurrency 1, as workload `print1_spaced`."""
    log = getattr(sb, "phase_log", None)
    cells = [("print1", 1)] if gap_s else [(w, c) for w in ("print1", "program_with_test") for c in (1, 2)]
    for workload, concurrency in cells:
        if log is not None:
            log.clear()
        row = measure(workloads(sb)[workload], runs, concurrency, gap_s)
        row = {"backend": name, "workload": workload + ("_spaced" if gap_s else ""), **row}
        if log is not None:
            row["phases_ms"] = phase_medians(list(log)[1:])  # without the warm-up
        results.append(row)
        print(
            f"{name:11} {row['workload']:18} c={concurrency}  p50 {row['p50_ms']:7.1f} ms  p99 {row['p99_ms']:7.1f} ms"
            f"  {row['runs_per_s']:6.1f} runs/s  ok {row['ok_fraction']:.2f}  {row.get('phases_ms', '')}"
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=200, help="runs per (backend, workload, concurrency) for bwrap/process")
    ap.add_argument("--docker-runs", type=int, default=40, help="runs per cell for docker (it is ~10x slower)")
    ap.add_argument("--gap-s", type=float, default=0.5, help="pause between the spaced-out docker runs")
    ap.add_argument("--bwrap-gap-s", type=float, default=0.1, help="pause between the spaced-out bwrap runs")
    ap.add_argument("--backends", default="bwrap,docker,process")
    ap.add_argument("--out", type=Path, default=RESULTS / "sandbox.json")
    args = ap.parse_args(argv)

    results, skipped, reference, docker = [], {}, {}, {}
    for backend in args.backends.split(","):
        why = unavailable_reason(backend)
        if why:
            skipped[backend] = why
            print(f"{backend}: skipped ({why})")
            continue
        if backend == "bwrap":
            from rlvr.sandbox.bwrap import BwrapSandbox

            sb = BwrapSandbox(max_concurrency=2)
            run_cells("bwrap", sb, args.runs, results)
            run_cells("bwrap", sb, args.runs // 2, results, gap_s=args.bwrap_gap_s)
            sb.close()
            for name, kw in (("bwrap-cold", {"spares": 0}), ("bwrap-flat", {"nest": False}),
                             ("bwrap-flat-cold", {"spares": 0, "nest": False})):  # fmt: skip
                other = BwrapSandbox(max_concurrency=2, **kw)
                run_cells(name, other, args.runs, results)
                other.close()
            continue
        if backend != "docker":
            sb = get_sandbox(backend, max_concurrency=2)
            run_cells(backend, sb, args.runs, results)
            sb.close()
            continue
        from rlvr.sandbox.docker import DockerSandbox

        # Plain `docker run --rm` right after each block of ours, so that both see the same load.
        cli = docker.setdefault("docker_cli_run_print1", [])
        sb = DockerSandbox(max_concurrency=2)
        run_cells("docker", sb, args.docker_runs, results)
        cli.append(docker_cli_run(args.docker_runs // 2))
        reference["docker_cli_run_print1_p50_ms"] = cli[0]["p50_ms"]
        run_cells("docker", sb, args.docker_runs // 2, results, gap_s=args.gap_s)
        sb.close()
        cold = DockerSandbox(max_concurrency=2, spares=False)
        run_cells("docker-cold", cold, args.docker_runs // 2, results)
        cold.close()
        cli.append(docker_cli_run(args.docker_runs // 2))
        docker["docker_api_phases_ms"] = docker_api_phases(args.docker_runs // 2)
        for ref in cli:
            print(f"{'docker run --rm':30} c=1  p50 {ref['p50_ms']:7.1f} ms  p99 {ref['p99_ms']:7.1f} ms")
        print(f"docker API calls of a cold run, median ms: {docker['docker_api_phases_ms']}")
    reference.update(bare_references(args.backends.split(","), skipped))
    for name, ms in reference.items():
        print(f"{name:40} p50 {ms:7.1f} ms")
    targets = {"bwrap_p50_ms_max": 30, "docker_p50_ms_max": 400, "bwrap_spaced_p50_ms_max": 10}
    out = write_result(
        args.out,
        {
            "benchmark": "sandbox",
            "machine": machine_info(("docker",)),
            "note": "2-core machine shared with other jobs (see load_avg_1_5_15): compare rows of this run only",
            "targets": targets,
            "reference": reference,
            "docker": docker,
            "results": results,
            "skipped": skipped,
        },
    )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
