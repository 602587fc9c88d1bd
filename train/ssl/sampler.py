"""Batches as a pure function of the training step, so a resumed run sees exactly the batches it would have."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


def batch_indices(step: int, length: int, batch_size: int, seed: int) -> list[tuple[int, int]]:
    """The ``(epoch, item)`` pairs of training step ``step``: a seeded permutation per epoch, cut into batches."""
    if length < batch_size:
        raise ValueError(f"dataset has {length} items, fewer than one batch of {batch_size}")
    per_epoch = length // batch_size  # drop the ragged end of each epoch
    epoch, k = divmod(step, per_epoch)
    perm = np.random.default_rng((seed, epoch)).permutation(length)
    return [(epoch, int(i)) for i in perm[k * batch_size:(k + 1) * batch_size]]


class StepBatchSampler:
    """Yields the batches of steps ``start .. stop - 1`` (a DataLoader ``batch_sampler``).

    With several processes, each takes every ``world_size``-th item of the global batch from ``rank``.
    """

    def __init__(self, length: int, batch_size: int, seed: int, start: int, stop: int, rank: int = 0,
                 world_size: int = 1) -> None:
        self.length, self.batch_size, self.seed, self.start, self.stop = length, batch_size, seed, start, stop
        self.rank, self.world_size = rank, world_size

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for step in range(self.start, self.stop):
            yield batch_indices(step, self.length, self.batch_size, self.seed)[self.rank::self.world_size]

    def __len__(self) -> int:
        return max(0, self.stop - self.start)
