"""Token samplers of the `hf` decode loop at real vocabularies: time per decode step, same inputs, same run.

Each sampler draws one token per row from the distribution given by log-probs `logp` [rows, V] (a log-softmax,
-inf where top-p cut a token), all exactly that distribution:

    gumbel        argmax(logp - log E), E ~ Exp(1) per token (the engine's sampler before issue 20)
    inverse_cdf   cumsum of exp(logp) in float64, one uniform u per row, searchsorted(cdf, u * total)
                  (rlvr.trainer.rollout.hf.sample)
    multinomial   torch.multinomial(exp(logp), 1)

Rows are a decode batch (8 or 64 samples), V the vocabularies of Qwen2.5 (151,936) and
Llama 3 (128,256). Logits are random normal (scale 3), so the distribution is neither flat nor one-hot. Median
of `--repeats` timings of `--iters` calls each; `sampling_logprobs` at top_p 1 (the log-softmax every sampler
needs) is timed as its own column for scale. One torch thread (as the trainer benchmark's workers).

The top-p warp (`sampling_logprobs` at top_p 0.95) is timed both ways: `nucleus_sort` sorts every row (the warp
before), `nucleus_topk` looks among the 1,024 highest scores first and sorts only a row whose nucleus is larger
(rlvr.trainer.rollout.hf.outside_nucleus). At scale 3 the nucleus holds thousands of tokens (the fallback's cost);
at scale 10 (`peaked`: entropy ~1-2 nats, as a language model's next token mostly is) it holds a few.

    .venv/bin/python benchmarks/sampler.py [--repeats 7] [--iters 20] [--threads 1] [--out PATH]

Prints a table; writes JSON only with --out.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

import torch  # noqa: E402
from common import machine_info  # noqa: E402

from rlvr.trainer.rollout.hf import outside_nucleus, sample, sampling_logprobs  # noqa: E402


def gumbel(logp: torch.Tensor) -> torch.Tensor:
    return (logp - torch.empty_like(logp).exponential_().log()).argmax(dim=-1)


def multinomial(logp: torch.Tensor) -> torch.Tensor:
    return torch.multinomial(logp.exp(), 1)[:, 0]


SAMPLERS = {"gumbel": gumbel, "inverse_cdf": sample, "multinomial": multinomial}


def timed(fn, iters: int, repeats: int) -> list[float]:
    fn()  # warm-up
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(iters):
            fn()
        out.append((time.perf_counter() - t) / iters)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rows_out = []
    cols = ("log_softmax", *SAMPLERS, "nucleus_sort", "nucleus_topk")
    print(f"{'V':>8}{'rows':>6}{'top_p':>7}{'scale':>6}  " + "".join(f"{k:>14}" for k in cols) + "   (ms)")
    for vocab in (151_936, 128_256):
        for rows in (8, 64):
            for top_p, scale in ((1.0, 3), (0.95, 3), (0.95, 10)):
                logits = scale * torch.randn(rows, vocab)
                logp = sampling_logprobs(logits, 1.0, top_p)
                entropy = -(logits.log_softmax(-1).exp() * logits.log_softmax(-1)).sum(-1).mean().item()
                row = {"vocab": vocab, "rows": rows, "top_p": top_p, "scale": scale, "entropy_nats": entropy}
                times = {}
                if top_p == 1.0:
                    times["log_softmax"] = timed(lambda x=logits: sampling_logprobs(x, 1.0, 1.0), args.iters,
                                                 args.repeats)  # fmt: skip
                else:
                    for name, k in (("nucleus_sort", vocab), ("nucleus_topk", None)):
                        warp = lambda x=logits, p=top_p, k=k: outside_nucleus(x, p, *([k] if k else []))  # noqa: E731
                        times[name] = timed(warp, args.iters, args.repeats)
                for name, fn in SAMPLERS.items():
                    times[name] = timed(lambda fn=fn, x=logp: fn(x), args.iters, args.repeats)
                for name, ts in times.items():
                    row[name] = {"median_ms": 1e3 * statistics.median(ts), "min_ms": 1e3 * min(ts),
                                 "max_ms": 1e3 * max(ts)}  # fmt: skip
                rows_out.append(row)
                cells = [f"{row[k]['median_ms']:>9.2f} ±{(row[k]['max_ms'] - row[k]['min_ms']) / 2:<4.2f}"
                         if k in row else f"{'-':>14}" for k in cols]  # fmt: skip
                print(f"{vocab:>8}{rows:>6}{top_p:>7}{scale:>6}  " + "".join(cells))
    if args.out:
        result = {
            "benchmark": "sampler",
            "machine": machine_info(("torch",)),
            "threads": args.threads,
            "rows": rows_out,
        }
        args.out.write_text(json.dumps(result, indent=1))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
