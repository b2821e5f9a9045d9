"""rlvr problems as verl-style rows, so verl or OpenRLHF trains on rlvr's tasks scored by rlvr's verifiers.

    rlvr export rlvr/Math-v0 --n 10000 --seed 0 --out math.parquet      # or .jsonl

A row (verl's RL dataset layout):

    data_source   the env id ("rlvr/Math-v0"); `rlvr.integrations.verl.compute_score` dispatches on it
    prompt        chat messages: [{"role": "user", "content": <the env's prompt>}]
    ability       the problem's domain ("math", "code", "puzzle", ...)
    reward_model  {"style": "rule", "ground_truth": <the reference as text; JSON text when structured>}
    extra_info    {"index", "seed", "problem_id", "verifier", "answer_format", "env_id", "env_kwargs" (JSON text)}

Row i is problem `derive_seed(seed, i)` of the env built with `env_kwargs`; for a dataset env (the `dataset` kwarg:
a finite source) the rows are the file's, each once per pass, in an order drawn from `seed` (a file of N rows
exported with n = N is the whole file, not N draws with repeats). `extra_info["seed"]` is the row's problem seed, so
`gym.make(env_id, **env_kwargs).reset(seed=extra_info["seed"])` shows the same problem. The same (env, kwargs, n,
seed) gives the same rows on every machine. Multi-turn envs export their first prompt; the row is scored once.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from rlvr.integrations.common import encode_reference

FORMATS = (".parquet", ".jsonl")


def rows(env_id: str, n: int, seed: int = 0, env_kwargs: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """The first `n` rows of `env_id` for `seed` (see the module docstring)."""
    import gymnasium as gym

    import rlvr  # noqa: F401 - registers the ids

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    env_kwargs = dict(env_kwargs or {})
    kwargs_text = json.dumps(env_kwargs, sort_keys=True)
    try:
        env = gym.make(env_id, **env_kwargs)
    except gym.error.Error as e:
        raise ValueError(f"cannot make {env_id}: {e}") from e
    try:
        for index, problem_seed in enumerate(_problem_seeds(env.unwrapped.source, n, seed)):
            prompt, info = env.reset(seed=problem_seed)
            yield {
                "data_source": env_id,
                "prompt": [{"role": "user", "content": prompt}],
                "ability": info["domain"],
                "reward_model": {"style": "rule", "ground_truth": encode_reference(info["reference"])},
                "extra_info": {
                    "index": index,
                    "seed": problem_seed,
                    "problem_id": info["problem_id"],
                    "verifier": info["verifier"],
                    "answer_format": info["answer_format"],
                    "env_id": env_id,
                    "env_kwargs": kwargs_text,
                },
            }
    finally:
        env.close()


def _problem_seeds(source: Any, n: int, seed: int) -> Iterator[int]:
    """The problem seed of each of n rows: `derive_seed(seed, i)`, or for a dataset (a source with `__len__` and
    `row`, whose problem seeds 0..N-1 name its N rows one each) a permutation of 0..N-1 drawn from (seed, pass)."""
    from rlvr.envs.base import derive_seed

    if not (hasattr(source, "__len__") and hasattr(source, "row")):
        yield from (derive_seed(seed, i) for i in range(n))
        return
    size = len(source)
    for start in range(0, n, size):
        order = np.random.default_rng([seed, start // size]).permutation(size)
        yield from (int(s) for s in order[: n - start])


def write(path: str, env_id: str, n: int, seed: int = 0, env_kwargs: dict[str, Any] | None = None) -> int:
    """Write `rows(...)` to `path` (.parquet needs pyarrow, the `data` extra; .jsonl needs nothing); returns n.
    The file appears whole or not at all (written beside it, then renamed)."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise ValueError(f"out must end in {' or '.join(FORMATS)}, got {path!r}")
    if ext == ".parquet":
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError as e:
            raise ValueError("writing .parquet needs pyarrow (pip install 'rlvr[data]'); or write .jsonl") from e
    data = list(rows(env_id, n, seed, env_kwargs))
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        if ext == ".parquet":
            pq.write_table(pa.Table.from_pylist(data), tmp)
        else:
            with open(tmp, "w", encoding="utf-8") as f:
                for row in data:
                    f.write(json.dumps(row, ensure_ascii=False) + "\n")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return len(data)
