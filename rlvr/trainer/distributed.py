"""Data-parallel training under `torchrun`: one process per device (or CPU process on gloo), each collecting its
own share of the step's prompts, with gradients averaged across ranks.

    torchrun --nproc-per-node 2 -m rlvr.cli train --config configs/X.yaml --set runtime.distributed=ddp

`runtime.distributed` picks the wrapper: `ddp` (DistributedDataParallel: a full model copy per rank, gradients
all-reduced) or `fsdp2` (`torch.distributed.fsdp.fully_shard`: parameters, gradients and optimiser state sharded
per layer). `grpo.prompts_per_step` is the global number of prompts: each of the N ranks samples
prompts_per_step / N of them. The loss weights are computed for the global batch (token and sequence counts are
summed over the ranks, `Dist.all_sum`), and DDP/FSDP2 average the gradients, so that N ranks make the same update
as one process with the whole batch. Rank 0 alone writes the run directory (metrics, checkpoints).
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

    def barrier(self) -> None:
        if self.world_size > 1:
            import torch.distributed as dist

            dist.barrier()


def init_from_env(strategy: str) -> Dist:
    """Join the process group `torchrun` describes in the environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR);
    `Dist()` when not launched by torchrun or `strategy` is "none". NCCL on CUDA, gloo on CPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if strategy == "none" or world == 1:
        return Dist()
    import torch.distributed as dist

    local = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Dist(dist.get_rank(), dist.get_world_size(), device)


def wrap(model, strategy: str, dist_: Dist):
    """The model as the optimiser and the loss see it: DDP-wrapped, or sharded in place by FSDP2 (returned as is)."""
    if dist_.world_size == 1 or strategy == "none":
        return model
    if strategy == "ddp":
        from torch.nn.parallel import DistributedDataParallel

        ids = [dist_.device.index] if dist_.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)
    if strategy == "fsdp2":
        from torch.distributed.fsdp import fully_shard

        for layer in model.model.layers:
            fully_shard(layer)
        fully_shard(model)
        return model
    raise ValueError(f"runtime.distributed must be one of {STRATEGIES}, got {strategy!r}")
