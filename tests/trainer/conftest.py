from __future__ import annotations

import pytest
import torch

from rlvr.verifiers.parity import ParityVerifier

P, G, T_MAX = 4, 4, 6  # make_trainer's defaults: prompts per step, samples per prompt, response tokens


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


def _arch_model(arch: str, vocab_size: int, eos_id: int, layers: int = 2):
    """A tiny transformers model, 32 wide: llama, qwen2 (grouped-query attention, attention dropout 0.1) or gpt2
    (absolute positions, dropout 0.1 everywhere)."""
    import transformers

    common = {"vocab_size": vocab_size, "pad_token_id": 0, "eos_token_id": eos_id}
    attention = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": layers, "num_attention_heads": 2}
    config = {
        "llama": lambda: transformers.LlamaConfig(**attention, **common, bos_token_id=None),
        "qwen2": lambda: transformers.Qwen2Config(**attention, **common, bos_token_id=None, num_key_value_heads=1,
                                                  attention_dropout=0.1),
        "gpt2": lambda: transformers.GPT2Config(n_embd=32, n_layer=layers, n_head=2, **common, bos_token_id=eos_id),
    }[arch]()  # fmt: skip
    return transformers.AutoModelForCausalLM.from_config(config)


@pytest.fixture(scope="session")
def arch_model():
    """arch_model(arch, vocab_size, eos_id, layers=2): a tiny llama, qwen2 or gpt2 model built from a config."""
    return _arch_model


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


class FlakyVerifier(ParityVerifier):
    """Fails (an infrastructure error) on responses that start with "1": those samples must be masked."""

    def _verify(self, response, reference):
        if response.startswith("1"):
            raise RuntimeError("worker died")
        return super()._verify(response, reference)


def _make_trainer(overrides=(), env_kwargs=None, perturb_ref=0.0, seed=0, lr=1e-2):
    """A GRPO trainer on 4-bit parity: P prompts x G samples, T_MAX tokens, a sharpened tiny model."""
    from rlvr.trainer.config import load_config
    from rlvr.trainer.evaluate import make_venv
    from rlvr.trainer.grpo import GRPO
    from rlvr.trainer.model import frozen_copy, load_model
    from rlvr.trainer.rollout import make_engine

    cfg = load_config(
        None,
        [
            f"grpo.prompts_per_step={P}", f"grpo.samples_per_prompt={G}", f"rollout.max_response_tokens={T_MAX}",
            "grpo.steps=3", "env.kwargs={n_bits: 4, style: plain}", *overrides,
        ],
    )  # fmt: skip
    torch.manual_seed(seed)
    model, tok = load_model(cfg.model)
    if cfg.model.dtype == "float32":
        _sharpen(model, factor=2.0, seed=seed)
    ref = frozen_copy(model)
    if perturb_ref:
        with torch.no_grad():
            for p in ref.parameters():
                p.add_(torch.randn_like(p) * perturb_ref)
    venv = make_venv(cfg.env.id, env_kwargs or cfg.env.kwargs, cfg.grpo.prompts_per_step, cfg.grpo.samples_per_prompt,
                     step_verdicts=bool(cfg.grpo.step_reward_weight))  # fmt: skip
    engine = make_engine("hf", model, tok)
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    return GRPO(cfg, model, ref, tok, engine, venv, opt, sched)


@pytest.fixture(scope="session")
def flaky_verifier():
    """The FlakyVerifier class: an `error` verdict for every response starting with "1"."""
    return FlakyVerifier


@pytest.fixture
def make_trainer():
    """make_trainer(overrides=(), env_kwargs=None, perturb_ref=0.0, seed=0, lr=1e-2) -> GRPO; closes its envs."""
    made = []

    def factory(*args, **kwargs):
        made.append(_make_trainer(*args, **kwargs))
        return made[-1]

    yield factory
    for trainer in made:
        trainer.venv.close()


def _check_layout(samples, tok, prompts, n, max_tokens):
    """The RolloutEngine contract for `generate(prompts, n, max_response_tokens=max_tokens)`'s samples."""
    assert len(samples) == len(prompts) * n
    for i, s in enumerate(samples):
        assert s.prompt_ids == tok(prompts[i // n]).input_ids  # n samples of prompt i at i*n .. i*n+n-1
        assert len(s.logprobs) == len(s.response_ids) <= max_tokens
        if s.finish_reason == "stop":
            assert s.response_ids[-1] == tok.eos_token_id and tok.eos_token_id not in s.response_ids[:-1]
        else:
            assert s.finish_reason == "length"
            assert len(s.response_ids) == max_tokens and tok.eos_token_id not in s.response_ids
        assert s.text == tok.decode(s.response_ids, skip_special_tokens=True)


@pytest.fixture(scope="session")
def check_layout():
    """check_layout(samples, tok, prompts, n, max_tokens): asserts the engine contract (layout, EOS, text)."""
    return _check_layout
