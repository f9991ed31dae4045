"""Process-group set-up for single-process, multi-GPU and multi-node training (torchrun).

torchrun sets ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT``; a plain
``python -m mmface_studio train`` sets none of them and runs as world size 1 without a process
group. The backend is NCCL when every rank has a CUDA device and gloo otherwise, so the same code
path is tested on CPU with gloo (DESIGN 7) and runs on GPUs with NCCL.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    """Where this process sits in the job."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_distributed(device: str | None = None, backend: str | None = None) -> DistContext:
    """Join the torchrun job described by the environment (or run alone when there is none).

    ``device``: "cpu", "cuda" or None (CUDA when available). With CUDA each rank takes the GPU of
    its ``LOCAL_RANK``.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", str(rank)))
    want_cuda = torch.cuda.is_available() if device is None else device.startswith("cuda")
    if want_cuda and not torch.cuda.is_available():
        raise RuntimeError("Training on CUDA was requested but torch sees no CUDA device.")
    if want_cuda:
        torch.cuda.set_device(local % torch.cuda.device_count())
        dev = torch.device("cuda", local % torch.cuda.device_count())
    else:
        dev = torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend or ("nccl" if want_cuda else "gloo"), rank=rank, world_size=world)
    return DistContext(rank, local, world, dev)


def shutdown_distributed() -> None:
    """Leave the job once every rank is done (rank 0 may still be writing the checkpoint).

    Why the barrier: a rank that tears its gloo connections down while a peer is still busy can
    make that peer's process abort at exit ("terminate called without an active exception").
    """
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def all_reduce_mean(value: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Mean of a scalar over ranks (for logging the same loss on every rank)."""
    if not ctx.distributed:
        return value
    value = value.detach().clone()
    dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value / ctx.world_size


def barrier(ctx: DistContext) -> None:
    if ctx.distributed:
        dist.barrier()
