"""The hf rollout engine: sampling log-probs equal the trainer's recomputed log-probs; layout, EOS, stop strings."""

from __future__ import annotations

import pytest
import torch

from rlvr.trainer.config import ModelConfig
from rlvr.trainer.model import build_model
from rlvr.trainer.rollout import make_engine

PROMPTS = ["0110=", "1=", "101101="]  # different lengths: left padding in generate, right padding in the trainer


@pytest.fixture(scope="module")
def tiny(sharpen):
    model, tok = build_model(ModelConfig(max_position_tokens=64))
    return sharpen(model), tok


@pytest.mark.parametrize(("temperature", "chunk"), [(1.0, 256), (0.7, 256), (1.6, 256), (1.0, 5)])
def test_sampling_logprobs_match_the_trainer(sampler_vs_trainer, tiny, temperature, chunk):
    """Shared prefill, the KV cache and positions of left-padded prompts (also when a chunk of 5 rows splits a
    prompt's group) give exactly the trainer's log-probs."""
    model, tok = tiny
    torch.manual_seed(0)
    engine = make_engine("hf", model, tok, max_batch_sequences=chunk)
    samples = engine.generate(PROMPTS, 4, temperature=temperature, max_response_tokens=12)
    assert len(samples) == 12
    sampled, trainer = sampler_vs_trainer(model, tok, samples, temperature)
    assert len(sampled) > 30
    torch.testing.assert_close(sampled, trainer, atol=1e-4, rtol=0)
    # the recomputation is at the sampling temperature: at T=1 the log-probs differ when T != 1
    if temperature != 1.0:
        _, at_one = sampler_vs_trainer(model, tok, samples, 1.0)
        assert (at_one - sampled).abs().max() > 1e-2


@pytest.mark.parametrize("arch", ["qwen2", "gpt2"])
def test_other_architectures_sample_what_the_trainer_scores(sampler_vs_trainer, tiny, sharpen, arch_model, arch):
    """The decode loop and the prompt-shared forward rely only on transformers' generic interface (KV cache,
    position ids, logits_to_keep): the same exactness on Qwen2 and GPT-2 as on Llama. Both have dropout, which
    `disable_dropout` (as `load_model` does unless model.dropout is true) turns off in training mode too."""
    from rlvr.trainer.model import disable_dropout

    tok = tiny[1]
    model = arch_model(arch, len(tok), tok.eos_token_id).train()
    x = torch.tensor([[3, 4, 3, 5]])
    assert not torch.equal(model(input_ids=x).logits, model(input_ids=x).logits)  # dropout is on
    disable_dropout(model)
    assert torch.equal(model(input_ids=x).logits, model(input_ids=x).logits)
    model = sharpen(model)
    torch.manual_seed(6)
    samples = make_engine("hf", model, tok).generate(PROMPTS, 4, max_response_tokens=10)
    sampled, trainer = sampler_vs_trainer(model, tok, samples, 1.0)
    assert len(sampled) > 30
    torch.testing.assert_close(sampled, trainer, atol=1e-4, rtol=0)


def test_finished_rows_leave_the_batch_and_the_rest_stay_exact(sampler_vs_trainer, tiny, check_layout, monkeypatch):
    """With EOS as likely as "0", responses end at many different steps: the batch is compacted several times and
    every sample's log-probs still match the trainer's."""
    import copy

    from rlvr.trainer.rollout import hf

    model, tok = copy.deepcopy(tiny[0]), tiny[1]
    with torch.no_grad():
        model.lm_head.weight[tok.eos_token_id] = model.lm_head.weight[tok.convert_tokens_to_ids("0")]
    selects = []
    real = hf._GrowingLayer.reorder_cache
    spy = lambda self, idx: (selects.append(len(idx)), real(self, idx))  # noqa: E731
    monkeypatch.setattr(hf._GrowingLayer, "reorder_cache", spy)
    torch.manual_seed(4)
    samples = make_engine("hf", model, tok).generate(PROMPTS, 16, max_response_tokens=16)
    check_layout(samples, tok, PROMPTS, 16, 16)
    lengths = {len(s.response_ids) for s in samples if s.finish_reason == "stop"}
    assert len(lengths) >= 5 and any(s.finish_reason == "length" for s in samples)
    layers = model.config.num_hidden_layers
    assert selects[:layers] == [48] * layers  # the prefill of 3 prompts expanded to 48 rows
    assert len(selects) >= 3 * layers and selects[-1] < 24  # then compacted, down to a small batch
    sampled, trainer = sampler_vs_trainer(model, tok, samples, 1.0)
    torch.testing.assert_close(sampled, trainer, atol=1e-4, rtol=0)


@pytest.mark.parametrize(("temperature", "top_p"), [(1.0, 1.0), (1.6, 0.8)])
def test_sampled_tokens_follow_the_warped_distribution(tiny, temperature, top_p):
    """4000 one-token samples of one prompt: a chi-square test of the token counts against the distribution the
    engine reports sampling from (softmax of logits / temperature within the top-p nucleus)."""
    from rlvr.trainer.rollout.hf import sampling_logprobs

    model, tok = tiny
    n = 4000
    torch.manual_seed(5)
    samples = make_engine("hf", model, tok).generate(["0110="], n, temperature=temperature, top_p=top_p,
                                                      max_response_tokens=1)  # fmt: skip
    with torch.no_grad():
        logits = model(**tok(["0110="], return_tensors="pt")).logits[:, -1]
    expected = sampling_logprobs(logits, temperature, top_p)[0].exp() * n
    counts = torch.bincount(torch.tensor([s.response_ids[0] for s in samples]), minlength=len(expected)).float()
    assert counts[expected == 0].sum() == 0  # nothing outside the nucleus
    support = expected > 0
    assert support.sum() >= 3
    chi2 = ((counts[support] - expected[support]) ** 2 / expected[support]).sum().item()
    dof = support.sum().item() - 1
    assert chi2 < dof + 8 * (2 * dof) ** 0.5, (counts, expected)  # far in the tail for a correct sampler
    reported = torch.tensor([s.logprobs[0] for s in samples])
    torch.testing.assert_close(reported, (expected / n).log()[[s.response_ids[0] for s in samples]])


@pytest.mark.parametrize(("temperature", "top_p"), [(1.0, 1.0), (0.7, 1.0), (1.6, 0.8)])
def test_sample_matches_softmax_chi_square(temperature, top_p):
    """`sample` on its own, 40,000 draws from one row of 12 logits warped by temperature and top-p: the token counts
    against softmax (chi-square), and no draw of a token that top-p cut."""
    from rlvr.trainer.rollout.hf import sample, sampling_logprobs

    torch.manual_seed(11)
    logits = torch.tensor([[2.0, -1.0, 0.5, 3.0, -4.0, 0.0, 1.0, 2.5, -0.5, 1.5, -2.0, 0.25]])
    logp = sampling_logprobs(logits, temperature, top_p)
    n = 40_000
    tokens = torch.cat([sample(logp.expand(1000, -1)) for _ in range(n // 1000)])
    expected = logp[0].exp().double() * n
    counts = torch.bincount(tokens, minlength=logits.shape[1]).double()
    support = expected > 0
    assert counts[~support].sum() == 0
    assert (support.sum() < len(support)) == (top_p < 1.0)
    chi2 = ((counts[support] - expected[support]) ** 2 / expected[support]).sum().item()
    dof = support.sum().item() - 1
    assert chi2 < dof + 8 * (2 * dof) ** 0.5, (counts, expected)  # far in the tail for a correct sampler


def test_sample_never_draws_a_zero_probability_token(monkeypatch):
    """-inf (probability 0) at the first, the last and adjacent positions, and rows with one token left: none of
    them is ever drawn, whatever the uniform (cumulative sums are flat across them, the search takes the first
    token whose sum exceeds u)."""
    from rlvr.trainer.rollout.hf import sample

    inf = float("-inf")
    rows = torch.tensor([
        [inf, 0.0, inf, inf, 0.0, inf],  # two equally likely tokens between cut ones
        [inf, inf, inf, inf, inf, 0.0],  # only the last
        [0.0, inf, inf, inf, inf, inf],  # only the first
        [-30.0, inf, 0.0, inf, -30.0, inf],  # tiny probabilities next to cut tokens
    ])  # fmt: skip
    torch.manual_seed(12)
    tokens = torch.stack([sample(rows) for _ in range(5000)])
    allowed = rows > inf
    assert allowed.gather(1, tokens.T).all()
    assert set(tokens[:, 0].tolist()) == {1, 4}
    assert (tokens[:, 1] == 5).all() and (tokens[:, 2] == 0).all()
    # the uniform's extremes: u = 0 and u just below the total pick the first and the last token of the support;
    # u = 1 (out of torch.rand's range, a rounding guard) too
    for u, want in ((0.0, [1, 5, 0, 0]), (1.0 - 2**-53, [4, 5, 0, 4]), (1.0, [4, 5, 0, 4])):
        with monkeypatch.context() as m:
            m.setattr(torch, "rand", lambda size, dtype, device, u=u: torch.full(size, u, dtype=dtype, device=device))
            assert sample(rows).tolist() == want


def test_same_seed_same_tokens(tiny):
    """Seeded generation is reproducible: the same seed gives the same tokens and log-probs; another seed does not."""
    model, tok = tiny

    def run(seed):
        torch.manual_seed(seed)
        samples = make_engine("hf", model, tok).generate(PROMPTS, 4, top_p=0.9, max_response_tokens=12)
        return [(s.response_ids, s.logprobs) for s in samples]

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_layout_eos_and_text(tiny, check_layout):
    model, tok = tiny
    torch.manual_seed(1)
    samples = make_engine("hf", model, tok, max_batch_sequences=5).generate(PROMPTS, 3, max_response_tokens=8)
    check_layout(samples, tok, PROMPTS, 3, 8)
    assert {s.finish_reason for s in samples} <= {"stop", "length"}


def test_stop_strings_cut_the_response(tiny):
    model, tok = tiny
    torch.manual_seed(2)
    samples = make_engine("hf", model, tok).generate(["0110="], 8, max_response_tokens=20, stop_strings=["0="])
    hits = [s for s in samples if "0=" in s.text]
    assert hits, "no sample wrote the stop string; pick another seed"
    for s in hits:
        assert s.text.endswith("0=") and s.text.count("0=") == 1 and s.finish_reason == "stop"
        assert len(s.logprobs) == len(s.response_ids)


def test_top_p_logprobs_are_of_the_truncated_distribution(sampler_vs_trainer, tiny):
    model, tok = tiny
    torch.manual_seed(3)
    samples = make_engine("hf", model, tok).generate(PROMPTS, 4, top_p=0.7, max_response_tokens=10)
    sampled, trainer = sampler_vs_trainer(model, tok, samples, 1.0)
    assert torch.all(sampled >= trainer - 1e-5)  # renormalised over the nucleus: never less likely
    assert (sampled - trainer).abs().max() > 1e-3  # and the difference shows as train/inference mismatch


def test_evaluation_of_a_mixture_reports_each_env(tiny):
    from rlvr.trainer.evaluate import evaluate

    model, tok = tiny
    engine = make_engine("hf", model, tok)
    envs = {"rlvr/Parity-v0": 0.5, "rlvr/Countdown-v0": 0.5}
    out = evaluate(engine, tok, "rlvr/Mixture-v0", {"envs": envs}, prompts=8, samples_per_prompt=2, seed=1,
                   max_response_tokens=4)  # fmt: skip
    assert {"Parity-v0/pass@1", "Parity-v0/pass@2", "Countdown-v0/pass@1", "Countdown-v0/accuracy"} <= set(out)
    single = evaluate(engine, tok, "rlvr/Parity-v0", {}, prompts=4, samples_per_prompt=2, seed=1, max_response_tokens=4)
    assert not any("/" in k for k in single)  # one env: no breakdown


@pytest.mark.parametrize("top_p", [0.5, 0.9, 0.99])
def test_nucleus_from_top_candidates_is_the_nucleus_of_a_full_sort(top_p):
    """Top-p looks among the highest NUCLEUS_CANDIDATES scores first: the same set as sorting the whole row, for
    peaked rows (found among the candidates), flat ones (the fallback sort) and a batch mixing both; and the set is
    the smallest prefix in descending order whose probability reaches top_p."""
    from rlvr.trainer.rollout.hf import outside_nucleus

    g = torch.Generator().manual_seed(3)
    v = 20_000
    rows = torch.randn(6, v, generator=g) * torch.tensor([[0.5], [3.0], [10.0], [30.0], [1.0], [8.0]])
    full = outside_nucleus(rows, top_p, candidates=v)
    assert torch.equal(outside_nucleus(rows, top_p, candidates=64), full)
    assert torch.equal(outside_nucleus(rows[2:4], top_p, candidates=64), full[2:4])  # peaked only: no fallback
    probs = rows.double().softmax(-1)
    for row, out in zip(probs, full, strict=True):
        kept = row[~out].sort(descending=True).values
        assert kept.sum() >= top_p - 1e-9 and kept.sum() - kept[-1] < top_p + 1e-9  # reaches top_p, minimal
        assert row[out].max() <= kept[-1]  # and made of the highest probabilities
