"""`rlvr.integrations.trl.reward_function` inside a real TRL `GRPOTrainer` run (CPU, a tiny Llama from a config)."""

from __future__ import annotations

import json

import gymnasium as gym
import pytest

import rlvr  # noqa: F401 - registers the ids
from rlvr.integrations.common import encode_reference
from rlvr.integrations.trl import reward_function
from rlvr.verifiers import get_verifier


def parity_rows(n: int) -> list[dict]:
    env = gym.make("rlvr/Parity-v0", n_bits=4, style="plain")
    rows = []
    for seed in range(n):
        prompt, info = env.reset(seed=seed)
        rows.append({"prompt": prompt, "reference": encode_reference(info["reference"])})
    return rows


def tiny_llama_and_tokenizer():
    """A character tokenizer over "01=" (a fixed vocabulary, made in-process) and a 2-layer Llama from a config."""
    import torch
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<unk>": 1, "0": 2, "1": 3, "=": 4, "<eos>": 5}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    core.decoder = decoders.Fuse()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>", padding_side="left",
        clean_up_tokenization_spaces=False,
    )  # fmt: skip
    config = LlamaConfig(
        vocab_size=len(vocab), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=2, head_dim=32, max_position_embeddings=64, pad_token_id=0, eos_token_id=5,
        bos_token_id=None, tie_word_embeddings=False,
    )  # fmt: skip
    torch.manual_seed(0)
    return LlamaForCausalLM(config), tok


@pytest.mark.trl
@pytest.mark.slow
def test_reward_function_in_a_real_grpo_trainer_run(tmp_path):
    import datasets
    from trl import GRPOConfig, GRPOTrainer

    ours = reward_function("parity")
    calls = []

    def recorded(prompts, completions, **columns):  # what TRL passed, and what ours answered
        rewards = ours(prompts=prompts, completions=completions, **columns)
        calls.append((list(completions), list(columns["reference"]), rewards))
        return rewards

    recorded.__name__ = ours.__name__
    model, tok = tiny_llama_and_tokenizer()
    config = GRPOConfig(
        output_dir=str(tmp_path), per_device_train_batch_size=8, gradient_accumulation_steps=1, num_generations=4,
        max_completion_length=4, temperature=1.0, top_k=0, top_p=1.0, beta=0.0, learning_rate=1e-3, max_steps=2,
        use_cpu=True, bf16=False, report_to="none", save_strategy="no", disable_tqdm=True, logging_steps=1, seed=0,
    )  # fmt: skip
    trainer = GRPOTrainer(
        model=model, reward_funcs=[recorded], args=config, processing_class=tok,
        train_dataset=datasets.Dataset.from_list(parity_rows(16)),
    )  # fmt: skip
    trainer.train()

    assert trainer.state.global_step == 2
    assert len(calls) >= 2
    verifier = get_verifier("parity")
    seen = set()
    for completions, references, rewards in calls:
        assert len(rewards) == len(completions) == len(references)
        expected = [verifier.verify(c, json.loads(r)) for c, r in zip(completions, references, strict=True)]
        assert rewards == [v.reward for v in expected]
        seen |= {v.status for v in expected}
    assert "correct" in seen and seen - {"correct"}, f"the run should see both right and wrong answers: {seen}"
    key = f"rewards/{ours.__name__}/mean"
    logged = [h[key] for h in trainer.state.log_history if key in h]
    assert logged == pytest.approx([sum(r) / len(r) for _, _, r in calls])  # TRL trained on what ours returned


def test_reward_function_reads_text_json_and_chat_completions():
    reward = reward_function("math")
    assert reward.__name__ == "rlvr_math"
    out = reward(
        prompts=["p"] * 4,
        completions=[r"\boxed{1/2}", "no idea", [{"role": "assistant", "content": r"\boxed{0.5}"}], r"\boxed{3}"],
        reference=["1/2", "1/2", "0.5", "4"],
        trainer_state=None,
    )
    assert out == [1.0, 0.0, 1.0, 0.0]

    sudoku = gym.make("rlvr/Sudoku-v0")
    _, info = sudoku.reset(seed=0)
    puzzle_reward = reward_function("puzzle/sudoku", reference_column="ground_truth")
    good = sudoku.unwrapped.reference_response()
    text, struct = encode_reference(info["reference"]), info["reference"]
    assert puzzle_reward(prompts=["p", "p"], completions=[good, good], ground_truth=[text, struct]) == [1.0, 1.0]


def test_reward_function_errors_name_the_column_and_masks_infrastructure_errors():
    with pytest.raises(ValueError, match="no 'answer' column.*'reference'"):
        reward_function("math", reference_column="answer")(prompts=["p"], completions=["x"], reference=["1"])
    with pytest.raises(ValueError, match="unknown verifier 'nope'"):
        reward_function("nope")

    from rlvr.verifiers import Verifier

    class Broken(Verifier):
        name = "broken"

        def _verify(self, response, reference):
            raise RuntimeError("sandbox down")

    assert reward_function(Broken())(prompts=["p"], completions=["x"], reference=["1"]) == [None]
