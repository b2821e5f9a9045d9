"""Data-parallel training under `torchrun`: one process per device (or CPU process on gloo), each collecting its
own share of the step's prompts, with gradients averaged across ranks.

    torchrun --nproc-per-node 2 -m rlvr.cli train --config configs/X.yaml --set runtime.distributed=ddp

`runtime.distributed` picks the wrapper: `ddp` (DistributedDataParallel: a full model copy per rank, gradients
all-reduced) or `fsdp2` (`torch.distributed.fsdp.fully_shard`: parameters, gradients and optimiser state sharded
per layer). `grpo.prompts_per_step` is the global number of prompts: each of the N ranks samples
prompts_per_step / N of them. The loss weights are computed for the global batch (token and sequence counts are
summed over the ranks, `Dist.all_sum`), and DDP/FSDP2 average the gradients, so that N ranks make the same update
as one process with the whole batch. Rank 0 alone writes the run directory (metrics, checkpoints).

The differentiable forward goes through `PolicyForward` (forward = `response_logprobs` of the policy), the module
that DDP or FSDP2 wraps: calling `response_logprobs(model, ...)` directly would bypass DDP's forward (no gradient
all-reduce) and FSDP2's root hook (root parameters left sharded). Generation and scoring (no grad) use the plain
policy. Under FSDP2 the sharded parameters live in a copy of the policy made at `wrap` time; the policy keeps the
full weights for generation, scoring, the reference reset, evaluation and checkpoints, and `publish` copies the
trained weights into it after every optimiser step (one full all-gather). That costs one full copy of the weights
per rank (as a separate rollout engine does); gradients and optimiser state stay sharded.

Every rank makes the same number of forward/backward calls per optimiser step (DDP and FSDP2 issue collectives
in both): `GRPO.update` pads a rank with fewer micro-batches with zero-weight passes.
Not handled: an FSDP2 optimiser state resumes under FSDP2 only (its keys are parameter names); vLLM with FSDP2.
"""

from __future__ import annotations

import os

import torch

STRATEGIES = ("none", "ddp", "fsdp2")


class Dist:
    """The process group as the trainer sees it; `Dist()` is the single-process case (every method a no-op)."""

    def __init__(self, rank: int = 0, world_size: int = 1, device: torch.device | None = None) -> None:
        self.rank, self.world_size = rank, world_size
        self.device = device or torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def all_sum(self, x: torch.Tensor) -> torch.Tensor:
        """x summed over the ranks (a new tensor; differentiable inputs are detached: counts only)."""
        if self.world_size == 1:
            return x
        import torch.distributed as dist

        y = x.detach().clone().to(self.device)
        dist.all_reduce(y, op=dist.ReduceOp.SUM)
        return y.to(x.device)

    def mean_metrics(self, metrics: dict) -> dict:
        """Every numeric metric averaged over the ranks (rank-local timings included)."""
        if self.world_size == 1:
            return metrics
        keys = [k for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        values = self.all_sum(torch.tensor([float(metrics[k]) for k in keys], dtype=torch.float64)) / self.world_size
        return {**metrics, **dict(zip(keys, values.tolist(), strict=True))}

    def broadcast_object(self, obj):
        """`obj` from rank 0 on every rank."""
        if self.world_size == 1:
            return obj
        import torch.distributed as dist

        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def all_sum_grads(self, params) -> None:
        """Sum the parameters' gradients over the ranks, in place (one flat all-reduce; a missing gradient is 0)."""
        if self.world_size == 1:
            return
        import torch.distributed as dist

        params = list(params)
        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        flat = torch.cat([p.grad.flatten() for p in params]).to(self.device)
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        for p, g in zip(params, flat.split([p.numel() for p in params]), strict=True):
            p.grad.copy_(g.view_as(p.grad))

    def gather_object(self, obj) -> list | None:
        """Every rank's `obj` in rank order, on rank 0 (None on the others)."""
        if self.world_size == 1:
            return [obj]
        import torch.distributed as dist

        out = [None] * self.world_size if self.is_main else None
        dist.gather_object(obj, out, dst=0)
        return out

    def all_max(self, n: int) -> int:
        """The largest of the ranks' `n`."""
        if self.world_size == 1:
            return n
        import torch.distributed as dist

        y = torch.tensor([n], dtype=torch.int64, device=self.device)
        dist.all_reduce(y, op=dist.ReduceOp.MAX)
        return int(y.item())

    def broadcast_params(self, model) -> None:
        """Rank 0's parameters into every rank's `model` (in place)."""
        if self.world_size == 1:
            return
        import torch.distributed as dist

        with torch.no_grad():
            for p in model.parameters():
                dist.broadcast(p.data, src=0)

    def close(self) -> None:
        """Leave the process group (after the run; a vLLM engine's shutdown may have destroyed it already)."""
        if self.world_size > 1:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()

    def barrier(self) -> None:
        if self.world_size > 1:
            import torch.distributed as dist

            dist.barrier()


def init_from_env(strategy: str, device: str = "auto") -> Dist:
    """Join the process group `torchrun` describes in the environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR);
    `Dist()` when not launched by torchrun (WORLD_SIZE unset or 1). NCCL on CUDA, gloo on CPU. `device` is
    runtime.device: auto picks CUDA when available."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        if strategy != "none" and "WORLD_SIZE" not in os.environ:
            raise ValueError(f"runtime.distributed={strategy!r} needs a torchrun launch (`torchrun --nproc-per-node N "
                             f"-m rlvr.cli train ...`); this process was started without one")  # fmt: skip
        return Dist()
    if strategy == "none":
        raise ValueError(
            f"launched with WORLD_SIZE={world} but runtime.distributed is 'none' (each process would train alone "
            f"into the same run directory): set runtime.distributed to one of {STRATEGIES[1:]}"
        )
    import torch.distributed as dist

    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "cuda" or (device == "auto" and torch.cuda.is_available()):
        torch.cuda.set_device(local)
        dev = torch.device("cuda", local)
    else:
        dev = torch.device("cpu")
    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return Dist(dist.get_rank(), dist.get_world_size(), dev)


class PolicyForward(torch.nn.Module):
    """The training forward as one module call: forward(input_ids, attention_mask, targets, position_ids,
    temperature) = `response_logprobs(self.model, batch, temperature)` -> (log-probs, entropies) [B, L-1].
    Wrapped by DDP or FSDP2 so that their hooks see the whole forward (the lm_head included).

    `share_prompts`: prompt-prefix sharing (one forward per distinct prompt, see `model.shared_prompt_hidden`).
    Off under FSDP2: whether a micro-batch shares prompts differs between ranks, and a shared forward calls each
    layer twice, so the ranks' per-layer all-gathers would no longer pair up."""

    def __init__(self, model, share_prompts: bool = True) -> None:
        super().__init__()
        self.model, self.share_prompts = model, share_prompts

    def forward(self, input_ids, attention_mask, targets, position_ids=None, temperature: float = 1.0):
        from rlvr.trainer.model import TokenBatch, response_logprobs

        batch = TokenBatch(input_ids, attention_mask, targets, position_ids)
        return response_logprobs(self.model, batch, temperature, share_prompts=self.share_prompts)


def _inner(forward: torch.nn.Module) -> PolicyForward:
    return forward.module if hasattr(forward, "module") and isinstance(forward.module, PolicyForward) else forward


def _sharded(forward: torch.nn.Module) -> bool:
    from torch.distributed.fsdp import FSDPModule

    return isinstance(forward, FSDPModule)


def decoder_layers(model) -> list[torch.nn.Module]:
    """The model's transformer blocks: the modules of the classes it names in `_no_split_modules` (transformers'
    own list of what must stay whole: LlamaDecoderLayer, Qwen2DecoderLayer, GPT2Block, ...)."""
    names = set(getattr(model, "_no_split_modules", None) or ())
    layers = [m for m in model.modules() if type(m).__name__ in names]
    if not layers:
        raise ValueError(f"runtime.distributed=fsdp2: {type(model).__name__} names no decoder layer class "
                         "(_no_split_modules); use ddp")  # fmt: skip
    return layers


def wrap(model, strategy: str, dist_: Dist, dtype: str = "float32") -> torch.nn.Module:
    """The training forward (`PolicyForward`) for `strategy`; the optimiser takes its `.parameters()`.

    none (or one process): around `model` itself. ddp: DistributedDataParallel around it (same parameters as
    `model`). fsdp2: around a copy of `model`, each decoder layer (`decoder_layers`) and then the root sharded with
    `fully_shard`; `model` keeps the full weights (see `publish`). The ranks must hold the
    same weights on entry (DDP broadcasts rank 0's; FSDP2 shards each rank's own copy). `dtype` (model.dtype, the
    compute dtype): under fsdp2, bfloat16 all-gathers bf16 parameters and reduces gradients in float32
    (`MixedPrecisionPolicy`); the sharded master weights stay float32.
    """
    if dist_.world_size == 1 or strategy == "none":
        return PolicyForward(model)
    if strategy == "ddp":
        from torch.nn.parallel import DistributedDataParallel

        ids = [dist_.device.index] if dist_.device.type == "cuda" else None
        # buffers (rotary frequencies) are constants: no broadcast per forward
        return DistributedDataParallel(PolicyForward(model), device_ids=ids, broadcast_buffers=False)
    if strategy == "fsdp2":
        import copy

        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        mp = MixedPrecisionPolicy(param_dtype=getattr(torch, dtype), reduce_dtype=torch.float32)
        forward = PolicyForward(copy.deepcopy(model), share_prompts=False)
        for layer in decoder_layers(forward.model):
            fully_shard(layer, mp_policy=mp)
        fully_shard(forward, mp_policy=mp)
        return forward
    raise ValueError(f"runtime.distributed must be one of {STRATEGIES}, got {strategy!r}")


def publish(forward: torch.nn.Module, model) -> None:
    """After an optimiser step: copy the trained weights into `model` when they live elsewhere (FSDP2: a full
    all-gather, collective: every rank calls it). A no-op when `forward` trains `model`'s own parameters."""
    if not _sharded(forward):
        return
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    full = get_model_state_dict(forward, options=StateDictOptions(full_state_dict=True))
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(full[f"model.{name}"])


def optimizer_state(forward: torch.nn.Module, opt) -> dict:
    """The optimiser's state for a checkpoint (collective under FSDP2: the full, gathered state)."""
    if not _sharded(forward):
        return opt.state_dict()
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

    return get_optimizer_state_dict(forward, opt, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def load_optimizer_state(forward: torch.nn.Module, opt, state: dict) -> None:
    """Load what `optimizer_state` saved (under FSDP2 each rank takes its shard of the full state)."""
    if not _sharded(forward):
        opt.load_state_dict(state)
        return
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

    set_optimizer_state_dict(forward, opt, state, options=StateDictOptions(full_state_dict=True))
