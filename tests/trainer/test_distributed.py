"""Data-parallel training with real gloo processes on CPU (`torchrun --nproc-per-node 2`).

The update test gives one process a fixed rollout of B samples and two ranks a split of it (even, and uneven with
micro-batches, so one rank pads with a zero-weight pass), runs one `GRPO.update` with plain SGD (lr 1: the parameter
change is the gradient itself; Adam's first step would hide a wrong gradient scale) and compares the parameters and
the loss. This file is also the ranks' script: `torchrun ... test_distributed.py ROLLOUT OUT` runs `_rank_main`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
LOSS_AGGS = ("token_mean", "seq_mean_token_mean", "seq_mean_token_sum_norm")
STRATEGIES = ("ddp", "fsdp2")
# rank 0's rows of the 8-sample rollout (rank 1: the rest); "uneven" also micro-batches by 2: 3 passes against 2
SPLITS = {"even": ([0, 1, 2, 3], 0), "uneven": ([0, 2, 3, 5, 7], 2)}
B, VOCAB = 8, 6


def _config(loss_agg: str, micro: int):
    from rlvr.trainer.config import load_config

    return load_config(None, [
        f"grpo.loss_agg={loss_agg}", f"grpo.micro_batch_samples={micro}", "grpo.kl_coef=0.1", "grpo.kl=k3",
        "grpo.entropy_coef=0.01", "optim.max_grad_norm=0", "rollout.max_response_tokens=6",
        "model.vocab_chars=012", "model.hidden_size=32", "model.intermediate_size=64", "model.num_layers=2",
    ])  # fmt: skip


class _Engine:
    def sync_weights(self, model) -> None:
        pass


def _trainer(cfg, state: dict, dist=None, strategy: str = "none"):
    """A GRPO over a tiny model holding `state`, SGD lr 1, no env or engine (update only)."""
    from rlvr.trainer.distributed import Dist, wrap
    from rlvr.trainer.grpo import GRPO
    from rlvr.trainer.model import frozen_copy, load_model

    dist = dist or Dist()
    model, _ = load_model(cfg.model)
    model.load_state_dict(state)
    forward = wrap(model, strategy, dist)
    opt = torch.optim.SGD(forward.parameters(), lr=1.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    return GRPO(cfg, model, frozen_copy(model), None, _Engine(), None, opt, sched, dist=dist, forward=forward)


def _rollout(cfg, model):
    """B samples with prompts of 2-4 tokens and responses of 0-6 (one empty), random advantages, old log-probs
    off the policy's (ratios != 1, some clipped) and a reference off both."""
    from rlvr.trainer.grpo import GRPO, Rollout
    from rlvr.trainer.model import make_batch

    gen = torch.Generator().manual_seed(0)
    prompts = [torch.randint(3, VOCAB, (int(torch.randint(2, 5, (1,), generator=gen)),), generator=gen).tolist()
               for _ in range(B)]  # fmt: skip
    lengths = [3, 6, 1, 0, 5, 2, 6, 4]
    responses = [torch.randint(1, VOCAB, (n,), generator=gen).tolist() for n in lengths]
    batch = make_batch(prompts, responses, 0)
    mask = batch.response_mask
    scorer = GRPO(cfg, model, model, None, _Engine(), None, None, None)
    logp = scorer.score(model, batch)
    old = logp + 0.3 * torch.randn(logp.shape, generator=gen) * mask
    ref = logp + 0.2 * torch.randn(logp.shape, generator=gen) * mask
    adv = torch.randn(B, generator=gen)
    valid = torch.ones(B, dtype=torch.bool)
    return Rollout(batch, mask, adv, adv.clone(), valid, old, ref, logp.clone(), ["correct"] * B, lengths, [])


class _SilentLog:
    def log(self, *args) -> None:
        pass


def _sft(dist=None) -> dict:
    """The weights after `run_sft`: 3 steps of 5 parity demonstrations (3 + 2 per step on two ranks), from a fixed
    initialisation, with plain SGD (AdamW would divide the float rounding of near-zero gradients by their size)."""
    from unittest import mock

    import gymnasium as gym

    from rlvr.trainer import sft
    from rlvr.trainer.config import load_config
    from rlvr.trainer.model import load_model

    cfg = load_config("configs/parity.yaml", [
        "env.kwargs={n_bits: 4, style: plain}", "sft.steps=3", "sft.demos=40", "sft.sequences_per_step=5",
        "sft.lr=0.3", "sft.warmup_steps=0",
    ])  # fmt: skip
    torch.manual_seed(0)
    model, tok = load_model(cfg.model)
    env = gym.make("rlvr/Parity-v0", n_bits=4, style="plain")
    with mock.patch.object(sft, "adamw", lambda params, lr, o: torch.optim.SGD(params, lr=lr)):
        sft.run_sft(model, tok, env, cfg, _SilentLog(), dist=dist)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _rank_main(rollout_file: str, out_file: str) -> None:
    """One rank of the update test: every (strategy, loss aggregation, split) case on this rank's rows, and SFT."""
    from rlvr.trainer.distributed import init_from_env

    torch.set_num_threads(1)
    data = torch.load(rollout_file, weights_only=False)
    dist = init_from_env("ddp", "cpu")
    ro, results = data["rollout"], {}
    for strategy in STRATEGIES:
        for loss_agg in LOSS_AGGS:
            for split, (rows0, micro) in SPLITS.items():
                rows = rows0 if dist.rank == 0 else [i for i in range(B) if i not in rows0]
                trainer = _trainer(_config(loss_agg, micro), data["state"], dist, strategy)
                stats = dist.mean_metrics(trainer.update(ro, torch.tensor(rows), 6))
                params = {k: v.detach().clone() for k, v in trainer.policy.state_dict().items()}
                results[f"{strategy}-{loss_agg}-{split}"] = {"params": params, "stats": stats}
    results["sft"] = _sft(dist)
    if dist.is_main:
        torch.save(results, out_file)
    dist.close()


@pytest.fixture(scope="module")
def two_rank_updates(tmp_path_factory):
    """(the rollout and initial weights, {case: rank 0's parameters and stats after one 2-rank update})."""
    from rlvr.trainer.model import load_model

    tmp = tmp_path_factory.mktemp("ddp")
    cfg = _config("token_mean", 0)
    torch.manual_seed(0)
    model, _ = load_model(cfg.model)
    data = {"state": model.state_dict(), "rollout": _rollout(cfg, model)}
    torch.save(data, tmp / "rollout.pt")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([*TORCHRUN, __file__, str(tmp / "rollout.pt"), str(tmp / "out.pt")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return data, torch.load(tmp / "out.pt", weights_only=False)


@pytest.mark.slow  # the two ranks' start-up (torch, transformers imports): ~35 s on 2 busy cores
@pytest.mark.parametrize("split", list(SPLITS))
@pytest.mark.parametrize("loss_agg", LOSS_AGGS)
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_two_ranks_make_the_one_process_update(two_rank_updates, strategy, loss_agg, split):
    data, results = two_rank_updates
    got = results[f"{strategy}-{loss_agg}-{split}"]
    cfg = _config(loss_agg, 0)
    one = _trainer(cfg, data["state"])
    stats = one.update(data["rollout"], torch.arange(B), 6)
    expected = one.policy.state_dict()
    delta = max((expected[k] - data["state"][k]).abs().max().item() for k in expected)
    assert delta > 1e-3, "the update hardly moved the weights: the comparison would be vacuous"
    for k, v in expected.items():
        torch.testing.assert_close(got["params"][k], v, rtol=0, atol=1e-6, msg=f"{k}")
    assert got["stats"]["loss"] == pytest.approx(stats["loss"], rel=1e-5, abs=1e-7)
    assert got["stats"]["grad_norm"] == pytest.approx(stats["grad_norm"], rel=1e-5)

    # the test can fail: rank 0's rows alone (its own loss weights, no averaging) give another update
    rows0 = torch.tensor(SPLITS[split][0])
    alone = _trainer(cfg, data["state"])
    alone.update(data["rollout"], rows0, 6)
    far = max((alone.policy.state_dict()[k] - v).abs().max().item() for k, v in expected.items())
    assert far > 1e-4


@pytest.mark.slow
def test_two_ranks_make_the_one_process_sft(two_rank_updates):
    from rlvr.trainer.distributed import Dist

    got = two_rank_updates[1]["sft"]
    one = _sft()
    for k, v in one.items():
        torch.testing.assert_close(got[k], v, rtol=0, atol=1e-6, msg=lambda m, k=k: f"{k}: {m}")

    class NoCommunication(Dist):  # rank 0 of 2 that never hears from rank 1: its share, its own token mean
        def all_sum(self, x):
            return x

        def all_sum_grads(self, params):
            pass

    alone = _sft(NoCommunication(0, 2))
    assert max((alone[k] - v).abs().max().item() for k, v in one.items()) > 1e-3


@pytest.mark.parametrize("arch", ["llama", "qwen2", "gpt2"])
def test_fsdp2_shards_each_architectures_own_blocks(arch_model, arch):
    from rlvr.trainer.distributed import decoder_layers

    block = {"llama": "LlamaDecoderLayer", "qwen2": "Qwen2DecoderLayer", "gpt2": "GPT2Block"}[arch]
    model = arch_model(arch, vocab_size=10, eos_id=1, layers=3)
    assert [type(m).__name__ for m in decoder_layers(model)] == [block] * 3
    model._no_split_modules = None
    with pytest.raises(ValueError, match="names no decoder layer class"):
        decoder_layers(model)


def test_distributed_config_is_validated(monkeypatch):
    from rlvr.trainer.config import load_config
    from rlvr.trainer.run import start_distributed

    with pytest.raises(ValueError, match=r"runtime.distributed must be one of \['ddp', 'fsdp2', 'none'\]"):
        load_config(None, ["runtime.distributed=zero3"])
    with pytest.raises(ValueError, match="fsdp2 needs rollout.engine=hf"):
        load_config(None, ["runtime.distributed=fsdp2", "rollout.engine=vllm"])
    monkeypatch.setenv("WORLD_SIZE", "3")
    with pytest.raises(ValueError, match=r"prompts_per_step \(16\) must be divisible .*WORLD_SIZE = 3"):
        start_distributed(load_config(None, ["grpo.prompts_per_step=16", "runtime.distributed=ddp"]))
    with pytest.raises(ValueError, match="runtime.distributed is 'none'"):
        start_distributed(load_config(None, ["grpo.prompts_per_step=12"]))


SMALL_RUN = [
    "logging.tensorboard=false", "logging.progress=false", "env.kwargs={n_bits: 4, style: plain}", "sft.steps=3",
    "sft.demos=64", "sft.sequences_per_step=8", "grpo.prompts_per_step=4", "grpo.samples_per_prompt=2",
    "grpo.minibatch_samples=4", "rollout.max_response_tokens=6", "eval.prompts=4", "eval.samples_per_prompt=2",
    "checkpoint.every_steps=1",
]  # fmt: skip


def torchrun_train(sets: list[str], resume=None) -> subprocess.CompletedProcess:
    """`torchrun --nproc-per-node 2 -m rlvr.cli train` on configs/parity.yaml (or `--resume`) with `--set`s."""
    cmd = [*TORCHRUN, "-m", "rlvr.cli", "train", *(["--resume", str(resume)] if resume else
                                                    ["--config", "configs/parity.yaml"])]  # fmt: skip
    for s in sets:
        cmd += ["--set", s]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc


def read_records(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_torchrun_train_end_to_end(tmp_path, strategy):
    run_dir = tmp_path / "run"
    torchrun_train([
        *SMALL_RUN, f"runtime.distributed={strategy}", f"logging.run_dir={run_dir}", "grpo.steps=2",
        "eval.every_steps=1", "reset.every_steps=1", "reset.reset_optimizer=false",
    ])  # fmt: skip
    phases = [r["phase"] for r in read_records(run_dir)]
    # one writer: each SFT and GRPO step logged once; evaluations after SFT, after step 1 and at the end
    assert phases.count("sft") == 3 and phases.count("grpo") == 2 and phases.count("eval") == 3
    assert phases.count("reset") == 2  # reset.every_steps=1: after each step, the decision broadcast from rank 0
    assert sorted(f for f in os.listdir(run_dir) if f.endswith(".jsonl")) == ["metrics.jsonl", "samples.jsonl"]
    ckpt = run_dir / "checkpoints" / "step_2"
    assert (ckpt / "trainer_state.pt").is_file() and (ckpt / "reference.pt").is_file()
    state = torch.load(ckpt / "trainer_state.pt", weights_only=False)
    assert state["step"] == 2 and state["optimizer"]["state"] and len(state["rng_ranks"]) == 2
    results = json.loads((run_dir / "results.json").read_text())
    assert "after SFT" in results and "after GRPO" in results


@pytest.mark.vllm
@pytest.mark.slow
def test_torchrun_with_the_vllm_engine(tmp_path):
    """Each rank builds its own in-process vLLM engine (rank 1 used to find no snapshot: `save_pretrained` writes
    on rank 0 only) and shuts it down before the process group goes; rank 0 alone evaluates, so the ranks call
    their engines a different number of times, which only works if generation needs no collective."""
    run_dir = tmp_path / "run"
    proc = torchrun_train([
        *SMALL_RUN, "sft.steps=0", "runtime.distributed=ddp", "rollout.engine=vllm", f"logging.run_dir={run_dir}",
        "grpo.steps=2", "eval.every_steps=1", "rollout.vllm_max_model_len=64",
    ])  # fmt: skip
    assert "Traceback" not in proc.stderr, proc.stderr[-5000:]
    records = read_records(run_dir)
    assert [r["phase"] for r in records] == ["eval", "grpo", "eval", "grpo", "eval"]
    grpo = [r for r in records if r["phase"] == "grpo"]
    assert all(r["mismatch"] < 1e-4 for r in grpo)  # each rank's engine samples from that rank's synced weights
    assert (run_dir / "checkpoints" / "step_2" / "manifest.json").is_file()


@pytest.mark.slow
def test_resumed_two_rank_run_equals_a_straight_one(tmp_path):
    """Each rank restores its own RNG state: 2 GRPO steps then `--resume` for a third give the metrics and weights
    of 3 straight steps (rank 1 samples its own responses again, not rank 0's stream)."""
    from transformers import AutoModelForCausalLM

    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    torchrun_train([*SMALL_RUN, "runtime.distributed=ddp", f"logging.run_dir={straight}", "grpo.steps=3"])
    torchrun_train([*SMALL_RUN, "runtime.distributed=ddp", f"logging.run_dir={resumed}", "grpo.steps=2"])
    torchrun_train(["grpo.steps=3"], resume=resumed)

    def grpo(run_dir):
        return [{k: v for k, v in r.items() if not k.startswith("time")} for r in read_records(run_dir)
                if r["phase"] == "grpo"]  # fmt: skip

    assert [r["step"] for r in grpo(resumed)] == [1, 2, 3]
    assert grpo(resumed) == grpo(straight)
    a = AutoModelForCausalLM.from_pretrained(straight / "checkpoints" / "step_3").state_dict()
    b = AutoModelForCausalLM.from_pretrained(resumed / "checkpoints" / "step_3").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


if __name__ == "__main__":
    _rank_main(sys.argv[1], sys.argv[2])
