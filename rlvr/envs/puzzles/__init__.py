"""Logic-puzzle families: one file each (config, generator, env); checkers live in rlvr/verifiers/puzzles/."""

# env id -> "module:EnvClass"; registered by rlvr.envs.registration.
PUZZLE_IDS: dict[str, str] = {}
