"""The DataLoader every training loop uses: seeded shuffling and fork-safe worker processes."""

from __future__ import annotations

import multiprocessing
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch.utils.data import DataLoader, Dataset

# Modules the forkserver imports once, so each worker forks ready instead of importing torch again.
_PRELOAD = ["torch", "train.data.video_dataset"]


def worker_context() -> multiprocessing.context.BaseContext:
    """Start method for loader workers: ``forkserver`` (else ``spawn``), never a fork of the trainer.

    A fork copies the trainer's FFmpeg and OpenMP thread state without the threads; freeing such a
    decoder in the child deadlocks (seen here with PyAV frame threads). The forkserver is a clean
    process that imports torch once and forks workers from there.
    """
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(_PRELOAD)
        return ctx
    return multiprocessing.get_context("spawn")


def make_loader(
    dataset: Dataset,
    batch_size: int,
    shuffle: bool = True,
    workers: int = 2,
    seed: int = 0,
    drop_last: bool = True,
) -> DataLoader:
    """A DataLoader over ``dataset`` with a seeded shuffle and fork-safe workers.

    Workers are not persistent, so a ``dataset.set_epoch(e)`` before iterating reaches them.
    """
    import torch
    from torch.utils.data import DataLoader

    if batch_size < 1 or workers < 0:
        raise ValueError(f"need batch_size >= 1 and workers >= 0, got {batch_size}, {workers}")
    generator = torch.Generator()
    generator.manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=workers,
        multiprocessing_context=worker_context() if workers > 0 else None,
        generator=generator,
        drop_last=drop_last,
        pin_memory=torch.cuda.is_available(),
    )
