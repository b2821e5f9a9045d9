"""Multi-turn episodes: the env's tokens are context only (no loss, no KL), turns are batched across groups, the
episode's reward is its turns', a multi-turn run resumes exactly, and rlvr/CodeFeedback-v0 trains with turns > 1."""

from __future__ import annotations

import json
import math
import string

import pytest
import torch

from rlvr.trainer.episodes import env_ids
from rlvr.trainer.model import make_batch

P, G = 4, 4  # make_trainer's
GUESS = ["env.id=rlvr/Guess-v0", "env.kwargs={letters: 8, max_turns: 3}", "model.vocab_chars=abcdefgh-?<>",
         "rollout.max_response_tokens=3"]  # fmt: skip


def record_calls(engine):
    """Wrap engine.generate to record (prompts, n, samples) of every call."""
    calls, generate = [], engine.generate

    def recording(prompts, n, **kwargs):
        out = generate(prompts, n, **kwargs)
        calls.append((list(prompts), n, out))
        return out

    engine.generate = recording
    return calls


def test_env_tokens_are_context_and_turns_are_batched_across_groups(make_trainer):
    trainer = make_trainer(GUESS)
    calls = record_calls(trainer.engine)
    metrics = trainer.step(1)
    ro = trainer.last
    eps = ro.episodes
    assert metrics["turns_max"] > 1 and metrics["turns_mean"] == pytest.approx(sum(e.turns for e in eps) / len(eps))
    # turn 1: one call, G samples per prompt text; turn k: one call over every episode still running, any group
    assert calls[0][1] == G and all(isinstance(p, str) for p in calls[0][0])
    assert [c[1] for c in calls[1:]] == [1] * (len(calls) - 1) and len(calls) == metrics["turns_max"]
    responses = {i: [s] for i, s in enumerate(calls[0][2])}  # each episode's samples, turn by turn
    for k, (prompts, _, out) in enumerate(calls[1:], start=2):
        running = [i for i, e in enumerate(eps) if e.turns >= k]
        assert len({i // G for i in running}) > 1 or len(running) <= G  # one call over the groups still running
        for i, p, s in zip(running, prompts, out, strict=True):
            e = eps[i]
            assert p == e.prompt_ids + e.response_ids[: len(p) - len(e.prompt_ids)]  # the history so far
            responses[i].append(s)
    tok = trainer.tok
    for row, e in enumerate(eps):
        # the history is prompt, then per turn: the model's tokens as sampled and the env's reply
        expect, trained = [], []
        for t, sample in enumerate(responses[row]):
            expect += sample.response_ids
            trained += [True] * len(sample.response_ids)
            assert e.texts[t] == sample.text
            if t < len(e.observations):
                obs = tok(e.observations[t], add_special_tokens=False).input_ids
                expect += obs
                trained += [False] * len(obs)
        assert e.response_ids == expect and e.trained == trained
        targets = ro.batch.targets[row]
        first = len(e.prompt_ids) - 1
        for k, is_model in enumerate(e.trained):
            assert (targets[first + k] != -100).item() == is_model
            assert ro.mask[row, first + k].item() == float(is_model and ro.valid[row].item())
        assert (targets != -100).sum().item() == sum(trained)
        # the reward is the sum of the turns' (1 for the turn that found the letter)
        assert ro.rewards[row].item() == sum(e.rewards) == float(e.status == "correct")
    sampler = ro.sampler_logp[ro.batch.targets != -100]
    trained = [lp for e in eps for lp, t in zip(e.logprobs, e.trained, strict=True) if t]
    assert sampler.tolist() == pytest.approx(trained)


def test_replies_follow_the_hidden_letter(make_trainer):
    trainer = make_trainer(GUESS)
    trainer.step(1)
    for e, problem in zip(trainer.last.episodes, trainer.venv.problems, strict=True):
        target = problem.reference["target"]
        for verdict, reply in zip(e.verdicts, e.observations, strict=False):
            guess = verdict["extracted"]
            assert reply == ("?" if guess is None else ">" if target > guess else "<")


def hand_advantages(rewards):
    adv = []
    for g in range(P):
        r = rewards[g * G : g * G + G]
        mean = sum(r) / G
        std = math.sqrt(sum((x - mean) ** 2 for x in r) / (G - 1))
        adv += [(x - mean) / (std + 1e-6) for x in r]
    return adv


def test_first_loss_and_kl_by_hand_count_the_model_tokens_only(make_trainer):
    beta = 0.5
    trainer = make_trainer([*GUESS, f"grpo.kl_coef={beta}", "grpo.kl=k3"], perturb_ref=0.05, seed=4)
    before = {k: v.clone() for k, v in trainer.policy.state_dict().items()}
    metrics = trainer.step(1)
    ro = trainer.last
    n = [sum(e.trained) for e in ro.episodes]
    adv = hand_advantages(ro.rewards.tolist())
    assert any(a != 0 for a in adv)
    # on-policy (ρ = 1): token_mean of -A_i over the model's tokens, + β KL over the same tokens
    trainer.policy.load_state_dict(before)
    logp = trainer.score(trainer.policy, ro.batch)
    kl = torch.exp(ro.ref_logp - logp) - 1 - (ro.ref_logp - logp)
    sel = ro.batch.targets != -100
    kl_mean = kl[sel].mean().item()
    expected = -sum(a * k for a, k in zip(adv, n, strict=True)) / sum(n) + beta * kl_mean
    assert metrics["kl"] == pytest.approx(kl_mean, rel=1e-4)
    assert metrics["first_loss"] == pytest.approx(expected, rel=1e-4, abs=1e-6)
    # the env's tokens would have changed the KL: they are scored too when not masked (a test that can fail)
    full = make_batch([e.prompt_ids for e in ro.episodes], [e.response_ids for e in ro.episodes], 0)
    assert (full.targets != -100).sum() > sel.sum()


def test_samples_jsonl_holds_whole_episodes(make_trainer, tmp_path):
    """A multi-turn episode's record holds every turn: response, reward, the env's reply (none after the last)."""
    from rlvr.trainer.samples import SampleLog
    from rlvr.trainer.samples import load as load_samples

    trainer = make_trainer(GUESS)
    log = trainer.sample_log = SampleLog(str(tmp_path), every_steps=1, groups=P)
    log.step = 1
    trainer.step(1)
    log.close()
    rows, eps = load_samples(str(tmp_path)), trainer.last.episodes
    assert len(rows) == len(eps) and any(e.turns > 1 for e in eps)
    for row, e in zip(rows, eps, strict=True):
        assert row["response"] == e.text
        if e.turns == 1:
            assert "turns" not in row
            continue
        assert [t["response"] for t in row["turns"]] == e.texts and [t["reward"] for t in row["turns"]] == e.rewards
        assert [t.get("reply") for t in row["turns"]] == [*e.observations, None]


def test_turn_reward_last_and_max_turns(make_trainer):
    trainer = make_trainer([*GUESS, "rollout.max_turns=2", "rollout.turn_reward=last"])
    metrics = trainer.step(1)
    assert metrics["turns_max"] <= 2
    for e, r in zip(trainer.last.episodes, trainer.last.rewards.tolist(), strict=True):
        assert r == e.rewards[-1]


def test_token_id_prompts_continue_like_text_prompts(make_trainer):
    trainer = make_trainer(GUESS)
    tok, engine = trainer.tok, trainer.engine
    text = "a-h?c"
    torch.manual_seed(5)
    a = engine.generate([text, text + "d"], 2, max_response_tokens=3)
    torch.manual_seed(5)
    b = engine.generate([tok(text).input_ids, tok(text + "d").input_ids], 2, max_response_tokens=3)
    assert [(s.prompt_ids, s.response_ids, s.logprobs) for s in a] == [(s.prompt_ids, s.response_ids, s.logprobs)
                                                                       for s in b]  # fmt: skip


def test_env_ids_with_a_chat_template():
    from transformers import PreTrainedTokenizerFast

    from rlvr.trainer.model import char_tokenizer

    tok = char_tokenizer("abcdefghijklmnopqrstuvwxyz<>|/:? \n")
    assert isinstance(tok, PreTrainedTokenizerFast)
    # a template whose assistant turns end with the EOS and a newline (as Qwen's <|im_end|>\n)
    tok.chat_template = (
        "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}"
        "{{ '<eos>' if m.role == 'assistant' else '' }}\n{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}"
    )
    # the model wrote the EOS: the env adds the rest of the closing, the user turn and the generation prompt
    assert tok.decode(env_ids(tok, "higher", True)) == "\n<|user|>higher\n<|assistant|>"
    # a truncated response (no EOS): the template's whole closing
    assert tok.decode(env_ids(tok, "higher", True, after_eos=False), skip_special_tokens=False) == \
        "<eos>\n<|user|>higher\n<|assistant|>"  # fmt: skip
    assert tok.decode(env_ids(tok, "higher", False)) == "higher"


def test_multi_turn_keys_are_refused_where_they_cannot_act(make_trainer):
    with pytest.raises(ValueError, match="rollout.max_turns=3 but rlvr/Parity-v0 is single-turn"):
        make_trainer(["rollout.max_turns=3"])
    with pytest.raises(ValueError, match="length.kimi_coef scores single responses"):
        make_trainer([*GUESS, "length.kimi_coef=0.1"])
    make_trainer([*GUESS, "length.kimi_coef=0.1", "rollout.max_turns=1"])  # one turn: a single response again


def test_sft_sees_the_contexts_of_the_rollout():
    import gymnasium as gym

    from rlvr.trainer.model import char_tokenizer
    from rlvr.trainer.sft import tokenize

    tok = char_tokenizer("abcdefghijklmno-?<>")
    env = gym.make("rlvr/Guess-v0")
    demos = env.unwrapped.demonstrations(40, 0.0, seed=0)
    later = next(d for d in demos if len(d["history"]) == 2)
    (prompt, response), *_ = tokenize([later], tok, chat_template=False)
    (g1, r1), (g2, r2) = later["history"]
    eos = tok.eos_token_id
    assert prompt == tok("a-o?").input_ids + tok(g1).input_ids + [eos] + tok(r1).input_ids + tok(g2).input_ids + \
        [eos] + tok(r2).input_ids  # fmt: skip
    assert response == tok(later["response"]).input_ids + [eos]
    # weak demonstrations: every guess is consistent with the replies before it, and each episode stops when found
    letters = "abcdefghijklmno"
    for d in demos:
        lo, hi = 0, 14
        for guess, reply in d["history"]:
            assert lo <= letters.index(guess) <= hi
            lo, hi = (letters.index(guess) + 1, hi) if reply == ">" else (lo, letters.index(guess) - 1)
        assert lo <= letters.index(d["response"]) <= hi


def test_evaluation_plays_episodes(make_trainer):
    from rlvr.trainer.evaluate import evaluate

    trainer = make_trainer(GUESS)
    out = evaluate(trainer.engine, trainer.tok, "rlvr/Guess-v0", {"letters": 8, "max_turns": 3}, prompts=4,
                   samples_per_prompt=2, seed=1, max_response_tokens=3)  # fmt: skip
    assert 1 < out["turns_mean"] <= 3 and out["turns_max"] <= 3
    one = evaluate(trainer.engine, trainer.tok, "rlvr/Guess-v0", {"letters": 8, "max_turns": 3}, prompts=4,
                   samples_per_prompt=2, seed=1, max_response_tokens=3, max_turns=1)  # fmt: skip
    assert one["turns_max"] == 1


SMALL_RUN = ["logging.tensorboard=false", "logging.progress=false", "sft.steps=3", "sft.demos=64",
             "sft.sequences_per_step=8", "grpo.prompts_per_step=4", "grpo.samples_per_prompt=2",
             "grpo.minibatch_samples=4", "eval.prompts=4", "eval.samples_per_prompt=2",
             "checkpoint.every_steps=1"]  # fmt: skip


def test_a_resumed_multi_turn_run_equals_a_straight_one(tmp_path):
    from transformers import AutoModelForCausalLM

    from rlvr.trainer.config import load_config
    from rlvr.trainer.run import train

    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    train(load_config("configs/multi-turn.yaml", [*SMALL_RUN, f"logging.run_dir={straight}", "grpo.steps=3"]))
    train(load_config("configs/multi-turn.yaml", [*SMALL_RUN, f"logging.run_dir={resumed}", "grpo.steps=2"]))
    train(load_config(resumed / "config.yaml", ["grpo.steps=3"]), resume=True)

    def grpo(run_dir):
        records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
        return [{k: v for k, v in r.items() if not k.startswith("time")} for r in records if r["phase"] == "grpo"]

    assert [r["step"] for r in grpo(resumed)] == [1, 2, 3]
    assert max(r["turns_max"] for r in grpo(straight)) > 1
    assert grpo(resumed) == grpo(straight)
    a = AutoModelForCausalLM.from_pretrained(straight / "checkpoints" / "step_3").state_dict()
    b = AutoModelForCausalLM.from_pretrained(resumed / "checkpoints" / "step_3").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.bwrap
def test_code_feedback_trains_with_several_turns(make_trainer):
    """rlvr/CodeFeedback-v0 end to end: a tiny model's programs fail, the failing tests come back, it tries again."""
    trainer = make_trainer(["env.id=rlvr/CodeFeedback-v0", "env.kwargs={difficulty: 1, max_turns: 3}",
                            "model.max_position_tokens=4096", "grpo.prompts_per_step=2", "grpo.samples_per_prompt=2",
                            "rollout.max_response_tokens=8", f"model.vocab_chars={string.printable}"])  # fmt: skip
    for step in (1, 2):
        metrics = trainer.step(step)
        assert math.isfinite(metrics["loss"]) and metrics["error_fraction"] == 0.0
    assert metrics["turns_max"] == 3 and metrics["turns_mean"] > 1
    e = trainer.last.episodes[0]
    assert e.turns == 3 and "did not pass every test" in e.observations[0]
    assert not all(e.trained) and sum(e.trained) <= 3 * 8


@pytest.mark.parametrize("backend", ["", "process"])
def test_step_verdicts_come_back_through_the_env(backend):
    """The dual reward's step scores are computed where the verdict is (a pool worker with a backend) and reach the
    trainer in info["verdict"]["steps"]; without step_verdicts the verdicts carry none."""
    from rlvr.trainer.evaluate import make_venv
    from rlvr.verifiers.parity import ParityVerifier

    for step_verdicts in (True, False):
        venv = make_venv("rlvr/Parity-v0", {"n_bits": 4, "style": "plain"}, 2, 1, backend, step_verdicts=step_verdicts)
        try:
            venv.reset(seed=0)
            responses = ["1101", "0"]
            _, _, _, _, infos = venv.step(responses)
            for r, v, p in zip(responses, infos["verdict"], venv.problems, strict=True):
                expected = [[s.start, s.end, s.score] for s in ParityVerifier().verify_steps(r, p.reference)]
                assert v.get("steps", []) == (expected if step_verdicts else [])
            assert step_verdicts == bool(infos["verdict"][0].get("steps"))
        finally:
            venv.close()


@pytest.mark.vllm
def test_vllm_continues_from_token_ids(make_trainer):
    """The vllm engine sends a history's token ids as given: the same prompt ids and samples as its text."""
    from rlvr.trainer.rollout import make_engine

    trainer = make_trainer(GUESS)
    engine = make_engine("vllm", trainer.policy, trainer.tok)
    ids = trainer.tok("a-h?c").input_ids + [trainer.tok.eos_token_id] + trainer.tok(">").input_ids
    torch.manual_seed(0)
    a = engine.generate([ids], 4, max_response_tokens=3)
    torch.manual_seed(0)
    b = engine.generate([list(ids)], 4, max_response_tokens=3)
    assert all(s.prompt_ids == ids for s in a)
    assert [(s.response_ids, s.logprobs) for s in a] == [(s.response_ids, s.logprobs) for s in b]
