"""Distributed setup in one place: ``torchrun`` environment -> process group, device and rank.

One process per GPU (NCCL) or per CPU worker (gloo). Only rank 0 writes files; nothing here patches
builtins or exits the process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits: ``rank`` of ``world_size`` processes, and its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        """True on the process that logs and writes checkpoints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def setup(prefer_cuda: bool = True) -> DistInfo:
    """Join the process group ``torchrun`` describes (WORLD_SIZE, RANK, LOCAL_RANK), or run alone."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    cuda = prefer_cuda and torch.cuda.is_available()
    device = torch.device("cuda", local) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    return DistInfo(rank=rank, world_size=world, local_rank=local, device=device)


def cleanup(info: DistInfo) -> None:
    """Leave the process group (after the last collective)."""
    if info.distributed and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
