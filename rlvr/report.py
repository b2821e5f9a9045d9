"""`rlvr report RUN_DIR`: PNG plots of a training run and one HTML page that shows them with the run's config.

    rlvr report runs/20250101-120000-parity            # -> RUN_DIR/plots/*.png, RUN_DIR/report.html
    render_report(run_dir, out_dir) -> Report(html, plots, skipped, warnings)

Reads `RUN_DIR/metrics.jsonl` (one `{"phase": "sft"|"grpo"|"eval"|"reset", "step": N, ...scalars}` per line,
see `rlvr.trainer.metrics`), `RUN_DIR/config.yaml` and, when present, `RUN_DIR/results.json`. One PNG per
quantity (`PLOTS` and the eval phase's `pass@k` keys); a quantity the run never logged is listed as skipped
in the page instead of drawn. Reference-policy resets (`{"phase": "reset", "step": N, "reason": ...}`) are
vertical lines on every plot over GRPO steps. From `RUN_DIR/samples.jsonl` (when present) the page shows, per
evaluation, the two best and the two worst responses by reward; the command prints them too, one line each.

Tolerated, with a warning: a line that is not a JSON object (a crashed run leaves a truncated last line), a
record without a phase or an integer step, values that are not finite numbers (`NaN` is drawn as a gap).
When a step of a phase was logged twice (a resumed run appends to the same file), the later record wins.
Not handled: runs with several metrics files, comparing runs, anything interactive.
"""

from __future__ import annotations

import dataclasses
import html
import json
import math
import os
import re
import sys

# (file stem, title, phase, keys on the left axis, keys on a right axis, y label, right y label)
PLOTS = (
    ("sft_loss", "SFT loss", "sft", ("loss",), (), "loss", ""),
    ("reward", "Reward", "grpo", ("reward",), (), "mean reward", ""),
    ("accuracy", "Accuracy", "grpo", ("accuracy",), (), "accuracy", ""),
    ("kl", "KL to the reference policy", "grpo", ("kl",), ("kl_coef",), "KL", "KL coefficient"),
    ("entropy", "Entropy", "grpo", ("entropy",), (), "entropy (nats/token)", ""),
    ("response_length", "Response length", "grpo", ("response_tokens", "max_response_tokens"), (), "tokens", ""),
    ("clip_fraction", "Clip fraction", "grpo", ("clip_fraction",), (), "fraction of tokens clipped", ""),
    ("kept_fraction", "Kept-group fraction (dynamic sampling)", "grpo", ("kept_fraction",), (), "fraction", ""),
)
# Drawn on these plots as well, from the eval phase (held-out problems), when logged.
EVAL_OVERLAY = {"accuracy": "accuracy"}
PASS_AT_K = re.compile(r"^(?:(?P<env>.+)/)?pass@(?P<k>\d+)$")
RESET_STYLE = {"color": "tab:red", "linestyle": "--", "linewidth": 1.0, "alpha": 0.7}


@dataclasses.dataclass
class Report:
    html: str  # path of report.html
    plots: list[str]  # paths of the PNGs written
    skipped: dict[str, str]  # plot title -> why it was not drawn
    warnings: list[str]
    samples: dict = dataclasses.field(default_factory=dict)  # eval step -> (best records, worst records)


def load_metrics(path: str) -> tuple[list[dict], list[str]]:
    """The records of a metrics.jsonl and warnings for the lines skipped; `OSError` when it cannot be read."""
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    records, warnings = [], []
    name = os.path.basename(path)
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            what = "truncated last line (did the run crash?)" if lineno == len(lines) else "not valid JSON"
            warnings.append(f"{name} line {lineno}: {what}; skipped")
            continue
        if not isinstance(record, dict):
            warnings.append(f"{name} line {lineno}: not a JSON object; skipped")
            continue
        step = record.get("step")
        if not isinstance(record.get("phase"), str) or not isinstance(step, int) or isinstance(step, bool):
            warnings.append(f"{name} line {lineno}: no phase or integer step; skipped")
            continue
        records.append(record)
    return records, warnings


def as_number(value) -> float | None:
    """A logged value as a float (nan for NaN/inf), or None when it is not a number at all."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else math.nan


def by_phase(records: list[dict]) -> dict[str, list[dict]]:
    """Records per phase, sorted by step, one per step (the last one logged). Resets keep every record."""
    phases: dict[str, dict[int, dict]] = {}
    resets = []
    for r in records:
        if r["phase"] == "reset":
            resets.append(r)
        else:
            phases.setdefault(r["phase"], {})[r["step"]] = r
    out = {phase: [steps[s] for s in sorted(steps)] for phase, steps in phases.items()}
    out["reset"] = sorted(resets, key=lambda r: r["step"])
    return out


def series(rows: list[dict], key: str) -> tuple[list[int], list[float]] | None:
    """(steps, values) of `key` over `rows` (nan where a value is not finite), or None when never logged."""
    steps, values = [], []
    for r in rows:
        v = as_number(r.get(key))
        if v is not None:
            steps.append(r["step"])
            values.append(v)
    return (steps, values) if steps else None


def _new_figure():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4), dpi=100)
    FigureCanvasAgg(fig)  # no pyplot: no global state, no GUI backend, safe from any thread
    return fig


def _draw(ax, steps, values, label, **style):
    marker = "o" if len(steps) <= 30 else None  # a few points (eval, short runs) must stay visible
    ax.plot(steps, values, label=label, marker=marker, markersize=3, **style)


def _draw_resets(ax, resets: list[dict]) -> None:
    for i, r in enumerate(resets):
        ax.axvline(r["step"], label="reference reset" if i == 0 else None, **RESET_STYLE)


def _finish(fig, ax, path: str, title: str, xlabel: str, ylabel: str, extra_axes=()) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    handles, labels = [], []
    for a in (ax, *extra_axes):
        h, lab = a.get_legend_handles_labels()
        handles += h
        labels += lab
    if handles:
        ax.legend(handles, labels, loc="best", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, format="png")


def _nonfinite_note(key: str, steps: list[int], values: list[float]) -> str | None:
    bad = [s for s, v in zip(steps, values, strict=True) if math.isnan(v)]
    if not bad:
        return None
    shown = ", ".join(map(str, bad[:5])) + (", ..." if len(bad) > 5 else "")
    return f"{key}: {len(bad)} non-finite value(s) not drawn (step {shown})"


def plot_quantity(spec, phases: dict[str, list[dict]], plots_dir: str, notes: list[str]) -> str | None:
    """Draw one entry of `PLOTS`; the PNG path, or None when the run logged none of its keys."""
    stem, title, phase, left, right, ylabel, right_label = spec
    rows = phases.get(phase, [])
    left_s = {k: s for k in left if (s := series(rows, k))}
    right_s = {k: s for k in right if (s := series(rows, k))}
    overlay_key = EVAL_OVERLAY.get(stem)
    overlay = series(phases.get("eval", []), overlay_key) if overlay_key else None
    if not left_s and not right_s:
        return None
    fig = _new_figure()
    ax = fig.add_subplot()
    for i, (key, (steps, values)) in enumerate(left_s.items()):
        label = f"{key} (training batch)" if overlay else key
        _draw(ax, steps, values, label, linestyle="-" if i == 0 else "--")
        notes.append(_nonfinite_note(key, steps, values))
    if overlay:
        _draw(ax, *overlay, f"{overlay_key} (eval, held-out)", linestyle=":", color="black")
        notes.append(_nonfinite_note(f"eval {overlay_key}", *overlay))
    extra = []
    if right_s:
        ax2 = ax if not left_s else ax.twinx()
        for key, (steps, values) in right_s.items():
            _draw(ax2, steps, values, key, color="tab:orange", linestyle="-.")
            notes.append(_nonfinite_note(key, steps, values))
        if ax2 is ax:  # only the right-axis keys were logged: they take the left axis
            ylabel = right_label
        else:
            ax2.set_ylabel(right_label)
            extra.append(ax2)
    if phase != "sft":
        _draw_resets(ax, phases.get("reset", []))
    path = os.path.join(plots_dir, f"{stem}.png")
    _finish(fig, ax, path, title, f"{phase.upper()} step", ylabel, extra)
    return path


def pass_at_k_groups(eval_rows: list[dict]) -> dict[str, dict[int, str]]:
    """{"" (all envs) or env name: {k: metric key}} for the pass@k keys the eval phase logged."""
    groups: dict[str, dict[int, str]] = {}
    for r in eval_rows:
        for key in r:
            m = PASS_AT_K.match(key)
            if m and as_number(r[key]) is not None:
                groups.setdefault(m.group("env") or "", {})[int(m.group("k"))] = key
    return groups


def plot_pass_at_k(
    env: str, keys: dict[int, str], phases: dict[str, list[dict]], plots_dir: str, notes: list[str]
) -> str:
    rows = phases.get("eval", [])
    fig = _new_figure()
    ax = fig.add_subplot()
    for k in sorted(keys):
        steps, values = series(rows, keys[k])
        _draw(ax, steps, values, f"pass@{k}")
        notes.append(_nonfinite_note(keys[k], steps, values))
    _draw_resets(ax, phases.get("reset", []))
    ax.set_ylim(-0.02, 1.02)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", env).strip("_")
    path = os.path.join(plots_dir, f"pass_at_k{'_' + safe if safe else ''}.png")
    title = f"pass@k on held-out problems{' (' + env + ')' if env else ''}"
    _finish(fig, ax, path, title, "GRPO step (0: after SFT)", "pass@k")
    return path


def _results_table(results: dict) -> str:
    stages = [s for s, v in results.items() if isinstance(v, dict)]
    if not stages:
        return ""
    keys = []
    for s in stages:
        keys += [k for k, v in results[s].items() if k not in keys and as_number(v) is not None]
    head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
    body = []
    for s in stages:
        cells = []
        for k in keys:
            v = as_number(results[s].get(k))
            cells.append("<td></td>" if v is None else f"<td>{v:.4g}</td>")
        body.append(f"<tr><th>{html.escape(s)}</th>{''.join(cells)}</tr>")
    wall = as_number(results.get("wall_s"))
    note = f"<p>wall time: {wall:.0f} s</p>" if wall is not None and math.isfinite(wall) else ""
    return f"<h2>Results</h2><table><tr><th></th>{head}</tr>{''.join(body)}</table>{note}"


CSS = """body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
img{max-width:100%;border:1px solid #ddd;margin:.5em 0}pre{background:#f6f6f6;padding:1em;overflow:auto}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:right}
.warn{color:#a40}figure{margin:0 0 1em 0}"""


SHOWN_CHARS = 2000  # of a prompt or response in the page (the whole text is in samples.jsonl)


def eval_samples(run_dir: str, n: int = 2) -> dict[int, tuple[list[dict], list[dict]]]:
    """Per evaluation step: the n best and n worst `eval` records of RUN_DIR/samples.jsonl (by reward)."""
    from rlvr.trainer.samples import best_and_worst, load

    steps: dict[int, list[dict]] = {}
    for rec in load(run_dir):
        if rec.get("phase") == "eval" and isinstance(rec.get("step"), int):
            steps.setdefault(rec["step"], []).append(rec)
    return {step: best_and_worst(rows, n) for step, rows in sorted(steps.items())}


def _clip(text, limit: int = SHOWN_CHARS) -> str:
    text = str(text)
    return text if len(text) <= limit else text[:limit] + f" … ({len(text) - limit} more characters)"


def _samples_html(samples: dict) -> str:
    e = html.escape
    rows = []
    for step, (best, worst) in samples.items():
        for which, recs in (("best", best), ("worst", worst)):
            for r in recs:
                rows.append(f"<tr><td>{step}</td><td>{which}</td><td>{e(str(r.get('env', '')))}</td>"
                            f"<td>{e(str(r.get('status', '')))}</td><td>{r['reward']:.3f}</td>"
                            f"<td style='text-align:left'><pre>{e(_clip(r.get('prompt', '')))}</pre></td>"
                            f"<td style='text-align:left'><pre>{e(_clip(r['response']))}</pre></td></tr>")  # fmt: skip
    head = "<tr><th>step</th><th></th><th>env</th><th>status</th><th>reward</th><th>prompt</th><th>response</th></tr>"
    return ("<h2>Samples at each evaluation</h2><p>The best and the worst by reward, from samples.jsonl.</p>"
            f"<table>{head}{''.join(rows)}</table>")  # fmt: skip


def write_html(
    path: str,
    run_dir: str,
    plots: list[str],
    skipped: dict[str, str],
    warnings: list[str],
    notes: list[str],
    resets: list[dict],
    config_text: str | None,
    results: dict | None,
    samples: dict | None = None,
) -> None:
    e = html.escape
    out_dir = os.path.dirname(path)
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>rlvr report: {e(run_dir)}</title>",
             f"<style>{CSS}</style></head><body><h1>rlvr report</h1><p>run: <code>{e(run_dir)}</code></p>"]  # fmt: skip
    if warnings:
        parts.append("<h2>Warnings</h2><ul>" + "".join(f"<li class='warn'>{e(w)}</li>" for w in warnings) + "</ul>")
    if results:
        parts.append(_results_table(results))
    parts.append("<h2>Plots</h2>")
    for p in plots:
        rel = os.path.relpath(p, out_dir).replace(os.sep, "/")
        parts.append(f"<figure><img src='{e(rel)}' alt='{e(os.path.basename(p))}'></figure>")
    notes = [n for n in notes if n]
    if notes:
        parts.append("<ul>" + "".join(f"<li>{e(n)}</li>" for n in notes) + "</ul>")
    if skipped:
        items = "".join(f"<li>{e(name)}: {e(why)}</li>" for name, why in skipped.items())
        parts.append(f"<h3>Not plotted</h3><ul>{items}</ul>")
    if samples:
        parts.append(_samples_html(samples))
    if resets:
        rows = "".join(f"<tr><td>{r['step']}</td><td>{e(str(r.get('reason', '')))}</td></tr>" for r in resets)
        parts.append(f"<h2>Reference-policy resets</h2><table><tr><th>GRPO step</th><th>reason</th></tr>{rows}</table>")
    parts.append("<h2>Config</h2>")
    parts.append(f"<pre>{e(config_text)}</pre>" if config_text is not None else "<p>config.yaml not found.</p>")
    parts.append("</body></html>\n")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(parts))


def _read_optional(path: str, warnings: list[str]) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        warnings.append(f"{os.path.basename(path)} not found in the run directory")
    except OSError as e:
        warnings.append(f"cannot read {path}: {e.strerror}")
    return None


def render_report(run_dir: str, out_dir: str | None = None) -> Report:
    """Write `<out_dir>/plots/*.png` and `<out_dir>/report.html` (out_dir defaults to run_dir).

    `ValueError` when run_dir is not a run directory (no readable metrics.jsonl, or no record in it)."""
    if not os.path.isdir(run_dir):
        raise ValueError(f"{run_dir} is not a directory")
    metrics_path = os.path.join(run_dir, "metrics.jsonl")
    if not os.path.isfile(metrics_path):
        raise ValueError(f"no metrics.jsonl in {run_dir} (is it a training run directory?)")
    try:
        records, warnings = load_metrics(metrics_path)
    except OSError as e:
        raise ValueError(f"cannot read {metrics_path}: {e.strerror}") from None
    if not records:
        raise ValueError(f"{metrics_path} holds no metrics records")
    config_text = _read_optional(os.path.join(run_dir, "config.yaml"), warnings)
    results = None
    results_path = os.path.join(run_dir, "results.json")
    if os.path.isfile(results_path):
        try:
            with open(results_path, encoding="utf-8") as f:
                results = json.load(f)
            if not isinstance(results, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as e:
            warnings.append(f"results.json not shown: {e}")
            results = None

    out_dir = out_dir or run_dir
    plots_dir = os.path.join(out_dir, "plots")
    os.makedirs(plots_dir, exist_ok=True)
    phases = by_phase(records)
    plots, skipped, notes = [], {}, []
    for spec in PLOTS:
        path = plot_quantity(spec, phases, plots_dir, notes)
        if path:
            plots.append(path)
        else:
            keys = ", ".join(spec[3] + spec[4])
            skipped[spec[1]] = f"no {keys} in the {spec[2]} phase of this run"
    groups = pass_at_k_groups(phases.get("eval", []))
    if not groups:
        skipped["pass@k"] = "no pass@k in the eval phase of this run"
    for env in sorted(groups):
        plots.append(plot_pass_at_k(env, groups[env], phases, plots_dir, notes))
    html_path = os.path.join(out_dir, "report.html")
    samples = eval_samples(run_dir)
    write_html(html_path, run_dir, plots, skipped, warnings, notes, phases["reset"], config_text, results, samples)
    return Report(html=html_path, plots=plots, skipped=skipped, warnings=warnings, samples=samples)


def main(args) -> int:
    """`rlvr report RUN_DIR [--out DIR]`: warnings to stderr, the page's path to stdout; 2 on a bad run dir."""
    try:
        report = render_report(args.run_dir, getattr(args, "out", None))
    except ValueError as e:
        print(f"rlvr: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"rlvr: error: cannot write the report: {e}", file=sys.stderr)
        return 2
    for w in report.warnings:
        print(f"rlvr: warning: {w}", file=sys.stderr)
    for step, (best, worst) in report.samples.items():
        print(f"eval at step {step}:")
        for which, recs in (("best ", best), ("worst", worst)):
            for r in recs:
                text = " ".join(str(r["response"]).split())
                print(f"  {which} {r.get('status', '')} {r['reward']:.2f} [{r.get('env', '')}] {_clip(text, 100)!r}")
    print(f"report: {report.html} ({len(report.plots)} plots, {len(report.skipped)} not plotted)")
    return 0
