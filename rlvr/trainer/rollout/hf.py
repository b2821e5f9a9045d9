"""The `hf` rollout engine: rlvr's own decode loop over the trainer's transformers model.

For each chunk of at most `max_batch_sequences` rows (a row is one sample: prompt i's n samples are n rows):

    prefill   each distinct prompt once (left-padded), logits of its last position only (`logits_to_keep=1`)
    expand    the KV cache to the chunk's rows: the n samples of a prompt share one prefill (`Cache.reorder_cache`)
    decode    warp the logits (temperature, top-p) -> log-softmax; sample (inverse CDF in float64, `sample`: the
              same distribution as multinomial); record log p(token); one forward for the new
              tokens of the rows still running
    finish    a row stops at EOS, at a stop string, or after `max_response_tokens`; finished rows leave the
              batch (and the KV cache) once they are a quarter of it, so a long tail decodes a small batch

The KV cache is transformers' `DynamicCache` whose full-attention layers keep their keys and values in buffers
that grow by doubling (`_GrowingLayer`), so a token is written in place where `DynamicLayer` concatenates
(`torch.cat` copied the whole cache every token: half the decode time of a small model on CPU). Sliding-window
and other special layers stay as the model's config makes them.

Multi-turn continuation (`keep_cache=True`, then `caches=`): each sample carries a `KVState`, its row's keys and
values for the tokens the cache holds (the history less the last sampled token, which was never fed), copied out of
the batch when the row leaves it (so a finished row's state does not pin the batch's buffers). The next turn passes
the state of each prompt's history; the engine compares token ids, keeps the longest common prefix of the state's
tokens and the new history (all of them when the history extends the state, as an episode's does: episodes.py sends
token ids, not re-tokenised text), and prefills only the rest. Layout of such a prefill: the reused keys/values
left-padded to the widest reused prefix, then the new tokens left-padded to the longest suffix; the holes are masked
and the position ids count only real tokens, so every row sees exactly its own history. A state is used only by the
engine that wrote it and only until `sync_weights` (new weights make it stale); a history that shares no prefix with
its state, or a model with cache layers other than plain full attention (sliding windows), gets a full prefill. The
engine holds no state itself: the caller's references are the only ones, so dropping an ended episode's state frees
it. `counts` accumulates prefilled and reused prompt tokens. benchmarks/multiturn.py: on CodeFeedback-like episodes
(a 256-token task, 96-token replies, 4 turns) generation is 1.8x faster; on 10-token Guess episodes the copies cost
more than the prefill they save (0.93x).

Why not `model.generate`: per token it builds logits processors, stopping criteria and cache bookkeeping for the
general case, and it prefills every row (G times the prompt work in GRPO). On the benchmark's tiny model
(benchmarks/trainer.py) this loop takes about 2/3 of generate's time.

Because the engine samples from the trainer's model, `sync_weights` only invalidates continuation states.
Generation runs under `torch.inference_mode`: it returns plain Python lists, so no inference tensor reaches autograd.
The RNG is torch's global generator of the model's device (seeded by the trainer). Not handled: beam search,
repetition penalties and other generation options (the model's own generation_config is ignored); encoder-decoder
models.
"""

from __future__ import annotations

import torch
from transformers.cache_utils import DynamicCache, DynamicLayer

from rlvr.trainer.rollout import RolloutEngine, Sample

NUCLEUS_CANDIDATES = 1024  # top-p looks among this many highest scores first (a full sort only if they fall short)


def sampling_logprobs(logits: torch.Tensor, temperature: float, top_p: float) -> torch.Tensor:
    """log-softmax [rows, V] of the distribution sampled from: logits / temperature, then the smallest set of
    tokens whose probability reaches top_p (the rest -inf). No division at temperature 1 (x / 1 is x: one pass over
    [rows, V] saved, a third of this function's time at V = 151,936)."""
    scores = logits.float() if temperature == 1.0 else logits.float() / temperature
    if top_p < 1.0:
        scores = scores.masked_fill(outside_nucleus(scores, top_p), float("-inf"))
    return torch.log_softmax(scores, dim=-1)


def outside_nucleus(scores: torch.Tensor, top_p: float, candidates: int = NUCLEUS_CANDIDATES) -> torch.Tensor:
    """True [rows, V] for the tokens outside the smallest set of highest scores whose probability reaches top_p.
    The set is looked for among the `candidates` highest scores of each row (`topk`: ~10x cheaper than sorting
    151,936 scores); in a row where they hold less than top_p, among all (a full sort of that row). Either way a
    token is in the set when the probability of the tokens before it in descending order is below top_p
    (probabilities exp(score - logsumexp of the whole row), summed in float64), so the two give the same set up to
    the order of tied scores."""
    k = min(candidates, scores.shape[-1])
    top, order = scores.topk(k, dim=-1)
    probs = (top - scores.logsumexp(dim=-1, keepdim=True)).double().exp()
    before = probs.cumsum(dim=-1) - probs
    out = torch.ones_like(scores, dtype=torch.bool).scatter_(1, order, before >= top_p)
    short = before[:, -1] + probs[:, -1] < top_p  # rows whose nucleus is larger than the candidates
    if k < scores.shape[-1] and bool(short.any()):
        out[short] = outside_nucleus(scores[short], top_p, scores.shape[-1])
    return out


def sample(logp: torch.Tensor) -> torch.Tensor:
    """One token per row of log-probs `logp` [rows, V], drawn from exp(logp) by inverse CDF: the cumulative sum of
    the probabilities in float64 and one uniform u per row (torch's global generator of `logp`'s device); the token
    is the first whose cumulative sum exceeds u * total. A token of probability 0 (-inf, cut by top-p) adds nothing
    to the sum, so it is never drawn. One random number per row instead of one per token (Gumbel-max): several times
    faster at V = 151,936 (benchmarks/sampler.py). u * total stays below the total (u <= 1 - 2^-53); the `minimum`
    only guards it, so that the search always ends on the last token of positive probability at the latest."""
    cdf = logp.exp().double().cumsum_(dim=-1)
    total = cdf[:, -1:]
    u = torch.rand((logp.shape[0], 1), dtype=torch.float64, device=logp.device) * total
    u = torch.minimum(u, total.nextafter(torch.zeros_like(total)))
    return torch.searchsorted(cdf, u, right=True)[:, 0]


class _GrowingLayer(DynamicLayer):
    """A `DynamicLayer` whose keys/values live in buffers written in place: room for the prompt and 256 more tokens
    at first, doubled when full (never past `limit`); `keys`/`values` are views of the filled part."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit, self.length = limit, 0

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        n = key_states.shape[-2]
        if not self.is_initialized:
            self.dtype, self.device, self.is_initialized = key_states.dtype, key_states.device, True
            self._k, self._v = key_states[:, :, :0], value_states[:, :, :0]
        if self.length + n > self._k.shape[-2]:  # the prompt + 256 tokens at first, then doubling, up to limit
            grown = max(self.length + n + (0 if self.length else 256), 2 * self._k.shape[-2])
            capacity = min(grown, max(self.limit, self.length + n))
            self._k, self._v = (self._grown(b, capacity) for b in (self._k, self._v))
        self._k[:, :, self.length : self.length + n] = key_states
        self._v[:, :, self.length : self.length + n] = value_states
        self.length += n
        self.keys, self.values = self._k[:, :, : self.length], self._v[:, :, : self.length]
        return self.keys, self.values

    def _grown(self, buf: torch.Tensor, capacity: int) -> torch.Tensor:
        new = buf.new_empty((*buf.shape[:2], capacity, buf.shape[3]))
        new[:, :, : self.length] = buf[:, :, : self.length]
        return new

    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        """Keep (or repeat) the rows `beam_idx`, in that order."""
        if self.is_initialized:
            self._k, self._v = (b.index_select(0, beam_idx.to(b.device)) for b in (self._k, self._v))
            self.keys, self.values = self._k[:, :, : self.length], self._v[:, :, : self.length]


class KVState:
    """A row's KV cache after a turn: `ids`, the tokens it holds, and `kv` [layers, 2 (keys, values), kv_heads,
    len(ids), head_dim], one tensor (one copy per row in and out). Opaque to callers; valid for the engine that
    wrote it until its next `sync_weights` (`epoch`)."""

    __slots__ = ("engine", "epoch", "ids", "kv")

    def __init__(self, engine, epoch: int, ids: list[int], kv: torch.Tensor) -> None:
        self.engine, self.epoch, self.ids, self.kv = engine, epoch, ids, kv


def common_prefix(a: list[int], b: list[int]) -> int:
    """The length of the longest common prefix of two token-id lists."""
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


def kv_cache(model, max_tokens: int) -> DynamicCache:
    """The model's `DynamicCache` with its plain full-attention layers replaced by `_GrowingLayer`s."""
    cache = DynamicCache(config=model.config)
    cache.layers = [_GrowingLayer(max_tokens) if type(layer) is DynamicLayer else layer for layer in cache.layers]
    return cache


class HFEngine(RolloutEngine):
    def __init__(self, model, tokenizer, add_special_tokens: bool = True, max_batch_sequences: int = 256) -> None:
        self.model, self.tok = model, tokenizer
        self.add_special_tokens = add_special_tokens
        self.max_batch_sequences = max_batch_sequences
        self.epoch = 0  # bumped by sync_weights: continuation states of earlier weights are stale
        self.counts = {"prefill_tokens": 0, "reused_tokens": 0}  # prompt tokens prefilled / taken from a KVState

    def sync_weights(self, model) -> None:
        self.epoch += 1

    @torch.inference_mode()  # not just no_grad: no version counters or view tracking (~15% less CPU on small models)
    def generate(self, prompts, n, *, temperature=1.0, top_p=1.0, max_response_tokens=256, stop_strings=(),
                 caches=None, keep_cache=False):  # fmt: skip
        if caches is not None and len(caches) != len(prompts):
            raise ValueError(f"caches: one per prompt ({len(prompts)}), got {len(caches)}")
        rows = [i for i in range(len(prompts)) for _ in range(n)]
        was_training = self.model.training
        self.model.eval()
        try:
            out: list[Sample] = []
            for start in range(0, len(rows), self.max_batch_sequences):
                chunk = rows[start : start + self.max_batch_sequences]
                out += self._generate_chunk(prompts, chunk, temperature, top_p, max_response_tokens, stop_strings,
                                            caches, keep_cache)  # fmt: skip
        finally:
            self.model.train(was_training)
        return out

    def _generate_chunk(self, prompts, rows, temperature, top_p, max_tokens, stop_strings, caches, keep) -> list:
        distinct = {i: k for k, i in enumerate(dict.fromkeys(rows))}  # prompt index -> its row in the prefill
        expand = [distinct[i] for i in rows]
        device = next(self.model.parameters()).device
        enc = self._encode([prompts[i] for i in distinct])
        masks = enc["attention_mask"].bool()
        prompt_ids = [ids[mask].tolist() for ids, mask in zip(enc["input_ids"], masks, strict=True)]
        states = [caches[i] if caches is not None else None for i in distinct]
        reuse = [self._reusable(ids, state) for ids, state in zip(prompt_ids, states, strict=True)]
        self.counts["prefill_tokens"] += sum(len(ids) - m for ids, m in zip(prompt_ids, reuse, strict=True))
        self.counts["reused_tokens"] += sum(reuse)
        if any(reuse):
            enc, cache = self._continued(prompt_ids, states, reuse, max_tokens)
        else:
            cache = kv_cache(self.model, enc["input_ids"].shape[1] + max_tokens)
        kept = [None] * len(rows) if keep and all(type(layer) is _GrowingLayer for layer in cache.layers) else None
        tokens, logprobs, ends = self._decode(
            enc["input_ids"].to(device), enc["attention_mask"].to(device), torch.tensor(expand, device=device),
            cache, max_tokens, temperature, top_p, stop_strings, kept,
        )  # fmt: skip
        tokens = [t[:end] for t, end in zip(tokens.tolist(), ends, strict=True)]
        cuts = [self._length(t, stop_strings) for t in tokens]
        texts = self.tok.batch_decode([t[:n] for t, (n, _) in zip(tokens, cuts, strict=True)], skip_special_tokens=True)
        samples = [
            Sample(prompt_ids[p], t[:n], text, lp[:n], reason)
            for p, t, lp, (n, reason), text in zip(expand, tokens, logprobs.tolist(), cuts, texts, strict=True)
        ]
        for r, kv in enumerate(kept or []):  # the cache holds the prompt and every sampled token but the last
            if kv is not None:
                samples[r].cache = KVState(self, self.epoch, prompt_ids[expand[r]] + tokens[r][:-1], kv)
        return samples

    def _reusable(self, ids: list[int], state) -> int:
        """How many leading tokens of `ids` the continuation `state` holds (at most all but one: the last prompt
        token's logits start the response). 0: a full prefill."""
        if not isinstance(state, KVState) or state.engine is not self or state.epoch != self.epoch:
            return 0
        return min(common_prefix(ids, state.ids), len(ids) - 1)

    def _continued(self, prompt_ids, states, reuse, max_tokens) -> tuple[dict, DynamicCache]:
        """A cache holding the reused prefixes (right-aligned at column C, the widest), and the new tokens
        (left-padded to the longest suffix, N) with the attention mask over both: [U, C + N], 0 on the holes."""
        width, suffix = max(reuse), max(len(ids) - m for ids, m in zip(prompt_ids, reuse, strict=True))
        ids = torch.full((len(prompt_ids), suffix), self.tok.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(prompt_ids), width + suffix), dtype=torch.long)
        for u, (p, m) in enumerate(zip(prompt_ids, reuse, strict=True)):
            new = len(p) - m
            ids[u, suffix - new :] = torch.tensor(p[m:])
            mask[u, width - m : width] = 1
            mask[u, width + suffix - new :] = 1
        cache = kv_cache(self.model, width + suffix + max_tokens)
        kv0 = next(s.kv for s, m in zip(states, reuse, strict=True) if m)  # [layers, 2, kv_heads, len, head_dim]
        kv = kv0.new_zeros((*kv0.shape[:2], len(prompt_ids), kv0.shape[2], width, kv0.shape[4]))
        for u, (state, m) in enumerate(zip(states, reuse, strict=True)):
            if m:
                kv[:, :, u, :, width - m :] = state.kv[:, :, :, :m]
        for layer, (k, v) in zip(cache.layers, kv, strict=True):
            layer.update(k, v)
        return {"input_ids": ids, "attention_mask": mask}, cache

    def _encode(self, prompts) -> dict:
        """Left-padded input_ids and attention_mask [U, W] of texts (tokenized here) or token-id lists (as given)."""
        if all(isinstance(p, str) for p in prompts):
            return self.tok(prompts, padding=True, return_tensors="pt", add_special_tokens=self.add_special_tokens)
        width = max(len(p) for p in prompts)
        ids = torch.tensor([[self.tok.pad_token_id] * (width - len(p)) + list(p) for p in prompts], dtype=torch.long)
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], dtype=torch.long)
        return {"input_ids": ids, "attention_mask": mask}

    def _decode(self, ids, attn, expand, cache, max_tokens, temperature, top_p, stop_strings, kept=None):
        """Sample up to `max_tokens` tokens for each row `expand[r]` of the left-padded prompts `ids` [U, N], which
        continue what `cache` holds (`attn` [U, W] masks both: W - N cached columns, then `ids`). Returns (tokens
        [R, max_tokens], log-probs [R, max_tokens], ends: each row's token count). `kept` (a list of R, or None):
        filled with each row's keys and values (`_take`) as it leaves the batch."""
        rows, width = len(expand), attn.shape[1]
        tokens = torch.full((rows, max_tokens), self.tok.pad_token_id, dtype=torch.long, device=ids.device)
        logprobs = torch.zeros((rows, max_tokens), device=ids.device)
        ends = [max_tokens] * rows
        if max_tokens == 0:
            return tokens, logprobs, ends
        pos = (attn.cumsum(-1) - 1).clamp(min=0)
        logits = self.model(input_ids=ids, attention_mask=attn, position_ids=pos[:, width - ids.shape[1] :],
                            past_key_values=cache, use_cache=True, logits_to_keep=1).logits[:, -1]  # fmt: skip
        cache.reorder_cache(expand)
        logits, next_pos = logits[expand], pos[expand, -1] + 1
        attn = torch.cat([attn[expand], attn.new_ones(rows, max_tokens)], dim=1)
        live = torch.arange(rows, device=ids.device)  # the batch's rows (indices into the chunk's rows)
        running = torch.ones(rows, dtype=torch.bool, device=ids.device)  # per batch row: not finished yet
        stop_tail = max((len(s) for s in stop_strings), default=0)  # tokens: each decodes to >= 1 character
        for t in range(max_tokens):
            logp = sampling_logprobs(logits, temperature, top_p)
            new = sample(logp)
            tokens[live, t] = new
            logprobs[live, t] = logp.gather(1, new[:, None])[:, 0]
            stopped = running & (new == self.tok.eos_token_id)
            if stop_tail:
                tails = self.tok.batch_decode(tokens[live, max(0, t + 1 - stop_tail) : t + 1])
                stopped |= running & torch.tensor([any(s in x for s in stop_strings) for x in tails], device=ids.device)
            for r in live[stopped].tolist():
                ends[r] = t + 1
            running &= ~stopped
            if t + 1 == max_tokens or not running.any():
                break
            if (~running).sum() * 4 >= len(running):  # compact: finished rows leave the batch and the cache
                keep = running.nonzero()[:, 0]
                if kept is not None:
                    self._take(cache, attn, live, ~running, ends, width, kept)
                cache.reorder_cache(keep)
                live, running, new, next_pos, attn = live[keep], running[keep], new[keep], next_pos[keep], attn[keep]
            logits = self.model(input_ids=new[:, None], attention_mask=attn[:, : width + t + 1],
                                position_ids=(next_pos + t)[:, None], past_key_values=cache,
                                use_cache=True).logits[:, -1]  # fmt: skip
        if kept is not None:
            self._take(cache, attn, live, torch.ones_like(running), ends, width, kept)
        return tokens, logprobs, ends

    @staticmethod
    def _take(cache, attn, live, leaving, ends, width, kept) -> None:
        """Copy the keys and values of the batch rows `leaving` into `kept[chunk row]` ([layers, 2, kv_heads, tokens,
        head_dim]): the prompt's real columns, then the response's tokens but the last (never fed to the model)."""
        rows = leaving.nonzero()[:, 0]
        if not len(rows):
            return
        length = cache.layers[0].keys.shape[2]
        if any(layer.keys.shape != cache.layers[0].keys.shape for layer in cache.layers):
            return  # layers of different shapes (no model rlvr builds): no state, the next turn prefills
        kv = torch.stack([torch.stack([layer.keys[rows], layer.values[rows]]) for layer in cache.layers])
        chunk_rows = live[rows].tolist()
        valid = attn[rows, :length].bool()  # the prompt's real columns and every fed response token ...
        n = torch.tensor([ends[r] - 1 for r in chunk_rows], device=attn.device)  # ... of which these are its own
        valid[:, width:] &= torch.arange(length - width, device=attn.device) < n[:, None]
        for i, r in enumerate(chunk_rows):
            kept[r] = kv[:, :, i][:, :, :, valid[i]]

    def _length(self, ids: list[int], stop_strings) -> tuple[int, str]:
        """Response length (through EOS, or through the first stop string) and the finish reason."""
        eos = self.tok.eos_token_id
        end = ids.index(eos) + 1 if eos in ids else len(ids)
        reason = "stop" if eos in ids else "length"
        if stop_strings:
            # the shortest prefix whose text contains a stop string (binary search: containment is monotone)
            def hit(k: int) -> bool:
                text = self.tok.decode(ids[:k], skip_special_tokens=True)
                return any(s in text for s in stop_strings)

            if hit(end):
                lo, hi = 1, end
                while lo < hi:
                    mid = (lo + hi) // 2
                    lo, hi = (lo, mid) if hit(mid) else (mid + 1, hi)
                return lo, "stop"
        return end, reason
