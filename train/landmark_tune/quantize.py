"""Which of the tuned head's weights an export may store as int8: the least harmful, until the file fits.

MediaPipe's Full landmark network in float16 beside the person detector (int8) is 12.5 MB, over the embedded
model's limit. Stored all as int8 (one scale per output channel, ``engines.weight_storage``) it lost 0.03 PCK and
14 mm on the design sets through the run (session 46: LFT6PJ 0.812 / 137.8 in float16, 0.780 / 152.1 all int8).
The harm is not spread evenly: one of the last 1 x 1 convolutions alone moved the 3D 25 mm, the deep 3 x 3 blocks
near nothing. So each large weight is rounded alone (from its float16 value) and the change of the head's output
on real and rendered crops measured; the export stores as int8 the weights with the least harm per value saved,
until the file fits (:func:`choose_int8`).
"""

from __future__ import annotations

import numpy as np
import torch

from engines.weight_storage import MIN_ELEMENTS, quantize_int8

THREE_D_PER_METRE = 0.5  # harm = mean |2D change| (crop units) + this x mean |3D change| (m): 1 mm ~ 0.0005
KEEP = ("trunk.presence.",)  # never rounded: the pose flag decides what the run follows (its harm is not in 2D/3D)


def _rounded(w: torch.Tensor) -> torch.Tensor:
    q, scale = quantize_int8(w.numpy())
    return torch.from_numpy(q.astype(np.float32) * scale)


@torch.no_grad()
def int8_harm(head: torch.nn.Module, x: torch.Tensor) -> list[tuple[str, int, float]]:
    """``(name, values, harm)`` of each of ``head``'s weights an export may store as int8 (at least
    ``MIN_ELEMENTS`` values, two or more axes, not under ``KEEP``): the mean change of its output on the normalised
    crops ``x`` when that weight alone is int8 and every large weight float16, as the export stores them."""
    head.eval()
    params = dict(head.named_parameters())
    large = {k: p for k, p in params.items() if p.dim() >= 2 and p.numel() >= MIN_ELEMENTS}
    saved = {k: p.detach().clone() for k, p in large.items()}
    try:
        for p in large.values():
            p.copy_(p.half().float())
        base = head(x)
        rows = []
        for name, p in large.items():
            if name.startswith(KEEP):
                continue
            half = p.detach().clone()
            p.copy_(_rounded(half))
            out = head(x)
            harm = (out[0] - base[0]).abs().mean() + THREE_D_PER_METRE * (out[1] - base[1]).abs().mean()
            rows.append((name, p.numel(), float(harm)))
            p.copy_(half)
        return rows
    finally:
        for k, p in large.items():
            p.copy_(saved[k])


def choose_int8(rows: list[tuple[str, int, float]], need_bytes: int) -> tuple[str, ...]:
    """The names of ``rows`` (:func:`int8_harm`) to store as int8 so that at least ``need_bytes`` are saved (a
    float16 value becomes one byte), the least harm per value first; all of them where that is not enough."""
    chosen, saved = [], 0
    for name, values, _ in sorted(rows, key=lambda r: (r[2] / r[1], r[0])):
        if saved >= need_bytes:
            break
        chosen.append(name)
        saved += values
    return tuple(chosen)
