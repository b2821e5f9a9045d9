"""Training batches and the trainer's forward: `make_batch`'s layout, and prompt-prefix sharing in
`response_logprobs` (rows with the same prompt share its forward) against one plain forward over the whole rows."""

from __future__ import annotations

import pytest
import torch

from rlvr.trainer import model as model_mod
from rlvr.trainer.config import ModelConfig
from rlvr.trainer.model import build_model, make_batch, response_logprobs

A, B, C = [5, 3, 4, 2], [3, 3], [4, 2, 5, 5, 3, 4, 2]  # prompts of different lengths (token ids < 6)
# rows out of order, a group of 3, a prompt of its own, empty and one-token responses, the longest response
ROWS = [
    (A, [3, 4, 3, 1]), (B, [5]), (A, []), (C, [2, 2, 3, 3, 4, 5, 2, 1]), (A, [4, 4, 4, 4, 4, 4]), (C, [3, 1]),
]  # fmt: skip


@pytest.fixture(scope="module")
def tiny(sharpen):
    """float64 (transformers' RMSNorm still computes in float32: gradients agree to ~1e-5 relative, not 1e-12)."""
    model, _ = build_model(ModelConfig(max_position_tokens=64, num_layers=2))
    return sharpen(model).double()


def test_make_batch_layout():
    batch = make_batch([[7, 8], [9]], [[1, 2, 3], []], pad_id=0)
    assert batch.input_ids.tolist() == [[7, 8, 1, 2, 3], [9, 0, 0, 0, 0]]
    assert batch.attention_mask.tolist() == [[1, 1, 1, 1, 1], [1, 0, 0, 0, 0]]
    assert batch.targets.tolist() == [[-100, 1, 2, 3], [-100, -100, -100, -100]]


def test_shared_prompts_give_the_plain_forwards_values_and_gradients(tiny, monkeypatch):
    batch = make_batch([p for p, _ in ROWS], [r for _, r in ROWS], pad_id=0)
    calls = []
    real = tiny.base_model.forward
    monkeypatch.setattr(tiny.base_model, "forward", lambda **kw: (calls.append(kw["input_ids"].shape), real(**kw))[1])
    gen = torch.Generator().manual_seed(0)
    w_logp, w_ent = (torch.randn(batch.targets.shape, generator=gen, dtype=torch.float64) for _ in range(2))
    results = []
    for share in (True, False):
        tiny.zero_grad()
        logp, ent = response_logprobs(tiny, batch, 0.8, share_prompts=share)
        ((w_logp * logp).sum() + (w_ent * ent).sum()).backward()
        results.append((logp.detach(), ent.detach(), [p.grad.clone() for p in tiny.parameters()]))
    # shared: the 3 distinct prompts once (7 tokens wide), then the 6 rows' response inputs (7 = 8 - 1 wide)
    assert calls == [(3, 7), (6, 7), (6, 15)]
    (logp, ent, grads), (logp0, ent0, grads0) = results
    assert (logp != 0).sum() == sum(len(r) for _, r in ROWS)
    torch.testing.assert_close(logp, logp0, atol=1e-12, rtol=0)
    torch.testing.assert_close(ent, ent0, atol=1e-12, rtol=0)
    for g, g0 in zip(grads, grads0, strict=True):
        torch.testing.assert_close(g, g0, atol=1e-4, rtol=1e-4)  # gradients are O(10)


def test_plain_forward_when_nothing_is_shared_or_no_cache_is_possible(tiny):
    distinct = make_batch([A, B, C], [[3, 4], [5], [2, 1]], pad_id=0)
    assert model_mod.shared_prompt_hidden(tiny, distinct) is None
    shared = make_batch([A, A], [[3, 4], [5]], pad_id=0)
    assert model_mod.shared_prompt_hidden(tiny, shared) is not None
    packed = model_mod.TokenBatch(shared.input_ids, None, shared.targets, torch.arange(6).expand(2, 6))
    assert model_mod.shared_prompt_hidden(tiny, packed) is None
    tiny.gradient_checkpointing_enable()
    try:
        tiny.train()
        assert model_mod.shared_prompt_hidden(tiny, shared) is None  # no KV cache under gradient checkpointing
        with torch.no_grad():
            assert model_mod.shared_prompt_hidden(tiny, shared) is not None  # (scoring: no backward, no recompute)
    finally:
        tiny.gradient_checkpointing_disable()
        tiny.eval()
