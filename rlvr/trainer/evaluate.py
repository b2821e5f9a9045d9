"""Held-out evaluation: n samples for each of `prompts` problems, scored by the env's verifier.

    evaluate(engine, tok, env_id, env_kwargs, prompts=128, samples_per_prompt=8, seed=1, temperature=1.0, ...)
    -> {"accuracy": mean reward-1 rate over all samples, "pass@1": ..., "pass@k": ..., "mean_response_tokens": ...}

Problems come from `venv.reset(seed=seed)`, whose problem seeds are derived from `seed` alone; training draws
its problems from `reset(seed=derive_seed(env.seed, step))`, a different stream (config validation requires
eval.seed != env.seed). pass@k is the unbiased estimator 1 - C(n-c, k)/C(n, k) averaged over problems, for
k = 1, 2, 4, … up to n. Samples whose verdict is `error` are left out (and counted in `error_fraction`).
A sample is an episode (episodes.py): multi-turn envs are played up to `max_turns` (0: the env's limit); accuracy
counts the episodes whose last verdict is correct, `turns_mean` / `turns_max` their turns.
`verifier_backend` verifies in isolated pool workers (`rlvr eval --verifier-backend`); `verifiers_from` (an env)
borrows that env's verifiers instead: the trainer's evaluations use the training env's pools, already started.
"""

from __future__ import annotations

import numpy as np

from rlvr.trainer.algorithms import pass_at_k


def make_venv(
    env_id: str, env_kwargs: dict, prompts: int, group_size: int, verifier_backend: str = "",
    step_verdicts: bool = False,
):  # fmt: skip
    """The vector env of `prompts` groups of `group_size`; `verifier_backend` ("" in-process, or bwrap | process |
    ray) verifies through isolated `VerifierPool` workers; `step_verdicts`: verdicts carry the responses' steps."""
    import gymnasium as gym

    import rlvr  # noqa: F401 - registers the ids

    return gym.make_vec(
        env_id,
        num_envs=prompts * group_size,
        vectorization_mode="vector_entry_point",
        group_size=group_size,
        verifier_backend=verifier_backend or None,
        step_verdicts=step_verdicts,
        **env_kwargs,
    )


def response_tokens(sample, eos_id: int) -> int:
    """Length of a response in tokens, not counting a final EOS."""
    ids = sample.response_ids
    return len(ids) - int(bool(ids) and ids[-1] == eos_id)


def evaluate(
    engine,
    tok,
    env_id: str,
    env_kwargs: dict,
    prompts: int,
    samples_per_prompt: int,
    seed: int,
    temperature: float = 1.0,
    top_p: float = 1.0,
    max_response_tokens: int = 256,
    stop_strings=(),
    chat_template: bool = False,
    verifier_backend: str = "",
    verifiers_from=None,
    max_turns: int = 0,
    turn_reward: str = "sum",
) -> dict:
    from rlvr.trainer.episodes import collect_episodes, turn_metrics

    n = samples_per_prompt
    venv = make_venv(env_id, env_kwargs, prompts, n, verifier_backend)
    if verifiers_from is not None:
        venv.env.borrow_verifiers(verifiers_from)
    try:
        sampling = dict(temperature=temperature, top_p=top_p, max_response_tokens=max_response_tokens,
                        stop_strings=stop_strings)  # fmt: skip
        episodes = collect_episodes(engine, venv, tok, seed, n=n, sampling=sampling, max_turns=max_turns,
                                    chat_template=chat_template)  # fmt: skip
        # a mixture's problems say which env drew them: per-env numbers are reported as `<env>/pass@k`
        names = [p.meta.get("component", p.domain).removeprefix("rlvr/") for p in venv.problems[::n]]
    finally:
        venv.close()
    status = np.array([e.status for e in episodes]).reshape(prompts, n)
    correct = (status == "correct").astype(float)
    ok = status != "error"
    lengths = np.array([e.model_tokens for e in episodes], dtype=float)
    rewards = np.array([e.reward(turn_reward) for e in episodes]).reshape(prompts, n)
    out = {
        "accuracy": float(correct[ok].mean()) if ok.any() else 0.0,
        "mean_reward": float(rewards[ok].mean()) if ok.any() else 0.0,
        "mean_response_tokens": float(lengths.mean()),
        "truncated_fraction": float(np.mean([e.finish_reason == "length" for e in episodes])),
        "error_fraction": float(1.0 - ok.mean()),
        "prompts": prompts,
        "samples_per_prompt": n,
        **{k: v for k, v in turn_metrics(episodes).items() if k.startswith("turns_")},
    }
    out.update(_pass_at(correct, ok, range(prompts)))
    if len(set(names)) > 1:
        for d in sorted(set(names)):
            rows = [i for i in range(prompts) if names[i] == d]
            sel = ok[rows]
            out[f"{d}/accuracy"] = float(correct[rows][sel].mean()) if sel.any() else 0.0
            out.update({f"{d}/{k}": v for k, v in _pass_at(correct, ok, rows).items()})
    return out


def _pass_at(correct: np.ndarray, ok: np.ndarray, rows) -> dict:
    """Unbiased pass@k for k = 1, 2, 4, … <= n, averaged over the problems `rows` (n samples each, errors left out)."""
    out, k, n = {}, 1, correct.shape[1]
    while k <= n:
        scores = [pass_at_k(int(ok[i].sum()), int(correct[i].sum()), k) for i in rows if ok[i].sum() >= k]
        out[f"pass@{k}"] = float(np.mean(scores)) if scores else 0.0
        k *= 2
    return out
