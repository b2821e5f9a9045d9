"""Multi-turn generation with the hf engine: each turn continued from the episode's KV cache, or prefilled whole.

The driver plays episodes the way `rlvr/trainer/episodes.py` does: turn 1 writes G responses per prompt (one shared
prefill per prompt), every later turn one response for each episode still running, from its history (prompt, the
model's tokens, the env's replies) passed as token ids. Episode i of a group ends after 1 + i % TURNS turns, so
groups hold episodes of every length and later turns batch fewer rows. The env is replaced by fixed replies of
random characters (the same in both modes), so only generation is timed.

Two workloads:
    guess     configs/multi-turn.yaml's shape: a 4-token prompt, 3-token guesses, 1-token replies, 3 turns, its
              tiny Llama (64 wide, 2 layers)
    feedback  a CodeFeedback-like shape: a 256-token task, up to 48-token programs, 96-token failure reports,
              4 turns, a Llama 256 wide with 4 layers

Per workload, rounds alternate the two modes (continued first, then full first, ...) on one model; each round plays
the same episodes (same seed) in both. Reported: generate seconds per episode (median over rounds), the prompt
tokens prefilled and those taken from the cache (the engine's `counts`), and whether both modes sampled the same
tokens (they must: the cache holds what a full prefill computes).

    .venv/bin/python benchmarks/multiturn.py [--rounds 5] [--prompts 8] [--group 4] [--threads 1] [--quick]
        [--out PATH]

Writes benchmarks/results/multiturn.json.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from common import RESULTS, machine_info, write_result  # noqa: E402

WORKLOADS = {
    "guess": {"prompt": 4, "response": 3, "reply": 1, "turns": 3, "hidden": 64, "layers": 2, "heads": 2},
    "feedback": {"prompt": 256, "response": 48, "reply": 96, "turns": 4, "hidden": 256, "layers": 4, "heads": 4},
}
CHARS = "abcdefghijklmnopqrstuvwxyz0123456789 ()=+-*/:<>?\n"


def build(w: dict):
    """A randomly initialised Llama of the workload's shape (seeded) and a character tokenizer."""
    import torch

    from rlvr.trainer.config import ModelConfig
    from rlvr.trainer.model import build_model

    cfg = ModelConfig(vocab_chars=CHARS, hidden_size=w["hidden"], num_layers=w["layers"], num_heads=w["heads"],
                      head_dim=w["hidden"] // w["heads"], intermediate_size=4 * w["hidden"],
                      max_position_tokens=4096)  # fmt: skip
    model, tok = build_model(cfg)
    return model.eval(), tok, torch


def text(rng, n: int) -> str:
    return "".join(rng.choice(CHARS) for _ in range(n))


def play(engine, tok, torch, w: dict, prompts: list[str], group: int, reuse: bool, seed: int) -> dict:
    """One batch of episodes; returns generate seconds, the engine's counts and every sample's response ids."""
    rng = random.Random(seed)
    replies = [[tok(text(rng, w["reply"]), add_special_tokens=False).input_ids for _ in range(w["turns"])]
               for _ in range(len(prompts) * group)]  # fmt: skip
    sampling = {"max_response_tokens": w["response"], "temperature": 1.0}
    before = dict(engine.counts)
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    samples = engine.generate(prompts, group, keep_cache=reuse, **sampling)
    last, tokens = dict(enumerate(samples)), [s.response_ids for s in samples]
    for turn in range(1, w["turns"]):
        rows = [r for r in last if r % w["turns"] >= turn]  # episode r plays 1 + r % turns turns
        histories = [last[r].prompt_ids + last[r].response_ids + replies[r][turn] for r in rows]
        caches = [last[r].cache for r in rows] if reuse else None
        keep = reuse and turn + 1 < w["turns"]
        samples = engine.generate(histories, 1, caches=caches, keep_cache=keep, **sampling)
        last = dict(zip(rows, samples, strict=True))
        tokens += [s.response_ids for s in samples]
    seconds = time.perf_counter() - t0
    counts = {k: engine.counts[k] - before[k] for k in before}
    return {"seconds": seconds, "tokens": tokens, **counts}


def run_workload(name: str, w: dict, args) -> dict:
    from rlvr.trainer.rollout import make_engine

    model, tok, torch = build(w)
    engine = make_engine("hf", model, tok)
    rng = random.Random(0)
    prompts = [text(rng, w["prompt"]) for _ in range(args.prompts)]  # a character tokenizer: one token per char
    episodes = args.prompts * args.group
    play(engine, tok, torch, w, prompts, args.group, True, seed=99)  # warm-up
    play(engine, tok, torch, w, prompts, args.group, False, seed=99)
    runs = {True: [], False: []}
    same = True
    for rnd in range(args.rounds):
        order = (True, False) if rnd % 2 == 0 else (False, True)
        out = {reuse: play(engine, tok, torch, w, prompts, args.group, reuse, seed=rnd) for reuse in order}
        same &= out[True]["tokens"] == out[False]["tokens"]
        for reuse in order:
            runs[reuse].append(out[reuse])

    def summary(rs: list[dict]) -> dict:
        return {
            "generate_ms_per_episode": 1e3 * statistics.median(r["seconds"] for r in rs) / episodes,
            "generate_ms_per_episode_rounds": [round(1e3 * r["seconds"] / episodes, 3) for r in rs],
            "prefill_tokens_per_episode": statistics.median(r["prefill_tokens"] for r in rs) / episodes,
            "reused_tokens_per_episode": statistics.median(r["reused_tokens"] for r in rs) / episodes,
            "response_tokens_per_episode": statistics.median(sum(map(len, r["tokens"])) for r in rs) / episodes,
        }

    cont, full = summary(runs[True]), summary(runs[False])
    return {
        "workload": name,
        "shape": w,
        "episodes": episodes,
        "continued": cont,
        "full_prefill": full,
        "speedup": full["generate_ms_per_episode"] / cont["generate_ms_per_episode"],
        "prefill_saved_fraction": 1 - cont["prefill_tokens_per_episode"] / full["prefill_tokens_per_episode"],
        "same_tokens": same,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--group", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--quick", action="store_true", help="2 rounds of 2 prompts x 2 (a smoke run)")
    ap.add_argument("--out", type=Path, default=RESULTS / "multiturn.json")
    args = ap.parse_args(argv)
    if args.quick:
        args.rounds, args.prompts, args.group = 2, 2, 2
    import torch

    torch.set_num_threads(args.threads)
    results = [run_workload(name, WORKLOADS[name], args) for name in args.workloads.split(",")]
    data = {
        "benchmark": "multiturn",
        "machine": machine_info(("torch", "transformers")),
        "quick": args.quick,
        "settings": {"rounds": args.rounds, "prompts": args.prompts, "group": args.group, "threads": args.threads},
        "results": results,
    }
    path = write_result(args.out, data)
    for r in results:
        print(f"{r['workload']}: {r['continued']['generate_ms_per_episode']:.2f} ms/episode continued, "
              f"{r['full_prefill']['generate_ms_per_episode']:.2f} full ({r['speedup']:.2f}x); prefill tokens "
              f"saved {100 * r['prefill_saved_fraction']:.0f}%; same tokens: {r['same_tokens']}")  # fmt: skip
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
