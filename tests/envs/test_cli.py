import importlib.util
import json
import subprocess
import sys

from rlvr.envs.puzzles import PUZZLE_IDS
from rlvr.envs.registration import ENV_IDS


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "rlvr.cli", *args], capture_output=True, text=True)


def test_envs_list_is_a_table_of_every_id():
    out = _cli("envs", "list")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["id", "domain", "description"]
    listed = {line.split()[0] for line in lines[1:]}
    assert listed == set(ENV_IDS) | set(PUZZLE_IDS)
    # an env whose optional package is absent is listed as unavailable, with the install hint; no other
    unavailable = [line.split()[0] for line in lines[1:] if "unavailable" in line]
    assert unavailable == ([] if importlib.util.find_spec("reasoning_gym") else ["rlvr/ReasoningGym-v0"])
    assert all("pip install reasoning-gym" in line for line in lines[1:] if "unavailable" in line)


def test_envs_show_prints_prompt_reference_and_a_solution():
    out = _cli("envs", "show", "rlvr/Parity-v0", "--seed", "4", "--set", "n_bits=6", "--set", "style=plain", "--json")
    assert out.returncode == 0, out.stderr
    shown = json.loads(out.stdout)
    assert shown["prompt"].endswith("=") and len(shown["info"]["reference"]["bits"]) == 6
    assert len(shown["reference_response"]) == 6
    text = _cli("envs", "show", "rlvr/Sudoku-v0", "--seed", "1")
    assert text.returncode == 0 and "-- reference:" in text.stdout and "<answer>" in text.stdout


def test_envs_show_reports_bad_arguments():
    out = _cli("envs", "show", "rlvr/Parity-v0", "--set", "n_bits=0")
    assert out.returncode == 2 and "n_bits" in out.stderr and "Traceback" not in out.stderr
    out = _cli("envs", "show", "rlvr/Nope-v0")
    assert out.returncode == 2 and "Traceback" not in out.stderr
