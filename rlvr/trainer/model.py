"""The policy: a Hugging Face causal LM and its tokenizer, loaded from a local directory or built from the config.

    model, tok = load_model(cfg.model, device)               # never touches a hub
    prompt_text = format_prompt(tok, prompt, cfg.model.chat_template)
    logp, entropy = response_logprobs(model, batch, temperature)   # via fused_logprobs, no [N, V] logits

A built model is a tiny `LlamaConfig` model with a character-level tokenizer made in-process (a `tokenizers`
WordLevel model over `vocab_chars`, each character one token, wrapped in `PreTrainedTokenizerFast` with
`<pad>` and `<eos>`). Characters outside `vocab_chars` become `<unk>`.

`model.dtype` is the *compute* dtype. The weights the optimiser steps (and its state) are always float32: with
`bfloat16`, forwards run under `torch.autocast` (`compute_precision`), so matmuls are bf16 while every update lands on
the fp32 master weights (stepping bf16 weights with AdamW at lr ~1e-6 rounds most updates away).

`response_logprobs` needs the model's final hidden states (`model.base_model(...)`) and its `lm_head.weight`;
models that post-process logits (soft-capping, logit scales, an lm_head bias) are refused by `check_supported`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os

import torch

from rlvr.trainer.config import ModelConfig, OptimConfig

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
    """(model, tokenizer) from `cfg.path` (a local directory) or built from `cfg`, with float32 weights (the master
    copy; `cfg.dtype` is the compute dtype, see `compute_precision`)."""
    if cfg.path:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if not os.path.isdir(cfg.path):
            raise ValueError(f"model.path {cfg.path!r} is not a directory (rlvr loads local models only)")
        tok = AutoTokenizer.from_pretrained(cfg.path)
        model = AutoModelForCausalLM.from_pretrained(cfg.path, dtype=torch.float32)
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        tok.padding_side = "left"
    else:
        model, tok = build_model(cfg)
    check_supported(model)
    model.to(device=device, dtype=torch.float32)
    if not cfg.dropout:
        disable_dropout(model)
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.config.use_cache = False
    if cfg.chat_template and not tok.chat_template:
        raise ValueError("model.chat_template is true but the tokenizer has no chat template")
    return model, tok


# config attributes of transformers models that change the logits after the lm_head matmul (Gemma 2/3, Cohere,
# Granite, Falcon-H1): `fused_logprobs` computes log_softmax(h @ W.T / T) and would score such a model wrongly
_LOGIT_TRANSFORMS = ("final_logit_softcapping", "logit_scale", "logits_scaling", "lm_head_multiplier")


def check_supported(model) -> None:
    """Refuse a model whose logits are not `h @ lm_head.weight.T` (soft-capping, scaling, an lm_head bias): the
    trainer's fused log-probs would silently compute the wrong distribution."""
    cfg = model.config
    found = [f"{a}={getattr(cfg, a)!r}" for a in _LOGIT_TRANSFORMS if getattr(cfg, a, None) not in (None, 1, 1.0)]
    head = model.get_output_embeddings()
    if head is None:
        found.append("no output embedding (lm_head)")
    elif getattr(head, "bias", None) is not None:
        found.append("an lm_head bias")
    if found:
        raise ValueError(
            f"model.path: {type(model).__name__} post-processes its logits ({', '.join(found)}), which the "
            "trainer's fused log-probs (log_softmax(h @ W.T / T)) do not apply; not supported"
        )


def compute_precision(dtype: str, device: torch.device | str):
    """The context every forward of a run executes in: nothing for float32; for bfloat16, `torch.autocast`, so the
    float32 master weights are used in bf16 matmuls (and their gradients flow back in float32).

    Without autocast's weight-cast cache: the context spans the whole run (run.py), and autocast keeps each weight's
    bf16 copy until its outermost context exits, so every forward after the first would use the weights as they were
    at the first one (the optimiser's updates and weight loads unseen by the bf16 matmuls)."""
    if dtype == "float32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=getattr(torch, dtype), cache_enabled=False)


def disable_dropout(model) -> None:
    """No dropout in training mode either: every `nn.Dropout` and the float dropout rates that transformers'
    attention functions read from their modules (`attention_dropout`, `dropout`) set to 0."""
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
        for name in ("attention_dropout", "dropout"):
            if isinstance(getattr(module, name, None), float):
                setattr(module, name, 0.0)


def format_prompt(tok, prompt: str, chat_template: bool) -> str:
    """The text the model sees: the prompt as a user turn of the chat template, or the raw prompt."""
    if not chat_template:
        return prompt
    return tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)


def adamw(params, lr: float, o: OptimConfig) -> torch.optim.AdamW:
    """AdamW with the run's betas and weight decay: torch's fused implementation (one kernel over all parameters;
    a sixth of the foreach-less step on a small CPU model) where it applies, plain tensors on CPU or CUDA."""
    params = list(params)
    fused = all(p.device.type in ("cpu", "cuda") and type(p.data) is torch.Tensor for p in params) or None
    return torch.optim.AdamW(params, lr=lr, betas=(o.beta1, o.beta2), weight_decay=o.weight_decay, fused=fused)


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
    ids = torch.tensor([s + [pad_id] * (width - len(s)) for s in seqs], dtype=torch.long).view(len(seqs), width)
    cols = torch.arange(width)
    lengths = torch.tensor([len(s) for s in seqs])
    attn = (cols < lengths[:, None]).long()
    prompts = torch.tensor([len(p) for p in prompt_ids])
    # column j predicts token j+1: a target where token j+1 is a response token
    is_target = (cols[1:] >= prompts[:, None]) & (cols[1:] < lengths[:, None])
    targets = torch.where(is_target, ids[:, 1:], -100)
    return TokenBatch(ids, attn, targets)


def response_logprobs(
    model, batch: TokenBatch, temperature: float = 1.0, share_prompts: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """log π(target | prefix) at `temperature` and the entropy of that softmax, [B, L-1] each (0 off-target).

    Runs the transformer body for the final hidden states of the target positions and scores them with
    `fused_logprobs(h[sel], lm_head.weight, targets[sel], temperature)`, so the [B*L, V] logits are never
    materialised. With `share_prompts`, rows that share a prompt (a GRPO group) share its forward
    (`shared_prompt_hidden`); otherwise one forward over the whole rows. Differentiable when called with grad enabled.
    """
    from rlvr.trainer.kernels import fused_logprobs

    sel = batch.targets != -100
    hidden = shared_prompt_hidden(model, batch) if share_prompts else None  # [n_targets, H]
    if hidden is None:
        out = model.base_model(
            input_ids=batch.input_ids, attention_mask=batch.attention_mask, position_ids=batch.position_ids,
            use_cache=False,
        )  # fmt: skip
        hidden = out.last_hidden_state[:, :-1][sel]
    weight = model.get_output_embeddings().weight
    # under autocast (model.dtype bfloat16) a body may hand back bf16 states: the log-probs are computed in fp32
    logp_sel, ent_sel = fused_logprobs(hidden.to(weight.dtype), weight, batch.targets[sel], temperature=temperature)
    logp = torch.zeros(batch.targets.shape, dtype=logp_sel.dtype, device=logp_sel.device)
    ent = torch.zeros_like(logp)
    return logp.masked_scatter(sel, logp_sel), ent.masked_scatter(sel, ent_sel)


def shared_prompt_hidden(model, batch: TokenBatch) -> torch.Tensor | None:
    """The final hidden states of `batch`'s target positions, [n_targets, H] in row-major order, with one forward
    per distinct prompt; None when no two rows share a prompt (or for packed rows, or a model training with
    gradient checkpointing, which cannot keep a KV cache).

    The same numbers as one forward over the whole rows (up to float rounding), with the prompt's tokens run once
    per group instead of G times (prompt-prefix sharing: in GRPO every sample of a group repeats the prompt):

        prompts    the U distinct prompts, left-padded [U, Wp], forward with a KV cache: the last position's
                   hidden state predicts response token 0
        expand     the cache to the B rows (`reorder_cache`: a differentiable index_select)
        responses  response tokens 0..r-2 of every row, right-padded [B, Wr-1], attending to their prompt's
                   cached keys/values at positions p.. : their hidden states predict response tokens 1..r-1

    Needs what `make_batch` builds: each row's targets are exactly its response tokens, contiguous after its prompt.
    """
    from transformers.cache_utils import DynamicCache

    if batch.position_ids is not None or batch.attention_mask is None:
        return None
    if model.training and torch.is_grad_enabled() and model.is_gradient_checkpointing:
        return None
    sel = batch.targets != -100
    lengths = batch.attention_mask.sum(dim=1)
    responses = sel.sum(dim=1)
    prompts = lengths - responses  # prompt tokens per row
    first = torch.where(responses > 0, sel.int().argmax(dim=1) + 1, lengths)
    if not torch.equal(first, prompts):  # targets not one contiguous run right after the prompt
        return None
    width, device = int(prompts.max()), batch.input_ids.device
    cols = torch.arange(width, device=device)
    keys = torch.where(cols < prompts[:, None], batch.input_ids[:, :width], -1)
    distinct, expand = torch.unique(keys, dim=0, return_inverse=True)
    if len(distinct) == len(keys):
        return None
    # the distinct prompts, left-padded: prompt u's p tokens in the last p columns
    p_u = (distinct >= 0).sum(dim=1)
    shift = (cols[None, :] - (width - p_u)[:, None]).clamp(min=0)
    ids = distinct.gather(1, shift).clamp(min=0)
    mask = (cols[None, :] >= (width - p_u)[:, None]).long()
    cache = DynamicCache(config=model.config)
    out = model.base_model(input_ids=ids, attention_mask=mask, position_ids=(mask.cumsum(-1) - 1).clamp(min=0),
                           past_key_values=cache, use_cache=True)  # fmt: skip
    hidden = out.last_hidden_state[:, -1][expand][:, None]  # [B, 1, H]: predicts response token 0
    steps = int(responses.max()) - 1  # response tokens that are inputs (all but each row's last)
    if steps > 0:
        cache.reorder_cache(expand)
        k = torch.arange(steps, device=device)
        inputs = batch.input_ids.gather(1, (prompts[:, None] + k).clamp(max=batch.input_ids.shape[1] - 1))
        attn = torch.cat([mask[expand], (k < responses[:, None] - 1).long()], dim=1)
        out = model.base_model(input_ids=inputs, attention_mask=attn, position_ids=prompts[:, None] + k,
                               past_key_values=cache, use_cache=True)  # fmt: skip
        hidden = torch.cat([hidden, out.last_hidden_state], dim=1)  # [B, Wr, H]: column k predicts token k
    return hidden[torch.arange(hidden.shape[1], device=device) < responses[:, None]]
