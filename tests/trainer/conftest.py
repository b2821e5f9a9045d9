from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models: one thread is fastest, and robust on a shared 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _sharpen(model, factor: float = 3.0, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.02).mul_(factor)
    return model


@pytest.fixture(scope="session")
def sharpen():
    """sharpen(model): scale a random model's weights so its next-token distributions are far from uniform."""
    return _sharpen


def _sampler_and_trainer_logprobs(model, tok, samples, temperature):
    """(the engine's sampling log-probs, the trainer's log-probs of the same tokens at `temperature`), flattened."""
    from rlvr.trainer.model import make_batch, response_logprobs

    batch = make_batch([s.prompt_ids for s in samples], [s.response_ids for s in samples], tok.pad_token_id)
    with torch.no_grad():
        logp, _ = response_logprobs(model, batch, temperature)
    sampled = torch.cat([torch.tensor(s.logprobs) for s in samples])
    return sampled, logp[batch.targets != -100]


@pytest.fixture(scope="session")
def sampler_vs_trainer():
    """sampler_vs_trainer(model, tok, samples, temperature) -> (sampled log-probs, recomputed log-probs)."""
    return _sampler_and_trainer_logprobs
