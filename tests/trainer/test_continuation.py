"""The hf engine continues a multi-turn history from its KV cache: the same tokens and log-probs as a full prefill of
the history, only the new tokens prefilled, a full (or partial) prefill where the history does not extend the
cached tokens, and caches released with the episodes that own them."""

from __future__ import annotations

import gc
import weakref

import pytest
import torch

from rlvr.trainer.config import ModelConfig
from rlvr.trainer.model import build_model
from rlvr.trainer.rollout import make_engine

PROMPTS = ["0110=", "1=", "101101="]
TURNS = 4


@pytest.fixture(scope="module")
def tiny(sharpen):
    model, tok = build_model(ModelConfig(max_position_tokens=256))
    return sharpen(model), tok


def observation(tok, row: int, turn: int) -> list[int]:
    """The env's reply to a row at a turn: 2 to 6 tokens, different across rows (ragged suffixes)."""
    return tok("01" * (1 + (row + turn) % 3), add_special_tokens=False).input_ids


def play(engine, tok, reuse: bool, seed: int = 0, **sampling):
    """TURNS turns from 3 prompts x 3 samples; at turn k the rows with (row + k) % 4 == 0 end, so episodes end at
    different turns and each later turn batches the ones still running. Returns every turn's samples, the number of
    reply tokens added to the histories, and the engine's counts after the first turn."""
    sampling = {"max_response_tokens": 10, **sampling}
    torch.manual_seed(seed)
    samples = engine.generate(PROMPTS, 3, keep_cache=reuse, **sampling)
    first_counts, last = dict(engine.counts), dict(enumerate(samples))
    turns, added = [samples], 0
    for turn in range(1, TURNS):
        rows = [r for r in last if (r + turn) % 4 != 0]
        replies = {r: observation(tok, r, turn) for r in rows}
        histories = [last[r].prompt_ids + last[r].response_ids + replies[r] for r in rows]
        caches = [last[r].cache for r in rows] if reuse else None
        samples = engine.generate(histories, 1, caches=caches, keep_cache=reuse, **sampling)
        last = dict(zip(rows, samples, strict=True))
        added += sum(len(x) for x in replies.values())
        turns.append(samples)
    return turns, added, first_counts


@pytest.mark.parametrize(("arch", "sampling"), [("llama", {}), ("llama", {"top_p": 0.8, "temperature": 1.3}),
                                                ("llama", {"stop_strings": ["0="]}), ("qwen2", {}),
                                                ("gpt2", {})])  # fmt: skip
def test_continued_turns_sample_what_full_prefills_sample(tiny, sharpen, arch_model, arch, sampling):
    """With one seed, every turn's tokens are identical and its log-probs equal (float rounding aside) whether the
    history is continued from the cache or prefilled whole, and the continued run prefilled only each row's reply
    plus its last sampled token (never fed to the model during decoding)."""
    model, tok = tiny
    if arch != "llama":  # grouped-query attention (qwen2, one KV head), absolute positions (gpt2)
        model = sharpen(arch_model(arch, len(tok), tok.eos_token_id).eval())
    engine = make_engine("hf", model, tok, max_batch_sequences=4)  # chunks split the groups and the later turns
    reused, added, first = play(engine, tok, reuse=True, **sampling)
    full, _, _ = play(make_engine("hf", model, tok, max_batch_sequences=4), tok, reuse=False, **sampling)
    assert [len(t) for t in reused] == [9, 7, 5, 3]  # episodes end at different turns
    for a_turn, b_turn in zip(reused, full, strict=True):
        for a, b in zip(a_turn, b_turn, strict=True):
            assert (a.prompt_ids, a.response_ids, a.finish_reason) == (b.prompt_ids, b.response_ids, b.finish_reason)
            torch.testing.assert_close(torch.tensor(a.logprobs), torch.tensor(b.logprobs), atol=1e-5, rtol=0)
    assert sum(len(s.response_ids) for t in reused[1:] for s in t) > 60
    continued = sum(len(t) for t in reused[1:])
    prefilled = engine.counts["prefill_tokens"] - first["prefill_tokens"]
    assert prefilled + engine.counts["reused_tokens"] == sum(len(s.prompt_ids) for t in reused[1:] for s in t)
    if "stop_strings" in sampling:  # a stop string matched across a skipped special token cuts the response before
        assert prefilled <= added + continued  # the decode loop stopped: the cache may hold more than the response
    else:
        assert prefilled == added + continued


def continue_with(engine, history, state, seed=1):
    torch.manual_seed(seed)
    before = dict(engine.counts)
    (s,) = engine.generate([history], 1, max_response_tokens=8, caches=[state])
    return s, {k: engine.counts[k] - before[k] for k in before}


def test_a_wrong_cache_would_show(tiny):
    """The comparison above can fail: a state whose keys are perturbed changes the continued log-probs."""
    model, tok = tiny
    engine = make_engine("hf", model, tok)
    torch.manual_seed(0)
    (first,) = engine.generate(PROMPTS[:1], 1, max_response_tokens=8, keep_cache=True)
    history = first.prompt_ids + first.response_ids + observation(tok, 0, 1)
    right, _ = continue_with(engine, history, first.cache)
    with torch.inference_mode():
        first.cache.kv[0, 0].add_(0.1)
    wrong, _ = continue_with(engine, history, first.cache)
    assert (
        wrong.response_ids != right.response_ids
        or max(abs(a - b) for a, b in zip(wrong.logprobs, right.logprobs, strict=True)) > 1e-3
    )


def test_histories_that_do_not_extend_the_cache_fall_back(tiny):
    """Token ids decide: a history that differs from the cached tokens at position p reuses the first p (0: a full
    prefill), and samples what a full prefill samples; stale or foreign states are not used."""
    model, tok = tiny
    engine = make_engine("hf", model, tok)
    torch.manual_seed(0)
    (first,) = engine.generate(["0110="], 1, max_response_tokens=8, keep_cache=True)
    state = first.cache
    assert state.ids == first.prompt_ids + first.response_ids[:-1]
    layers, heads, dim = model.config.num_hidden_layers, model.config.num_key_value_heads, model.config.head_dim
    assert state.kv.shape == (layers, 2, heads, len(state.ids), dim)  # one position per token it holds
    history = first.prompt_ids + first.response_ids + observation(tok, 0, 1)
    flip = {tok.convert_tokens_to_ids("0"): tok.convert_tokens_to_ids("1"),
            tok.convert_tokens_to_ids("1"): tok.convert_tokens_to_ids("0")}  # fmt: skip
    cases = {
        "extends": (history, len(state.ids)),
        "re-rendered at 3": (history[:3] + [flip.get(history[3], history[3])] + history[4:], 3),
        "differs at 0": ([flip.get(history[0], history[0])] + history[1:], 0),
        "the cached tokens only": (state.ids, len(state.ids) - 1),  # the last token's logits start the response
    }
    assert cases["re-rendered at 3"][0] != history and cases["differs at 0"][0] != history
    for name, (ids, reused) in cases.items():
        got, counts = continue_with(engine, ids, state)
        expected, full = continue_with(engine, ids, None)
        assert counts == {"prefill_tokens": len(ids) - reused, "reused_tokens": reused}, name
        assert full == {"prefill_tokens": len(ids), "reused_tokens": 0}
        assert got.response_ids == expected.response_ids, name
        torch.testing.assert_close(torch.tensor(got.logprobs), torch.tensor(expected.logprobs), atol=1e-5, rtol=0)
    # another engine's state, or one written before new weights: a full prefill
    _, counts = continue_with(make_engine("hf", model, tok), history, state)
    assert counts["reused_tokens"] == 0
    engine.sync_weights(model)
    _, counts = continue_with(engine, history, state)
    assert counts["reused_tokens"] == 0


def test_no_state_without_keep_cache_or_with_sliding_windows(tiny, arch_model, sharpen):
    model, tok = tiny
    assert all(s.cache is None for s in make_engine("hf", model, tok).generate(PROMPTS, 2, max_response_tokens=4))
    import transformers

    config = transformers.MistralConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                        num_attention_heads=2, num_key_value_heads=2, head_dim=16, vocab_size=len(tok),
                                        sliding_window=4,
                                        pad_token_id=0, eos_token_id=tok.eos_token_id, bos_token_id=None)  # fmt: skip
    window = transformers.AutoModelForCausalLM.from_config(config).eval()
    samples = make_engine("hf", window, tok).generate(PROMPTS, 2, max_response_tokens=4, keep_cache=True)
    assert all(s.cache is None for s in samples)  # its cache drops old positions: nothing to continue from


def spy(engine, reuse: bool):
    """Record each generate call of `engine` (rows, keep_cache, which caches it was passed, how many states returned
    so far are alive) and keep weak references to the memory of the states it returns. reuse=False drops the caches
    passed (full prefills). Returns (calls, refs)."""
    generate, calls, refs = engine.generate, [], []

    def recording(prompts, n, caches=None, keep_cache=False, **kwargs):
        passed = None if caches is None else [s is not None for s in caches]  # no strong reference kept here
        alive = sum(ref() is not None for ref in refs)
        calls.append({"rows": len(prompts), "keep": keep_cache, "passed": passed, "alive": alive})
        out = generate(prompts, n, caches=caches if reuse else None, keep_cache=keep_cache, **kwargs)
        refs.extend(weakref.ref(s.cache.kv) for s in out if s.cache is not None)
        return out

    engine.generate = recording
    return calls, refs


def test_episodes_continue_their_caches_and_release_them(make_trainer):
    """Guess-v0 through collect_episodes: the same episodes as without continuation; each turn passes the states of
    the episodes still running and only those are alive (an ended episode's state is freed at once); none is kept at
    the last possible turn; none is alive once the episodes are collected (the engine holds none)."""
    from tests.trainer.test_episodes import GUESS

    runs = {}
    for reuse in (True, False):
        # seed 5: this untrained model's episodes end at turns 1, 2 and 3 (asserted below, so a change of the random
        # stream fails here rather than testing nothing)
        trainer = make_trainer([*GUESS, "env.kwargs={letters: 2, max_turns: 3}", "model.vocab_chars=ab-?<>"], seed=5)
        calls, refs = spy(trainer.engine, reuse)
        trainer.step(1)
        gc.collect()
        runs[reuse] = (trainer.last.episodes, calls, trainer.engine.counts, [ref() for ref in refs])
    (eps, calls, counts, left), (plain, _, plain_counts, _) = runs[True], runs[False]
    assert {e.turns for e in eps} == {1, 2, 3}  # episodes end at different turns
    for a, b in zip(eps, plain, strict=True):
        assert (a.prompt_ids, a.response_ids, a.trained) == (b.prompt_ids, b.response_ids, b.trained)
        assert a.logprobs == pytest.approx(b.logprobs, abs=1e-5)
    assert [c["keep"] for c in calls] == [True, True, False]  # nothing kept at the env's last turn (max_turns: 3)
    assert [c["rows"] for c in calls[1:]] == [sum(e.turns > k for e in eps) for k in (1, 2)]  # the running ones
    for c in calls[1:]:
        assert c["passed"] == [True] * c["rows"]
        assert c["alive"] == c["rows"]  # the running episodes' states, and no ended episode's
    assert counts["reused_tokens"] > 0 and counts["prefill_tokens"] < plain_counts["prefill_tokens"]
    assert left and all(x is None for x in left)


def test_single_turn_episodes_keep_no_cache(make_trainer):
    trainer = make_trainer()  # Parity-v0: single-turn
    kept = []
    generate = trainer.engine.generate
    trainer.engine.generate = lambda *a, **k: kept.append(k["keep_cache"]) or generate(*a, **k)
    trainer.step(1)
    assert kept == [False]


@pytest.mark.vllm
def test_vllm_serves_a_history_from_its_prefix_cache(tiny):
    """The vllm engine continues a history without a handle: its prefix cache (on) serves the full KV blocks that an
    earlier turn computed, found by the history's token ids."""
    model, tok = tiny
    engine = make_engine("vllm", model, tok)
    assert engine.llm.llm_engine.vllm_config.cache_config.enable_prefix_caching
    block = engine.llm.llm_engine.vllm_config.cache_config.block_size
    prompt = tok("0110=" * (block // 5 + 2)).input_ids
    torch.manual_seed(0)
    (first,) = engine.generate([prompt], 1, max_response_tokens=4, keep_cache=True)
    assert first.cache is None and engine.counts["reused_tokens"] == 0
    history = first.prompt_ids + first.response_ids + observation(tok, 0, 1)
    engine.generate([history], 1, max_response_tokens=4)
    assert engine.counts["reused_tokens"] >= block
    assert engine.counts["prefill_tokens"] + engine.counts["reused_tokens"] == len(prompt) + len(history)
