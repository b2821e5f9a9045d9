"""verl's custom reward function: `compute_score(data_source, solution_str, ground_truth, extra_info=None)`.

Point verl at it (`custom_reward_function.path=<this file's path>`, `custom_reward_function.name=compute_score`)
and train on rows from `rlvr export`, or on your own rows whose `data_source` is an rlvr verifier name.

Which verifier scores a row:
- `data_source` is a verifier name ("math", "code", "puzzle/sudoku", ...): that one.
- `data_source` is an rlvr env id ("rlvr/Math-v0"): the one the row names in `extra_info["verifier"]`, which
  `rlvr export` writes (an env can mix verifiers: STEM-v0 has choice and numeric problems, Mixture-v0 any).
Anything else is a ValueError naming the field: a row that cannot be scored is a data bug, not a reward of 0.

Returns verl's dict form: `score` (the verifier's reward, in [0, 1]) plus `acc` (1.0 when correct) and `error`
(1.0 when our infrastructure failed, e.g. the sandbox was down: verl cannot mask a sample, so it scores 0 and is
counted here), which verl logs per data source. Keyword arguments beyond these four (verl's reward loop passes
`reward_router_address`, `reward_model_tokenizer`, ...; `custom_reward_function.reward_kwargs` adds its own) are
accepted and ignored. Not handled: multi-turn feedback (a row is scored once).
"""

from __future__ import annotations

from typing import Any

from rlvr.integrations.common import decode_reference, is_verifier_name, shared_verifier


def compute_score(
    data_source: str, solution_str: str, ground_truth: Any, extra_info: dict | None = None, **verl_kwargs: Any
) -> dict:
    """verl's reward-function signature; see the module docstring. `verl_kwargs` are what verl's reward loop adds
    for reward-model scorers (`reward_router_address`, `reward_model_tokenizer`, ...): accepted and not used."""
    verifier = shared_verifier(verifier_name(data_source, extra_info))
    if not isinstance(solution_str, str):
        raise ValueError(f"solution_str must be text, got {type(solution_str).__name__}")
    verdict = verifier.verify(solution_str, decode_reference(ground_truth, "ground_truth"))
    return {
        "score": float(verdict.reward),
        "acc": 1.0 if verdict.correct else 0.0,
        "error": 1.0 if verdict.status == "error" else 0.0,
    }


def verifier_name(data_source: str, extra_info: dict | None = None) -> str:
    """The verifier that scores a row of `data_source` (see the module docstring)."""
    if is_verifier_name(data_source):
        return data_source
    if _is_env_id(data_source):
        named = (extra_info or {}).get("verifier")
        if is_verifier_name(named):
            return named
        raise ValueError(
            f"data_source {data_source!r} is an env id: its rows name their verifier in extra_info['verifier'] "
            f"(`rlvr export` writes it), got {named!r}; or give a verifier name as data_source"
        )
    raise ValueError(f"data_source {data_source!r} is neither an rlvr verifier name nor a registered rlvr env id")


def _is_env_id(name: Any) -> bool:
    if not isinstance(name, str) or not name.startswith("rlvr/"):
        return False
    import gymnasium as gym

    import rlvr  # noqa: F401 - registers the ids

    return name in gym.registry
