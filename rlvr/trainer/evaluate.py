"""Held-out evaluation: n samples for each of `prompts` problems, scored by the env's verifier.

    evaluate(engine, tok, env_id, env_kwargs, prompts=128, samples_per_prompt=8, seed=1, temperature=1.0, ...)
    -> {"accuracy": mean reward-1 rate over all samples, "pass@1": ..., "pass@k": ..., "mean_response_tokens": ...}

Generated problems come from `venv.reset(seed=seed)`, whose problem seeds are derived from `seed` alone; training
draws its problems from `reset(seed=derive_seed(env.seed, step))`, a different stream (config validation requires
eval.seed != env.seed). A dataset env (a finite source: `__len__` and `row`) is split instead (`split_rows`): training
draws the rows that evaluation does not hold out, epoch by epoch without replacement; evaluation scores `prompts`
distinct rows, the held-out ones (`holdout` rows chosen by `seed`) or, with its own data (`eval.env_kwargs`), that
file's rows, capped at its size with a warning. pass@k is the unbiased estimator 1 - C(n-c, k)/C(n, k) averaged
over problems, for k = 1, 2, 4, … up to n. Samples whose verdict is `error` are left out (counted in
`error_fraction`).
A sample is an episode (episodes.py): multi-turn envs are played up to `max_turns` (0: the env's limit); accuracy
counts the episodes whose last verdict is correct, `turns_mean` / `turns_max` their turns.
`verifier_backend` verifies in isolated pool workers (`rlvr eval --verifier-backend`); `verifiers_from` (an env)
borrows that env's verifiers instead: the trainer's evaluations use the training env's pools, already started.
"""

from __future__ import annotations

import warnings

import numpy as np

from rlvr.envs.base import ReasoningEnv
from rlvr.trainer.algorithms import pass_at_k
from rlvr.trainer.samples import env_name, records


def make_venv(
    env_id: str, env_kwargs: dict, prompts: int, group_size: int, verifier_backend: str = "",
    step_verdicts: bool = False,
):  # fmt: skip
    """The vector env of `prompts` groups of `group_size` of any env id Gymnasium can make (`make_grouped_vec`);
    `verifier_backend` ("" in-process, or bwrap | process | ray) verifies through isolated `VerifierPool` workers;
    `step_verdicts`: verdicts carry the responses' steps."""
    import rlvr  # noqa: F401 - registers the ids
    from rlvr.envs.vector import make_grouped_vec

    try:
        return make_grouped_vec(env_id, env_kwargs, prompts, group_size, verifier_backend or None, step_verdicts)
    except TypeError as e:  # a misspelt keyword (YAML reads `{n_bits:4}` as the key "n_bits:4"): a config error
        if "argument" not in str(e):
            raise
        raise ValueError(f"env.kwargs {env_kwargs!r} do not fit {env_id}: {e}") from e


def _finite(source) -> bool:
    """A dataset-like source: `__len__` and `row(i)`."""
    return hasattr(source, "__len__") and hasattr(source, "row")


def dataset_source(venv):
    """The env's problem source when it is finite (a dataset), else None."""
    source = getattr(getattr(venv, "env", None), "source", None)
    return source if _finite(source) else None


def split_rows(venv, part: str, holdout: int, holdout_seed: int, order_seed: int) -> int | None:
    """Restrict a dataset env to the rows of `part`: "train" = all but the `holdout` rows that `holdout_rows(n,
    holdout, holdout_seed)` picks, "eval" = those rows (all rows when `holdout` is 0), in an order reshuffled every
    epoch (`order_seed`); problem k is then the row at position k. Returns the part's row count (None: not a
    dataset env). A mixture's dataset components are split each alike (they hold out `holdout` rows each; the
    mixture draws their rows at random positions, so a mixture's evaluation may score a held-out row twice)."""
    env = getattr(venv, "env", None)
    for component in getattr(getattr(env, "source", None), "envs", ()):  # a mixture (MixtureSource.envs)
        if _finite(component.source):
            component.source = _split(component.source, part, holdout, holdout_seed, order_seed)
    source = dataset_source(venv)
    if source is None:
        return None
    env.source = _split(source, part, holdout, holdout_seed, order_seed)
    return len(env.source)


def _split(source, part: str, holdout: int, holdout_seed: int, order_seed: int):
    from rlvr.envs.datasets import Rows, holdout_rows

    if holdout >= len(source):
        raise ValueError(
            f"eval.prompts ({holdout}) rows of {len(source)} would be held out of training, leaving none: "
            "lower eval.prompts, or give evaluation its own data (eval.env_kwargs: {dataset: test.jsonl})"
        )
    held = holdout_rows(len(source), holdout, holdout_seed)
    rows = held if part == "eval" else sorted(set(range(len(source))) - set(held))
    return Rows(source, rows or list(range(len(source))), order_seed)


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
    holdout: int = 0,
    holdout_seed: int = 0,
    samples_out: list | None = None,
    max_turns: int = 0,
    turn_reward: str = "sum",
) -> dict:
    """`holdout`, `holdout_seed`: for a dataset env, score the rows training holds out (see `split_rows`).
    `samples_out`: a list that receives one record per sample (prompt, response, reward, status, env, and the
    verdict's extracted answer and detail), prompt by prompt."""
    from rlvr.trainer.episodes import collect_episodes, turn_metrics

    n = samples_per_prompt
    venv = make_venv(env_id, env_kwargs, prompts, n, verifier_backend)
    dataset_rows = split_rows(venv, "eval", holdout, holdout_seed, seed)
    if dataset_rows is not None and dataset_rows < prompts:
        warnings.warn(f"eval: {env_id} has {dataset_rows} evaluation rows, fewer than the {prompts} prompts asked "
                      f"for; evaluating {dataset_rows}", stacklevel=2)  # fmt: skip
        venv.close()
        prompts = dataset_rows
        venv = make_venv(env_id, env_kwargs, prompts, n, verifier_backend)
        split_rows(venv, "eval", holdout, holdout_seed, seed)
    if isinstance(verifiers_from, ReasoningEnv) and isinstance(venv.env, ReasoningEnv):
        venv.env.borrow_verifiers(verifiers_from)
    try:
        sampling = dict(temperature=temperature, top_p=top_p, max_response_tokens=max_response_tokens,
                        stop_strings=stop_strings)  # fmt: skip
        # a dataset's rows by position: the first `prompts` of the shuffled order, each once
        options = {"seeds": list(range(prompts))} if dataset_rows is not None else None
        episodes = collect_episodes(engine, venv, tok, seed, n=n, sampling=sampling, max_turns=max_turns,
                                    chat_template=chat_template, options=options)  # fmt: skip
        # a mixture's problems say which env drew them: per-env numbers are reported as `<env>/pass@k`
        names = [env_name(p) for p in venv.problems[::n]]
        prompts_text = [p.prompt for p in venv.problems]
    finally:
        venv.close()
    status = np.array([e.status for e in episodes]).reshape(prompts, n)
    episode_rewards = [e.reward(turn_reward) for e in episodes]
    if samples_out is not None:
        envs = [names[i // n] for i in range(len(episodes))]
        statuses = [str(x) for x in status.flatten()]
        rows = records(prompts_text, [e.text for e in episodes], episode_rewards, statuses, envs, episodes)
        for row, e in zip(rows, episodes, strict=True):
            v = e.verdicts[-1] if e.verdicts else None
            samples_out.append({**row, "extracted": (v or {}).get("extracted"), "detail": (v or {}).get("detail", "")})
    correct = (status == "correct").astype(float)
    ok = status != "error"
    lengths = np.array([e.model_tokens for e in episodes], dtype=float)
    rewards = np.array(episode_rewards).reshape(prompts, n)
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
    if dataset_rows is not None:
        out["held_out"] = f"{'rows held out of training' if holdout else 'rows of the evaluation data'}, each once"
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
