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

Why not `model.generate`: per token it builds logits processors, stopping criteria and cache bookkeeping for the
general case, and it prefills every row (G times the prompt work in GRPO). On the benchmark's tiny model
(benchmarks/trainer.py) this loop takes about 2/3 of generate's time.

Because the engine samples from the trainer's model, `sync_weights` is a no-op. Generation runs under
`torch.inference_mode`: it returns plain Python lists, so no inference tensor reaches autograd. The RNG is torch's
global generator of the model's device (seeded by the trainer). Not handled: beam search, repetition penalties
and other generation options (the model's own generation_config is ignored); encoder-decoder models.
"""

from __future__ import annotations

import torch
from transformers.cache_utils import DynamicCache, DynamicLayer

from rlvr.trainer.rollout import RolloutEngine, Sample


def sampling_logprobs(logits: torch.Tensor, temperature: float, top_p: float) -> torch.Tensor:
    """log-softmax [rows, V] of the distribution sampled from: logits / temperature, then the smallest set of
    tokens whose probability reaches top_p (the rest -inf). No division at temperature 1 (x / 1 is x: one pass over
    [rows, V] saved, a third of this function's time at V = 151,936)."""
    scores = logits.float() if temperature == 1.0 else logits.float() / temperature
    if top_p < 1.0:
        sorted_scores, order = scores.sort(dim=-1, descending=True)
        probs = sorted_scores.softmax(dim=-1)
        drop = probs.cumsum(dim=-1) - probs >= top_p  # keep the smallest prefix reaching top_p
        scores = scores.masked_fill(drop.scatter(1, order, drop), float("-inf"))
    return torch.log_softmax(scores, dim=-1)


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

    @torch.inference_mode()  # not just no_grad: no version counters or view tracking (~15% less CPU on small models)
    def generate(self, prompts, n, *, temperature=1.0, top_p=1.0, max_response_tokens=256, stop_strings=()):
        rows = [i for i in range(len(prompts)) for _ in range(n)]
        was_training = self.model.training
        self.model.eval()
        try:
            out: list[Sample] = []
            for start in range(0, len(rows), self.max_batch_sequences):
                chunk = rows[start : start + self.max_batch_sequences]
                out += self._generate_chunk(prompts, chunk, temperature, top_p, max_response_tokens, stop_strings)
        finally:
            self.model.train(was_training)
        return out

    def _generate_chunk(self, prompts, rows, temperature, top_p, max_tokens, stop_strings) -> list[Sample]:
        distinct = {i: k for k, i in enumerate(dict.fromkeys(rows))}  # prompt index -> its row in the prefill
        expand = [distinct[i] for i in rows]
        device = next(self.model.parameters()).device
        enc = self._encode([prompts[i] for i in distinct])
        masks = enc["attention_mask"].bool()
        prompt_ids = [ids[mask].tolist() for ids, mask in zip(enc["input_ids"], masks, strict=True)]
        tokens, logprobs, ends = self._decode(
            enc["input_ids"].to(device), enc["attention_mask"].to(device), torch.tensor(expand, device=device),
            max_tokens, temperature, top_p, stop_strings,
        )  # fmt: skip
        tokens = [t[:end] for t, end in zip(tokens.tolist(), ends, strict=True)]
        cuts = [self._length(t, stop_strings) for t in tokens]
        texts = self.tok.batch_decode([t[:n] for t, (n, _) in zip(tokens, cuts, strict=True)], skip_special_tokens=True)
        return [
            Sample(prompt_ids[p], t[:n], text, lp[:n], reason)
            for p, t, lp, (n, reason), text in zip(expand, tokens, logprobs.tolist(), cuts, texts, strict=True)
        ]

    def _encode(self, prompts) -> dict:
        """Left-padded input_ids and attention_mask [U, W] of texts (tokenized here) or token-id lists (as given)."""
        if all(isinstance(p, str) for p in prompts):
            return self.tok(prompts, padding=True, return_tensors="pt", add_special_tokens=self.add_special_tokens)
        width = max(len(p) for p in prompts)
        ids = torch.tensor([[self.tok.pad_token_id] * (width - len(p)) + list(p) for p in prompts], dtype=torch.long)
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], dtype=torch.long)
        return {"input_ids": ids, "attention_mask": mask}

    def _decode(self, ids, attn, expand, max_tokens, temperature, top_p, stop_strings):
        """Sample up to `max_tokens` tokens for each row `expand[r]` of the left-padded prompts `ids` [U, W].
        Returns (tokens [R, max_tokens], log-probs [R, max_tokens], ends: each row's token count)."""
        rows, width = len(expand), ids.shape[1]
        tokens = torch.full((rows, max_tokens), self.tok.pad_token_id, dtype=torch.long, device=ids.device)
        logprobs = torch.zeros((rows, max_tokens), device=ids.device)
        ends = [max_tokens] * rows
        if max_tokens == 0:
            return tokens, logprobs, ends
        cache = kv_cache(self.model, width + max_tokens)
        pos = (attn.cumsum(-1) - 1).clamp(min=0)
        logits = self.model(input_ids=ids, attention_mask=attn, position_ids=pos, past_key_values=cache,
                            use_cache=True, logits_to_keep=1).logits[:, -1]  # fmt: skip
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
                cache.reorder_cache(keep)
                live, running, new, next_pos, attn = live[keep], running[keep], new[keep], next_pos[keep], attn[keep]
            logits = self.model(input_ids=new[:, None], attention_mask=attn[:, : width + t + 1],
                                position_ids=(next_pos + t)[:, None], past_key_values=cache,
                                use_cache=True).logits[:, -1]  # fmt: skip
        return tokens, logprobs, ends

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
