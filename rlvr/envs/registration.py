"""Every environment id, registered with Gymnasium (`gym.make("rlvr/Math-v0")`).

Entry points are strings, so registering imports no env module. Bump an id's version when a seed
starts producing different problems.
"""

from __future__ import annotations

import functools

ENV_IDS: dict[str, str] = {
    "rlvr/Math-v0": "rlvr.envs.math:MathEnv",
    "rlvr/Code-v0": "rlvr.envs.code:CodeEnv",
    "rlvr/CodeFeedback-v0": "rlvr.envs.code:CodeFeedbackEnv",
    "rlvr/Parity-v0": "rlvr.envs.parity:ParityEnv",
    "rlvr/STEM-v0": "rlvr.envs.stem:STEMEnv",
    "rlvr/Instruction-v0": "rlvr.envs.instruction:InstructionEnv",
    "rlvr/ReasoningGym-v0": "rlvr.envs.reasoning_gym:ReasoningGymEnv",
    "rlvr/Mixture-v0": "rlvr.envs.mixture:MixtureEnv",
}


def register_envs() -> None:
    """Register every id (idempotent). Puzzle families add theirs through `rlvr.envs.puzzles.PUZZLE_IDS`."""
    import gymnasium as gym

    from rlvr.envs.puzzles import PUZZLE_IDS
    from rlvr.envs.vector import make_vector_env

    for env_id, entry_point in {**ENV_IDS, **PUZZLE_IDS}.items():
        if env_id in gym.registry:
            continue
        gym.register(
            id=env_id,
            entry_point=entry_point,
            vector_entry_point=functools.partial(make_vector_env, entry_point),
            disable_env_checker=True,
        )
