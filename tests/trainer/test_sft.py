"""SFT: the loss covers response tokens only (checked by hand from full logits); packing never mixes sequences."""

from __future__ import annotations

import pytest
import torch

from rlvr.trainer.config import ModelConfig
from rlvr.trainer.model import build_model, make_batch, response_logprobs
from rlvr.trainer.sft import cosine_lr, pack_batch, sft_loss, tokenize

# (prompt ids, response ids + EOS) with the character tokenizer: "0"=3, "1"=4, "="=5, EOS=1
EXAMPLES = [([3, 4, 5], [4, 1]), ([4, 4, 3, 5], [3, 3, 4, 1]), ([3, 5], [1])]


def test_tokenize_appends_eos_and_keeps_the_prompt_apart():
    _, tok = build_model(ModelConfig())
    out = tokenize([{"prompt": "01=", "response": "1"}], tok, chat_template=False)
    assert out == [([3, 4, 5], [4, tok.eos_token_id])]


def test_pack_batch_targets_are_the_response_tokens_only():
    batch = pack_batch(EXAMPLES, row_tokens=100, pad_id=0)
    assert batch.input_ids.tolist() == [[3, 4, 5, 4, 1, 4, 4, 3, 5, 3, 3, 4, 1, 3, 5, 1]]
    assert batch.position_ids.tolist() == [[0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2]]
    x = -100
    assert batch.targets.tolist() == [[x, x, 4, 1, x, x, x, x, 3, 3, 4, 1, x, x, 1]]
    rows = pack_batch(EXAMPLES, row_tokens=11, pad_id=0)  # 5 + 8 > 11: a new row; 8 + 3 fits
    assert rows.input_ids.shape == (2, 11)
    assert rows.position_ids.tolist() == [[0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 5], [0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2]]
    assert rows.input_ids[0, 5:].tolist() == [0] * 6 and (rows.targets[0, 4:] == -100).all()


def test_sft_loss_by_hand_from_full_logits():
    torch.manual_seed(0)
    model, _ = build_model(ModelConfig())
    batch = pack_batch(EXAMPLES, row_tokens=100, pad_id=0)
    loss, n = sft_loss(model, batch)
    assert n == 7
    # by hand: each example alone, logits of the full vocabulary, -log p of its response tokens only
    total, count = 0.0, 0
    for prompt, response in EXAMPLES:
        ids = torch.tensor([prompt + response])
        logits = model(input_ids=ids).logits[0].double()
        logsm = torch.log_softmax(logits, dim=-1)
        for k, token in enumerate(response):
            total -= logsm[len(prompt) - 1 + k, token].item()  # position p-1+k predicts response token k
            count += 1
    assert count == n
    assert abs(loss.item() - total / count) < 1e-5


def test_packed_rows_equal_separate_sequences():
    torch.manual_seed(1)
    model, _ = build_model(ModelConfig())
    packed = pack_batch(EXAMPLES, row_tokens=100, pad_id=0)
    padded = make_batch([p for p, _ in EXAMPLES], [r for _, r in EXAMPLES], pad_id=0)
    with torch.no_grad():
        a, _ = response_logprobs(model, packed)
        b, _ = response_logprobs(model, padded)
    torch.testing.assert_close(a[packed.targets != -100], b[padded.targets != -100], atol=1e-5, rtol=0)


def test_cosine_schedule():
    assert cosine_lr(0, 10, 100) == 0.1 and cosine_lr(9, 10, 100) == 1.0
    assert cosine_lr(10, 10, 100) == 1.0 and abs(cosine_lr(55, 10, 100) - 0.5) < 1e-9 and cosine_lr(100, 10, 100) == 0.0


def _sft_config(path, *extra):
    from rlvr.trainer.config import load_config

    return load_config(None, [f"sft.dataset={path}", "sft.steps=1", *extra])


def test_an_empty_sft_dataset_is_refused(tmp_path):
    """It used to load as no demonstrations, and run_sft then waited forever for a step's sequences."""
    from rlvr.trainer.sft import load_demonstrations

    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(ValueError, match=r"sft.dataset .*empty.jsonl: no demonstrations to train on"):
        load_demonstrations(_sft_config(tmp_path / "empty.jsonl"), env=None)


@pytest.mark.parametrize(
    "line, match",
    [
        ('{"prompt": null, "response": "1"}', r"demos.jsonl:2: 'prompt' must be a string, got nothing"),  # was "None"
        ('{"prompt": "01=", "response": ["1"]}', r"demos.jsonl:2: 'response' must be a string, got list"),
        ('["01=", "1"]', r"demos.jsonl:2: each line must be a JSON object"),
        ('{"prompt": "01=", "response": "1"', r"demos.jsonl:2: not valid JSON"),
    ],
)
def test_sft_dataset_lines_are_checked_naming_the_line(tmp_path, line, match):
    from rlvr.trainer.sft import load_demonstrations

    path = tmp_path / "demos.jsonl"
    path.write_text('{"prompt": "01=", "response": 1}\n' + line + "\n")
    with pytest.raises(ValueError, match=match):
        load_demonstrations(_sft_config(path), env=None)
    path.write_text('{"prompt": "01=", "response": 1}\n')
    assert load_demonstrations(_sft_config(path), env=None) == [{"prompt": "01=", "response": "1"}]


def test_sft_characters_a_built_model_cannot_read_are_refused(tmp_path):
    """A built model's character tokenizer reads a character outside model.vocab_chars as <unk>."""
    from rlvr.trainer.sft import load_demonstrations

    path = tmp_path / "demos.jsonl"
    path.write_text('{"prompt": "0 1 =", "response": "yes"}\n')
    with pytest.raises(ValueError, match=r"model.vocab_chars '01=' lacks characters that sft.dataset .* use: ' esy'"):
        load_demonstrations(_sft_config(path), env=None)
    assert load_demonstrations(_sft_config(path, "model.vocab_chars=01= yes"), env=None)
