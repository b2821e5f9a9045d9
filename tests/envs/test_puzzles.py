"""Property tests for every logic-puzzle env id, plus per-family checks of knobs and second solutions."""

from __future__ import annotations

import itertools

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import rlvr  # noqa: F401 - registers the ids
from rlvr.envs.puzzles import PUZZLE_IDS
from rlvr.verifiers import get_verifier

IDS = sorted(PUZZLE_IDS)
SEEDS = range(5)


def _make(env_id: str, **kwargs):
    return gym.make(env_id, **kwargs).unwrapped


def test_every_family_is_registered():
    assert len(IDS) >= 8
    for env_id in IDS:
        assert env_id in gym.registry
        env = gym.make(env_id)
        prompt, info = env.reset(seed=0)
        assert "<answer>" in prompt and info["domain"] == "puzzle" and info["answer_format"] == "answer_tags"
        assert info["verifier"].startswith("puzzle/")
        get_verifier(info["verifier"])


@pytest.mark.parametrize("env_id", IDS)
def test_reference_scores_one_and_negatives_below_one(env_id):
    env = gym.make(env_id)
    for seed in SEEDS:
        env.reset(seed=seed)
        _, reward, terminated, _, info = env.step(env.unwrapped.reference_response())
        assert reward == 1.0 and info["verdict"]["status"] == "correct" and terminated, info["verdict"]
        env.reset(seed=seed)
        negatives = env.unwrapped.negative_responses()
        assert len(negatives) >= 3 and negatives[0] == ""
        for response in negatives:
            env.reset(seed=seed)
            _, reward, _, _, info = env.step(response)
            assert reward < 1.0 and info["verdict"]["status"] in ("incorrect", "unparsed"), (response, info["verdict"])


@pytest.mark.parametrize("env_id", IDS)
def test_same_seed_same_problem_and_seeds_differ(env_id):
    a, b = gym.make(env_id), gym.make(env_id)
    prompts = set()
    for seed in SEEDS:
        pa, ia = a.reset(seed=seed)
        pb, ib = b.reset(seed=seed)
        assert pa == pb and ia["reference"] == ib["reference"] and ia["problem_id"] == ib["problem_id"]
        prompts.add(pa)
    assert len(prompts) == len(SEEDS)


@pytest.mark.parametrize("env_id", IDS)
def test_check_env(env_id):
    check_env(gym.make(env_id).unwrapped, skip_render_check=True)


# env id -> (small kwargs, large kwargs, size of the problem from its reference)
KNOBS = [
    ("rlvr/Countdown-v0", {"num_numbers": 3}, {"num_numbers": 6}, lambda r: len(r["numbers"])),
    ("rlvr/Countdown-v0", {"max_target": 50}, {"min_target": 500, "max_target": 999}, lambda r: r["target"]),
    ("rlvr/Sudoku-v0", {"size": 4, "blanks": 6}, {"size": 9, "blanks": 30}, lambda r: len(r["puzzle"])),
    ("rlvr/Sudoku-v0", {"size": 9, "blanks": 20}, {"size": 9, "blanks": 45}, lambda r: r["puzzle"].count("0")),
    ("rlvr/KnightsKnaves-v0", {"num_people": 2}, {"num_people": 6}, lambda r: len(r["people"])),
    ("rlvr/GraphColoring-v0", {"num_nodes": 5}, {"num_nodes": 20}, lambda r: r["num_nodes"]),
    ("rlvr/GraphColoring-v0", {"edge_prob": 0.1}, {"edge_prob": 0.9}, lambda r: len(r["edges"])),
    ("rlvr/Zebra-v0", {"num_houses": 3}, {"num_houses": 5}, lambda r: r["houses"]),
    ("rlvr/Zebra-v0", {"num_attributes": 2}, {"num_attributes": 4}, lambda r: len(r["attributes"])),
    (
        "rlvr/Cryptarithm-v0",
        {"min_digits": 2, "max_digits": 2},
        {"min_digits": 6, "max_digits": 6},
        lambda r: len(r["result"]),
    ),
    ("rlvr/Cryptarithm-v0", {"num_addends": 2}, {"num_addends": 4}, lambda r: len(r["addends"])),
    ("rlvr/SAT-v0", {"num_vars": 4, "num_clauses": 8}, {"num_vars": 30, "num_clauses": 90}, lambda r: r["num_vars"]),
    ("rlvr/SAT-v0", {"num_clauses": 5}, {"num_clauses": 40}, lambda r: len(r["clauses"])),
    ("rlvr/SAT-v0", {"clause_size": 2}, {"clause_size": 4}, lambda r: len(r["clauses"][0])),
    ("rlvr/Maze-v0", {"rows": 2, "cols": 3}, {"rows": 8, "cols": 9}, lambda r: len(r["grid"]) * len(r["grid"][0])),
]


@pytest.mark.parametrize(("env_id", "small", "large", "size"), KNOBS, ids=[f"{k[0]}-{list(k[2])}" for k in KNOBS])
def test_knobs_change_the_problem_size(env_id, small, large, size):
    for seed in range(3):
        envs = [_make(env_id, **small), _make(env_id, **large)]
        (_, s), (_, big) = (e.reset(seed=seed) for e in envs)
        assert size(s["reference"]) < size(big["reference"])
        for e in envs:  # still solvable and checked at both ends of the knob
            assert e.step(e.reference_response())[1] == 1.0


CONFIG_ERRORS = [
    ("rlvr/Countdown-v0", {"num_numbers": 1}, "num_numbers"),
    ("rlvr/Countdown-v0", {"min_target": 50, "max_target": 10}, "max_target"),
    ("rlvr/Sudoku-v0", {"size": 5}, "size"),
    ("rlvr/Sudoku-v0", {"size": 4, "blanks": 16}, "blanks"),
    ("rlvr/KnightsKnaves-v0", {"num_people": 1}, "num_people"),
    ("rlvr/KnightsKnaves-v0", {"compound": 1.5}, "compound"),
    ("rlvr/GraphColoring-v0", {"num_colors": 1}, "num_colors"),
    ("rlvr/GraphColoring-v0", {"edge_prob": -0.1}, "edge_prob"),
    ("rlvr/Zebra-v0", {"num_houses": 9}, "num_houses"),
    ("rlvr/Zebra-v0", {"num_attributes": 0}, "num_attributes"),
    ("rlvr/Cryptarithm-v0", {"min_digits": 5, "max_digits": 3}, "max_digits"),
    ("rlvr/SAT-v0", {"num_vars": 3, "clause_size": 4}, "clause_size"),
    ("rlvr/SAT-v0", {"num_clauses": 0}, "num_clauses"),
    ("rlvr/Maze-v0", {"rows": 0}, "rows"),
    ("rlvr/Maze-v0", {"loop_prob": 2}, "loop_prob"),
]


@pytest.mark.parametrize(("env_id", "kwargs", "field"), CONFIG_ERRORS)
def test_bad_config_names_the_field(env_id, kwargs, field):
    with pytest.raises(ValueError, match=field):
        gym.make(env_id, **kwargs)


def test_graph_coloring_accepts_another_colouring():
    env = _make("rlvr/GraphColoring-v0", num_nodes=10, num_colors=3)
    for seed in SEEDS:
        env.reset(seed=seed)
        answer = env.problem.meta["answer"]
        swapped = answer.replace("red", "TMP").replace("green", "red").replace("TMP", "green")
        assert swapped != answer
        assert env.step(f"<answer>{swapped}</answer>")[1] == 1.0


def test_sat_accepts_another_assignment():
    v = get_verifier("puzzle/sat")
    env = _make("rlvr/SAT-v0", num_vars=8, num_clauses=6)
    found = 0
    for seed in SEEDS:
        env.reset(seed=seed)
        ref = env.problem.reference
        planted = env.problem.meta["answer"]
        for i in range(1, 9):  # flip one variable at a time; some flip keeps a sparse formula satisfied
            flipped = planted.replace(f"x{i}=true", "FLIP").replace(f"x{i}=false", f"x{i}=true")
            flipped = flipped.replace("FLIP", f"x{i}=false")
            if all(any((lit > 0) == (f"x{abs(lit)}=true" in flipped.split(", ")) for lit in c) for c in ref["clauses"]):
                assert v.verify(f"<answer>{flipped}</answer>", ref).correct
                found += 1
                break
    assert found >= 3


def test_maze_accepts_every_shortest_path():
    env = _make("rlvr/Maze-v0", rows=3, cols=3, loop_prob=1.0)  # every inner wall open: a room with pillars
    v = get_verifier("puzzle/maze")
    for seed in SEEDS:
        env.reset(seed=seed)
        moves = env.problem.meta["answer"].split(",")
        accepted = {
            p
            for p in set(itertools.permutations(moves))
            if v.verify(f"<answer>{','.join(p)}</answer>", env.problem.reference).correct
        }
        assert tuple(moves) in accepted
        if len(set(moves)) > 1 and len(moves) <= 8:
            assert len(accepted) > 1  # the other orders that avoid the pillars are shortest too


def _mirrored(node) -> str:
    """The expression with the operands of every + and * swapped: another solution, written differently."""
    if node.op is None:
        return str(node.value)
    left, right = _mirrored(node.left), _mirrored(node.right)
    if node.op in "+*":
        left, right = right, left
    return f"({left} {node.op} {right})"


def test_countdown_accepts_another_expression():
    from rlvr.verifiers.puzzles.countdown import parse

    env = _make("rlvr/Countdown-v0")
    for seed in SEEDS:
        env.reset(seed=seed)
        expr = env.problem.meta["answer"]
        other = _mirrored(parse(expr))
        assert other.replace("(", "").replace(")", "") != expr.replace("(", "").replace(")", "")
        assert env.step(f"<answer>{other}</answer>")[1] == 1.0
        env.reset(seed=seed)
        target = env.problem.reference["target"]
        assert env.step(f"<answer>{expr.replace(' ', '')} = {target}</answer>")[1] == 1.0


def test_cryptarithm_accepts_another_solution():
    env = _make("rlvr/Cryptarithm-v0", min_digits=1, max_digits=1)
    v = get_verifier("puzzle/cryptarithm")
    found = 0
    for seed in range(10):
        env.reset(seed=seed)
        a, b = env.problem.reference["addends"]
        c = env.problem.reference["result"]
        if len(c) == 1 and a != b:  # X + Y = Z: (1, 2, 3) and (2, 1, 3) both solve it
            assert v.verify(f"<answer>{a}=1, {b}=2, {c}=3</answer>", env.problem.reference).correct
            assert v.verify(f"<answer>{a}=2, {b}=1, {c}=3</answer>", env.problem.reference).correct
            found += 1
    assert found


@pytest.mark.parametrize("env_id", ["rlvr/Sudoku-v0", "rlvr/GraphColoring-v0", "rlvr/SAT-v0", "rlvr/Maze-v0"])
def test_step_scores(env_id):
    env = _make(env_id)
    env.reset(seed=3)
    v = env.verifier_for(env.problem)
    good = v.verify_steps(env.reference_response(), env.problem.reference)
    assert good and all(s.score == 1.0 for s in good)
    response = env.negative_responses()[1]
    bad = v.verify_steps(response, env.problem.reference)
    assert bad and any(s.score == 0.0 for s in bad)
    assert all(response[s.start : s.end] == s.text for s in bad)
    assert v.verify_steps("no answer", env.problem.reference) == []


@pytest.mark.timeout(60)
@pytest.mark.parametrize("env_id", IDS)
def test_generators_make_many_problems_quickly(env_id):
    env = _make(env_id)
    ids = {env.reset(seed=seed)[1]["problem_id"] for seed in range(30)}
    assert len(ids) >= 28


def test_sudoku_is_unique_when_asked():
    from rlvr.envs.puzzles.sudoku import count_solutions

    env = _make("rlvr/Sudoku-v0", size=9, blanks=45)
    for seed in range(3):
        env.reset(seed=seed)
        grid = [int(c) for c in env.problem.reference["puzzle"]]
        assert grid.count(0) == 45 and count_solutions(grid, 9) == 1


def test_zebra_and_knights_have_unique_solutions():
    from rlvr.envs.puzzles.zebra import count_solutions
    from rlvr.verifiers.puzzles.knights_knaves import holds

    env = _make("rlvr/Zebra-v0")
    env.reset(seed=1)
    ref = env.problem.reference
    assert count_solutions(ref["houses"], list(ref["attributes"].values()), ref["clues"]) == 1
    env = _make("rlvr/KnightsKnaves-v0", num_people=5)
    env.reset(seed=1)
    s = env.problem.reference["statements"]
    sols = [a for a in itertools.product([False, True], repeat=5) if all(holds(x, a) == a[i] for i, x in enumerate(s))]
    assert len(sols) == 1


def test_vector_env_keeps_groups_and_scores():
    venv = gym.make_vec(
        "rlvr/Sudoku-v0", num_envs=4, vectorization_mode="vector_entry_point", group_size=2, size=4, blanks=8
    )
    prompts, infos = venv.reset(seed=0)
    assert prompts[0] == prompts[1] and prompts[2] == prompts[3] and prompts[0] != prompts[2]
    assert list(infos["group"]) == [0, 0, 1, 1]
    problems = venv.unwrapped.problems
    actions = [problems[0].solution, "", problems[2].solution, f"<answer>{problems[2].meta['wrong']}</answer>"]
    _, rewards, terminated, _, infos = venv.step(actions)
    assert list(rewards) == [1.0, 0.0, 1.0, 0.0] and terminated.all()
    venv.close()
