"""A TRL reward function: `reward_function("math")` goes into `GRPOTrainer(reward_funcs=[...])`.

TRL calls a reward function with the batch's `prompts` and `completions` plus every other dataset column as a
keyword argument (one value per completion). Ours reads the reference from `reference_column` (text, JSON text for
structured references, or a dict: see `rlvr.integrations.common`) and verifies each completion with the verifier
(a name, or any `Verifier`, e.g. a `VerifierPool` for isolation). Conversational completions are read from the
last assistant message.

An `error` verdict (our infrastructure failed, not the model) is returned as None: TRL turns it into NaN and leaves
it out of the reward, as rlvr's own trainer masks such samples. Not handled: a different verifier per row (use
one reward function per verifier, or rlvr's trainer with `rlvr/Mixture-v0`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rlvr.integrations.common import completion_text, decode_reference, shared_verifier
from rlvr.verifiers import Verifier


def reward_function(
    verifier: str | Verifier, reference_column: str = "reference", name: str | None = None
) -> Callable[..., list[float | None]]:
    """A TRL `reward_funcs` callable scoring completions with `verifier` against the `reference_column` column.

    `name` is what TRL logs it as (`rewards/<name>/mean`); default `rlvr_<verifier name>`.
    """
    if isinstance(verifier, str):
        verifier = shared_verifier(verifier)
    elif not isinstance(verifier, Verifier):
        raise ValueError(f"verifier must be a verifier name or a Verifier, got {type(verifier).__name__}")
    if not isinstance(reference_column, str) or not reference_column:
        raise ValueError(f"reference_column must be a column name, got {reference_column!r}")

    def reward(prompts: list, completions: list, **columns: Any) -> list[float | None]:
        if reference_column not in columns:
            known = sorted(k for k in columns if k not in ("trainer_state", "log_extra", "log_metric"))
            raise ValueError(f"the dataset has no {reference_column!r} column (reward_function's reference_column); "
                             f"its columns: {known}")  # fmt: skip
        references = columns[reference_column]
        if len(references) != len(completions):
            raise ValueError(f"{len(completions)} completions but {len(references)} values of {reference_column!r}")
        pairs = [
            (completion_text(c), decode_reference(r, reference_column))
            for c, r in zip(completions, references, strict=True)
        ]
        return [None if v.status == "error" else float(v.reward) for v in verifier.verify_batch(pairs)]

    reward.__name__ = reward.__qualname__ = name or f"rlvr_{verifier.name.replace('/', '_')}"
    return reward
