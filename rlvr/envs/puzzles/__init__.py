"""Logic-puzzle families: one file each (config, generator, env); checkers live in rlvr/verifiers/puzzles/."""

# env id -> "module:EnvClass"; registered by rlvr.envs.registration.
PUZZLE_IDS: dict[str, str] = {
    "rlvr/Countdown-v0": "rlvr.envs.puzzles.countdown:CountdownEnv",
    "rlvr/Sudoku-v0": "rlvr.envs.puzzles.sudoku:SudokuEnv",
    "rlvr/KnightsKnaves-v0": "rlvr.envs.puzzles.knights_knaves:KnightsKnavesEnv",
    "rlvr/GraphColoring-v0": "rlvr.envs.puzzles.graph_coloring:GraphColoringEnv",
    "rlvr/Zebra-v0": "rlvr.envs.puzzles.zebra:ZebraEnv",
    "rlvr/Cryptarithm-v0": "rlvr.envs.puzzles.cryptarithm:CryptarithmEnv",
    "rlvr/SAT-v0": "rlvr.envs.puzzles.sat:SATEnv",
    "rlvr/Maze-v0": "rlvr.envs.puzzles.maze:MazeEnv",
}
