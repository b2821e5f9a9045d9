"""Parity reproduction: accuracy after next-token training alone vs after GRPO, over bit width d and long-demo share p.

The finding of Tsilivis et al., "How Reinforcement Learning After Next-Token Prediction Facilitates Learning":
a model trained by next-token prediction on a mix of few long demonstrations (the running parity, bit by bit)
and many short ones (the answer bit alone) stays near chance on d-bit parity, and RL after it reaches ~100%
while its responses grow from the short answer into the long chain. For each grid cell (d, p) this script runs
`rlvr.trainer.run.train` on configs/parity.yaml with `env.kwargs.n_bits = d`, `sft.long_fraction = p` (and
`rollout.max_response_tokens` >= d + 8 so that the chain fits), and records the held-out accuracy after SFT and
after GRPO, and the mean response length of every GRPO step (the run's metrics.jsonl).

    .venv/bin/python benchmarks/parity.py                  # d in {8, 12, 16} x p in {0.1, 0.25}: ~15 min on 2 cores
    .venv/bin/python benchmarks/parity.py --grid large     # d in {16, 24, 32} x p in {0.1, 0.25, 0.5}, longer runs
    .venv/bin/python benchmarks/parity.py --quick --out /tmp/parity.json    # seconds: a smoke run of the script
    [--set part.field=value ...] [--runs-dir DIR] [--out benchmarks/results/parity.json]

Writes the JSON to --out and PNG plots to a `parity/` directory next to it: `accuracy.png` (SFT vs GRPO per cell)
and `response_length.png` (mean response tokens against GRPO step, one line per cell). The run directories are
temporary unless --runs-dir is given. One seed per cell: the SFT stage is seed-sensitive at small p, so a single
cell is an example, not an estimate of a rate.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, machine_info, write_result  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "parity.yaml"

# name -> (bit widths, long-demo fractions, overrides applied to every cell after configs/parity.yaml)
GRIDS = {
    "quick": ((6, 8), (0.25,), [
        "sft.steps=10", "sft.demos=256", "grpo.steps=3", "grpo.prompts_per_step=4", "grpo.samples_per_prompt=4",
        "grpo.minibatch_samples=8", "eval.prompts=8", "eval.samples_per_prompt=4", "checkpoint.keep_last=1",
    ]),
    # the grid's SFT stays at 1000 steps (the embedded default has 500 since issue 20): at p = 0.1 the chain is
    # learnt late or never, and the grid asks whether it is
    "default": ((8, 12, 16), (0.1, 0.25), ["sft.steps=1000"]),
    "large": ((16, 24, 32), (0.1, 0.25, 0.5), [
        "sft.steps=3000", "sft.demos=65536", "grpo.steps=300", "grpo.prompts_per_step=32", "eval.prompts=512",
        "runtime.device=auto",
    ]),
}  # fmt: skip


def cell_overrides(n_bits: int, long_fraction: float, run_dir: Path, base: list[str], extra: list[str]) -> list[str]:
    return [
        *base,
        f"env.kwargs={{n_bits: {n_bits}, style: plain}}",
        f"sft.long_fraction={long_fraction}",
        f"rollout.max_response_tokens={max(24, n_bits + 8)}",
        f"logging.run_dir={run_dir}",
        "logging.progress=false",
        "logging.tensorboard=false",
        *extra,
    ]


def grpo_curves(run_dir: Path) -> dict[str, list[float | None]]:
    """Per GRPO step (1..N): mean response tokens and batch accuracy, from the run's metrics.jsonl."""
    from rlvr.report import as_number, by_phase, load_metrics

    records, warnings = load_metrics(str(run_dir / "metrics.jsonl"))
    for w in warnings:
        print(f"warning: {run_dir}: {w}", file=sys.stderr)
    rows = by_phase(records).get("grpo", [])

    def values(key: str) -> list[float | None]:
        out = [as_number(r.get(key)) for r in rows]
        return [v if v is not None and math.isfinite(v) else None for v in out]  # JSON has no NaN

    return {"steps": [r["step"] for r in rows], "response_tokens": values("response_tokens"),
            "accuracy": values("accuracy")}  # fmt: skip


def run_cell(n_bits: int, long_fraction: float, run_dir: Path, base: list[str], extra: list[str]) -> dict:
    from rlvr.trainer.config import load_config
    from rlvr.trainer.run import train

    cfg = load_config(CONFIG, cell_overrides(n_bits, long_fraction, run_dir, base, extra))
    results = train(cfg)
    sft, grpo = results["after SFT"], results.get("after GRPO", {})
    curves = grpo_curves(run_dir)
    lengths = [v for v in curves["response_tokens"] if v is not None]
    return {
        "n_bits": n_bits,
        "long_fraction": long_fraction,
        "sft_accuracy": sft["accuracy"],
        "grpo_accuracy": grpo.get("accuracy"),
        "sft_response_tokens": sft["mean_response_tokens"],
        "grpo_response_tokens": grpo.get("mean_response_tokens"),
        "rl_length_first": lengths[0] if lengths else None,
        "rl_length_last": lengths[-1] if lengths else None,
        "max_response_tokens": cfg.rollout.max_response_tokens,
        "wall_s": results["wall_s"],
        "grpo_steps": curves["steps"],
        "grpo_response_tokens_by_step": curves["response_tokens"],
        "grpo_accuracy_by_step": curves["accuracy"],
        "after_sft": sft,
        "after_grpo": grpo,
    }


def _figure(width: float = 8.0):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def label(cell: dict) -> str:
    return f"d={cell['n_bits']}, p={cell['long_fraction']:g}"


def plot_accuracy(cells: list[dict], path: Path, title: str) -> None:
    fig = _figure(max(6.0, 1.1 * len(cells) + 2))
    ax = fig.add_subplot()
    x = range(len(cells))
    w = 0.38
    sft = [c["sft_accuracy"] for c in cells]
    grpo = [c["grpo_accuracy"] if c["grpo_accuracy"] is not None else math.nan for c in cells]
    bars = ax.bar([i - w / 2 for i in x], sft, w, label="after next-token training (SFT)", color="tab:gray")
    bars2 = ax.bar([i + w / 2 for i in x], grpo, w, label="after GRPO", color="tab:blue")
    for b in (*bars, *bars2):
        if math.isfinite(b.get_height()):
            ax.annotate(f"{b.get_height():.2f}", (b.get_x() + b.get_width() / 2, b.get_height()), ha="center",
                        va="bottom", fontsize=7)  # fmt: skip
    ax.axhline(0.5, color="black", linestyle=":", linewidth=1, label="chance")
    ax.set_xticks(list(x), [label(c) for c in cells], rotation=30 if len(cells) > 4 else 0, fontsize=8)
    ax.set_ylim(0, 1.3)
    ax.set_ylabel("held-out accuracy")
    ax.set_title(title)
    ax.legend(loc="upper center", ncol=3, fontsize="small")
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, format="png")


def plot_lengths(cells: list[dict], path: Path, title: str) -> None:
    from matplotlib.ticker import MaxNLocator

    fig = _figure(10.0)
    ax = fig.add_subplot()
    widths = sorted({c["n_bits"] for c in cells})
    fractions = sorted({c["long_fraction"] for c in cells})
    colors = {d: f"C{i}" for i, d in enumerate(widths)}
    styles = {p: s for p, s in zip(fractions, ("-", "--", ":", "-."), strict=False)}
    for c in cells:
        ys = [v if v is not None else math.nan for v in c["grpo_response_tokens_by_step"]]
        ax.plot(c["grpo_steps"], ys, color=colors[c["n_bits"]], linestyle=styles.get(c["long_fraction"], "-"),
                label=label(c))  # fmt: skip
    for i, d in enumerate(widths):  # the long demonstration (the running parity) is d tokens; the short one is 1
        ax.axhline(d, color=colors[d], linewidth=0.8, alpha=0.4, label="long demo length (d)" if i == 0 else None)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("GRPO step")
    ax.set_ylabel("mean response tokens (training batch)")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))  # outside: the lines fill the axes
    fig.tight_layout()
    fig.savefig(path, format="png")


def print_table(cells: list[dict]) -> None:
    print(f"{'d':>4} {'p':>6} {'SFT acc':>8} {'GRPO acc':>9} {'RL length first->last':>22} {'wall s':>7}")
    for c in cells:
        g = "-" if c["grpo_accuracy"] is None else f"{c['grpo_accuracy']:.3f}"
        first, last = c["rl_length_first"], c["rl_length_last"]
        length = "-" if first is None else f"{first:.1f} -> {last:.1f}"
        print(f"{c['n_bits']:>4} {c['long_fraction']:>6g} {c['sft_accuracy']:>8.3f} {g:>9} {length:>22} "
              f"{c['wall_s']:>7.0f}")  # fmt: skip


def git_state() -> dict:
    """The commit measured, and whether the trainer's sources or config differed from it (uncommitted work)."""
    import subprocess

    def git(*a: str) -> str:
        try:
            return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    dirty = git("status", "--porcelain", "--", "rlvr/trainer", "configs/parity.yaml")
    return {"commit": git("rev-parse", "HEAD") or None, "trainer_dirty": bool(dirty)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--grid", choices=("default", "large"), default="default")
    ap.add_argument("--quick", action="store_true", help="a tiny grid with tiny runs (seconds): exercises the script")
    ap.add_argument("--bits", type=int, nargs="+", help="bit widths d (default: the grid's)")
    ap.add_argument("--fractions", type=float, nargs="+", help="long-demo fractions p (default: the grid's)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a config override for every cell")
    ap.add_argument("--runs-dir", type=Path, help="keep the run directories here (default: a temporary directory)")
    ap.add_argument("--out", type=Path, default=RESULTS / "parity.json", help="the JSON; plots go to <its dir>/parity/")
    args = ap.parse_args(argv)

    grid_name = "quick" if args.quick else args.grid
    bits, fractions, base = GRIDS[grid_name]
    bits, fractions = args.bits or bits, args.fractions or fractions
    for d in bits:
        if not 2 <= d <= 200:
            ap.error(f"--bits values must be in 2..200 (the model's positions), got {d}")
    for p in fractions:
        if not 0.0 <= p <= 1.0:
            ap.error(f"--fractions values must be in [0, 1], got {p}")

    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    git = git_state()  # before the runs: the code they import
    t0 = time.perf_counter()
    cells = []
    with tempfile.TemporaryDirectory(prefix="rlvr-parity-") as tmp:
        runs = args.runs_dir or Path(tmp)
        for d in bits:
            for p in fractions:
                run_dir = runs / f"d{d}-p{p:g}"
                try:
                    cell = run_cell(d, p, run_dir, base, args.set)
                except ValueError as e:  # a bad --set: the config's own message
                    print(f"parity: error: {e}", file=sys.stderr)
                    return 2
                cells.append(cell)
                g = cell["grpo_accuracy"]
                print(f"d={d} p={p:g}: SFT {cell['sft_accuracy']:.3f} -> GRPO {'-' if g is None else f'{g:.3f}'}, "
                      f"RL length {cell['rl_length_first']} -> {cell['rl_length_last']} ({cell['wall_s']:.0f} s)",
                      flush=True)  # fmt: skip

    plots_dir = args.out.parent / "parity"
    plots_dir.mkdir(parents=True, exist_ok=True)
    what = "quick run" if args.quick else f"{grid_name} grid"
    plot_accuracy(cells, plots_dir / "accuracy.png", f"Parity: held-out accuracy, SFT vs GRPO ({what})")
    plot_lengths(cells, plots_dir / "response_length.png", f"Parity: response length during GRPO ({what})")
    result = {
        "benchmark": "parity",
        "grid_name": grid_name,
        "quick": args.quick,
        "config": str(CONFIG.relative_to(ROOT)),
        "overrides": [*base, *args.set],
        "bits": list(bits),
        "long_fractions": list(fractions),
        "seeds": "config defaults (one run per cell)",
        "wall_s": time.perf_counter() - t0,
        "plots": [
            str(p.relative_to(args.out.parent)) for p in (plots_dir / "accuracy.png", plots_dir / "response_length.png")
        ],  # fmt: skip
        "git": git,
        "machine": machine_info(("torch", "transformers", "matplotlib")),
        "grid": cells,
    }
    out = write_result(args.out, result)
    print_table(cells)
    print(f"wrote {out} and {plots_dir}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
