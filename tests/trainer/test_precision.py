"""model.dtype is the compute dtype: float32 master weights and optimiser state, bf16 matmuls under autocast."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from rlvr.trainer.config import load_config
from rlvr.trainer.model import compute_precision, load_model
from rlvr.trainer.run import train


def _changed_share(tmp_path, dtype: str) -> float:
    """Share of parameter elements that 3 GRPO steps at lr 2e-6 (configs/prorl-1.5b.yaml's) changed."""
    cfg = load_config(None, [
        "grpo.steps=3", "grpo.prompts_per_step=4", "grpo.samples_per_prompt=4", "rollout.max_response_tokens=8",
        "env.kwargs={n_bits: 4, style: plain}", "optim.lr=2e-6", f"model.dtype={dtype}", "eval.prompts=2",
        "eval.samples_per_prompt=2", f"logging.run_dir={tmp_path / dtype}", "logging.progress=false",
        "logging.tensorboard=false", "runtime.device=cpu",
    ])  # fmt: skip
    train(cfg)
    initial, _ = load_model(cfg.model)
    final = load_file(str(tmp_path / dtype / "checkpoints" / "step_3" / "model.safetensors"))
    changed = sum((final[n] != p.detach()).sum().item() for n, p in initial.named_parameters())
    assert all(t.dtype == torch.float32 for t in final.values()), "checkpoints hold the fp32 master weights"
    return changed / sum(p.numel() for p in initial.parameters())


@pytest.mark.slow
def test_bf16_training_keeps_small_updates(tmp_path):
    fp32 = _changed_share(tmp_path, "float32")
    bf16 = _changed_share(tmp_path, "bfloat16")
    assert fp32 > 0.99
    assert bf16 > fp32 - 0.03, f"bf16 changed {bf16:.3f} of the elements, fp32 {fp32:.3f}: updates rounded away"


def test_bf16_computes_in_bf16_on_fp32_weights():
    cfg = load_config(None, ["model.dtype=bfloat16"])
    model, _ = load_model(cfg.model)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    ids = torch.tensor([[3, 4, 5]])
    with compute_precision(cfg.model.dtype, "cpu"):
        assert model(ids).logits.dtype == torch.bfloat16
    assert model(ids).logits.dtype == torch.float32


def test_bf16_forwards_see_the_updated_weights():
    """run.py holds one compute_precision context for the whole run: a forward after an optimiser step must use the
    updated weights, not autocast's bf16 copies cached at the first forward (they were, and bf16 runs learnt ~nothing:
    examples/reverse.yaml ended at 0.000 accuracy where fp32 reaches 0.4 after SFT)."""
    cfg = load_config(None, ["model.dtype=bfloat16"])
    model, _ = load_model(cfg.model)
    ids = torch.tensor([[3, 4, 5, 3]])
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    with compute_precision(cfg.model.dtype, "cpu"):
        model(ids).logits.float().pow(2).mean().backward()
        opt.step()
        after_step = model(ids).logits
    with compute_precision(cfg.model.dtype, "cpu"):  # a fresh context casts the current weights
        fresh = model(ids).logits
    torch.testing.assert_close(after_step, fresh, rtol=0, atol=0)


def test_models_that_transform_logits_are_refused():
    import transformers

    from rlvr.trainer.model import check_supported

    common = {"vocab_size": 16, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
              "num_attention_heads": 2}  # fmt: skip
    check_supported(transformers.AutoModelForCausalLM.from_config(transformers.LlamaConfig(**common)))
    gemma = transformers.Gemma2Config(**common, head_dim=16, final_logit_softcapping=30.0)
    with pytest.raises(ValueError, match="final_logit_softcapping=30.0"):
        check_supported(transformers.AutoModelForCausalLM.from_config(gemma))
    granite = transformers.GraniteConfig(**common, logits_scaling=8.0)
    with pytest.raises(ValueError, match="logits_scaling=8.0"):
        check_supported(transformers.AutoModelForCausalLM.from_config(granite))
    llama = transformers.AutoModelForCausalLM.from_config(transformers.LlamaConfig(**common))
    llama.lm_head = torch.nn.Linear(32, 16, bias=True)
    with pytest.raises(ValueError, match="lm_head bias"):
        check_supported(llama)
