"""The policy: a Hugging Face causal LM and its tokenizer, loaded from a local directory or built from the config.

    model, tok = load_model(cfg.model, device)               # never touches a hub
    prompt_text = format_prompt(tok, prompt, cfg.model.chat_template)
    logp, entropy = response_logprobs(model, batch, temperature)   # via fused_logprobs, no [N, V] logits

A built model is a tiny `LlamaConfig` model with a character-level tokenizer made in-process (a `tokenizers`
WordLevel model over `vocab_chars`, each character one token, wrapped in `PreTrainedTokenizerFast` with
`<pad>` and `<eos>`). Characters outside `vocab_chars` become `<unk>`.

`response_logprobs` needs the model's final hidden states (`model.base_model(...)`) and its `lm_head.weight`;
models that post-process logits (soft-capping, logit scales, an lm_head bias) are not handled.
"""

from __future__ import annotations

import dataclasses
import os

import torch

from rlvr.trainer.config import ModelConfig

PAD, EOS, UNK = "<pad>", "<eos>", "<unk>"


def char_tokenizer(chars: str):
    """A character-level `PreTrainedTokenizerFast`: ids 0..2 are <pad>, <eos>, <unk>, then one id per character."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {PAD: 0, EOS: 1, UNK: 2, **{c: i + 3 for i, c in enumerate(chars)}}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    core.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    core.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token=PAD,
        eos_token=EOS,
        unk_token=UNK,
        padding_side="left",
        clean_up_tokenization_spaces=False,
    )


def build_model(cfg: ModelConfig):
    """A randomly initialised tiny Llama (seeded by `cfg.init_seed`) and its character tokenizer."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = char_tokenizer(cfg.vocab_chars)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads,
        num_key_value_heads=cfg.num_heads,
        head_dim=cfg.head_dim,
        max_position_embeddings=cfg.max_position_tokens,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        bos_token_id=None,
        tie_word_embeddings=False,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.init_seed)
        model = LlamaForCausalLM(config)
    return model, tok


def load_model(cfg: ModelConfig, device: str | torch.device = "cpu"):
    """(model, tokenizer) from `cfg.path` (a local directory) or built from `cfg`; cast to `cfg.dtype`."""
    if cfg.path:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if not os.path.isdir(cfg.path):
            raise ValueError(f"model.path {cfg.path!r} is not a directory (rlvr loads local models only)")
        tok = AutoTokenizer.from_pretrained(cfg.path)
        model = AutoModelForCausalLM.from_pretrained(cfg.path, dtype=getattr(torch, cfg.dtype))
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        tok.padding_side = "left"
    else:
        model, tok = build_model(cfg)
    model.to(device=device, dtype=getattr(torch, cfg.dtype))
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.config.use_cache = False
    if cfg.chat_template and not tok.chat_template:
        raise ValueError("model.chat_template is true but the tokenizer has no chat template")
    return model, tok


def format_prompt(tok, prompt: str, chat_template: bool) -> str:
    """The text the model sees: the prompt as a user turn of the chat template, or the raw prompt."""
    if not chat_template:
        return prompt
    return tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)


def frozen_copy(model):
    """A frozen copy of `model` in eval mode (the reference policy)."""
    import copy

    ref = copy.deepcopy(model)
    ref.eval()
    ref.requires_grad_(False)
    return ref


@dataclasses.dataclass
class TokenBatch:
    """Right-padded prompt+response sequences. input_ids, attention_mask: [B, L]; targets [B, L-1] holds the next
    token where it is a response token and -100 elsewhere, so position j of the hidden states predicts targets[:, j].

    Packed rows (several sequences in one row, see `sft.pack_batch`) have attention_mask None and position_ids
    [B, L] that restart at 0 for every sequence: transformers then builds a block-diagonal causal mask from them.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor | None
    targets: torch.Tensor
    position_ids: torch.Tensor | None = None

    @property
    def response_mask(self) -> torch.Tensor:
        return (self.targets != -100).float()

    def _map(self, fn) -> TokenBatch:
        parts = (self.input_ids, self.attention_mask, self.targets, self.position_ids)
        return TokenBatch(*(None if t is None else fn(t) for t in parts))

    def to(self, device) -> TokenBatch:
        return self._map(lambda t: t.to(device))

    def rows(self, index) -> TokenBatch:
        return self._map(lambda t: t[index])


def make_batch(prompt_ids: list[list[int]], response_ids: list[list[int]], pad_id: int) -> TokenBatch:
    """Concatenate each prompt with its response and right-pad; only response tokens are targets."""
    seqs = [p + r for p, r in zip(prompt_ids, response_ids, strict=True)]
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    attn = torch.zeros((len(seqs), width), dtype=torch.long)
    targets = torch.full((len(seqs), width - 1), -100, dtype=torch.long)
    for i, (p, s) in enumerate(zip(prompt_ids, seqs, strict=True)):
        ids[i, : len(s)] = torch.tensor(s)
        attn[i, : len(s)] = 1
        if len(s) > len(p):
            targets[i, len(p) - 1 : len(s) - 1] = torch.tensor(s[len(p) :])
    return TokenBatch(ids, attn, targets)


def response_logprobs(model, batch: TokenBatch, temperature: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """log π(target | prefix) at `temperature` and the entropy of that softmax, [B, L-1] each (0 off-target).

    Runs the transformer body for the final hidden states h [B, L, H] and scores only the target positions
    with `fused_logprobs(h[sel], lm_head.weight, targets[sel], temperature)`, so the [B*L, V] logits are never
    materialised. Differentiable when called with grad enabled.
    """
    from rlvr.trainer.kernels import fused_logprobs

    out = model.base_model(
        input_ids=batch.input_ids, attention_mask=batch.attention_mask, position_ids=batch.position_ids, use_cache=False
    )
    hidden = out.last_hidden_state[:, :-1]
    sel = batch.targets != -100
    weight = model.get_output_embeddings().weight
    logp_sel, ent_sel = fused_logprobs(hidden[sel], weight, batch.targets[sel], temperature=temperature)
    logp = torch.zeros(batch.targets.shape, dtype=logp_sel.dtype, device=logp_sel.device)
    ent = torch.zeros_like(logp)
    return logp.masked_scatter(sel, logp_sel), ent.masked_scatter(sel, ent_sel)
