"""`rlvr bench SUITE [--quick] [-- ARGS]`: run benchmarks/SUITE.py with this interpreter, then regenerate
benchmarks/RESULTS.md from every JSON in benchmarks/results/ (with benchmarks/render.py).

The benchmarks live in the source checkout, not in the package: `benchmarks/` is looked for in the working
directory, then next to the package (an editable install). An installed wheel has neither and gets a clear
error. ARGS go to the script unchanged. A `--quick` run is a smoke run: the script gets `--quick` (or, for a
script that has no such flag, the short arguments in `QUICK_FALLBACK`) and, unless ARGS name `--out`, writes
to a temporary file instead of overwriting the committed result, whose section is printed rather than added
to RESULTS.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

SOURCE_ROOT = Path(__file__).resolve().parents[1]  # the checkout's root when rlvr is installed from source

# Arguments that make a run short, for scripts without --quick (benchmarks/sandbox.py).
QUICK_FALLBACK = {"sandbox": ["--runs", "10", "--docker-runs", "4"]}


def benchmarks_dir() -> Path | None:
    """benchmarks/ in the working directory, else in the source checkout next to the package; None if neither."""
    for base in (Path.cwd(), SOURCE_ROOT):
        candidate = base / "benchmarks"
        if (candidate / "render.py").is_file():
            return candidate
    return None


def load_renderer(bench_dir: Path):
    """benchmarks/render.py as a module (it is a script directory, not a package)."""
    spec = importlib.util.spec_from_file_location("rlvr_benchmarks_render", bench_dir / "render.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def split_remainder(quick: bool, rest: list[str]) -> tuple[bool, list[str]]:
    """(quick, the script's arguments) from the CLI's remainder. argparse's REMAINDER after the suite also takes
    `--quick` (`rlvr bench verifiers --quick` gives rest == ["--quick"]), so a `--quick` before the first `--`
    is ours; everything after `--` goes to the script as is."""
    if "--" in rest:
        cut = rest.index("--")
        head, tail = rest[:cut], rest[cut + 1 :]
    else:
        head, tail = rest, []
    quick = quick or "--quick" in head
    return quick, [a for a in head if a != "--quick"] + tail


def script_args(suite: str, script: Path, quick: bool, extra: list[str]) -> tuple[list[str], Path | None]:
    """The script's arguments and, for a quick run that did not name --out, the temporary JSON it writes."""
    if not quick:
        return extra, None
    takes_quick = '"--quick"' in script.read_text(encoding="utf-8")  # an add_argument("--quick", ...)
    argv = (["--quick"] if takes_quick else QUICK_FALLBACK.get(suite, [])) + extra
    if any(a == "--out" or a.startswith("--out=") for a in extra):
        return argv, None
    out = Path(tempfile.mkdtemp(prefix="rlvr-bench-")) / f"{suite}-quick.json"
    return argv + ["--out", str(out)], out


def main(args: argparse.Namespace) -> int:
    from rlvr.cli import _fail

    bench_dir = benchmarks_dir()
    if bench_dir is None:
        return _fail(
            "no benchmarks/ directory here or next to the rlvr package (an installed wheel ships none); "
            "run `rlvr bench` from a source checkout"
        )
    script = bench_dir / f"{args.suite}.py"
    if not script.is_file():
        return _fail(f"{script} does not exist (suites: the .py files in {bench_dir} other than common/render)")
    quick, extra = split_remainder(args.quick, list(args.args or []))
    argv, quick_out = script_args(args.suite, script, quick, extra)
    cmd = [sys.executable, str(script), *argv]
    print("$ " + " ".join(cmd), flush=True)
    code = subprocess.run(cmd, cwd=bench_dir.parent, env={**os.environ, "PYTHONUNBUFFERED": "1"}).returncode
    if code != 0:
        return _fail(f"{script.name} exited with status {code}", code=code)
    render = load_renderer(bench_dir)
    out = render.write(bench_dir / "results", bench_dir / "RESULTS.md")
    print(f"regenerated {out}")
    if quick_out is not None and quick_out.is_file():
        import json

        data = json.loads(quick_out.read_text(encoding="utf-8"))
        print(f"\nquick run (not in RESULTS.md), {quick_out}:\n")
        print("\n".join(render.render_one(render.kind_of(quick_out, data), quick_out, data)))
    return 0
