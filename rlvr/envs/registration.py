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
    "rlvr/Guess-v0": "rlvr.envs.guess:GuessEnv",
}


def register_envs() -> None:
    """Register every id (idempotent). Puzzle families add theirs through `rlvr.envs.puzzles.PUZZLE_IDS`."""
    import gymnasium as gym

    from rlvr.envs.puzzles import PUZZLE_IDS

    for env_id, entry_point in {**ENV_IDS, **PUZZLE_IDS}.items():
        if env_id in gym.registry:
            continue
        gym.register(
            id=env_id,
            entry_point=entry_point,
            vector_entry_point=functools.partial(make_vector_env, entry_point),
            disable_env_checker=True,
        )


def env_spec(env_id: str):
    """The `EnvSpec` of any id `gym.make` accepts, "module:Name-v0" included (the module is imported first, as
    `gym.make` does); a ValueError naming env.id and the rlvr ids when there is none."""
    import importlib

    import gymnasium as gym

    module, _, name = env_id.rpartition(":")
    try:
        if module:
            importlib.import_module(module)
        return gym.spec(name)
    except (gym.error.Error, ImportError) as e:
        ids = ", ".join(sorted(i for i in gym.registry if i.startswith("rlvr/")))
        raise ValueError(
            f"env.id {env_id!r} is not a registered Gymnasium id ({e}). rlvr's ids: {ids}; or register "
            "your own task (README: Add your own task) and give its id, or 'module:Name-v0'"
        ) from None


def make_vector_env(
    env_entry_point: str, num_envs: int = 1, group_size: int = 1, verifier_backend: str | None = None,
    step_verdicts: bool = False, **kwargs,
):  # fmt: skip
    """Vector entry point: build the single env from `kwargs` and batch over it (see rlvr.envs.vector).

    `verifier_backend` ("bwrap" | "process" | "ray") verifies through isolated `VerifierPool` workers;
    `step_verdicts` makes the verifiers score the responses' steps too (`ReasoningEnv.step_verdicts`).

    It lives here, importing the env modules only when called, because registration runs while
    Gymnasium itself is still being imported (see rlvr/__init__.py).
    """
    import importlib

    from rlvr.envs.vector import ReasoningVectorEnv

    kwargs.pop("max_episode_steps", None)
    module, cls = env_entry_point.split(":")
    env = getattr(importlib.import_module(module), cls)(**kwargs)
    env.verifier_backend = verifier_backend
    env.step_verdicts = step_verdicts
    return ReasoningVectorEnv(env, num_envs=num_envs, group_size=group_size)
