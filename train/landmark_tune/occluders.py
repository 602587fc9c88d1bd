"""Occluders pasted on the tune's crops: a person partly hidden, labeled whole.

On real video a car, a van, a board or a barrier hides part of the athlete (the dev set's street clip: a cyclist's
legs behind a passing car). A head that has only seen whole people reads the part it sees as the whole person,
sure of it: the legs folded into the visible torso, the crop placed from that read shrinking onto the visible part
(``benchmarks/results/s56_rule.md``). With ``LandmarkTuneConfig.occlude_p`` a share of the crops get a rectangle
of a person-free photo (the plates: real textures, no second person) pasted over them, half of them across the
crop's bottom (the legs behind something), the rest anywhere (Sarandi et al. 2018's synthetic occlusion), and
the labels stay where the joints are: the head learns to place what it cannot see.
"""

from __future__ import annotations

import torch

from train.posenet.empty import photo_squares

WIDTH = (0.3, 1.0)  # the rectangle's width, a share of the crop's side
HEIGHT = (0.15, 0.45)  # ... and its height
BOTTOM_P = 0.5  # the share of rectangles across the crop's bottom (the rest anywhere in it)


def paste_plates(x: torch.Tensor, photos: tuple[torch.Tensor, ...], p: float, g: torch.Generator
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(images, hit)``: ``x (n, 3, S, S)`` in [0, 1] with, in each image ``hit (n,)`` marks (probability ``p``),
    a rectangle of a random square of a random one of ``photos`` (``train.posenet.empty.load_photos``) pasted:
    width U(WIDTH) and height U(HEIGHT) of S, across the bottom with probability BOTTOM_P, else anywhere. The
    images not hit are ``x``'s. Draws from ``g`` only when ``p`` > 0."""
    n, _, size, _ = x.shape
    if p == 0:
        return x, torch.zeros(n, dtype=torch.bool)
    hit = torch.rand(n, generator=g) < p
    out = x.clone()
    for i in torch.nonzero(hit).flatten().tolist():
        w = max(1, round(float(torch.empty(1).uniform_(*WIDTH, generator=g)) * size))
        h = max(1, round(float(torch.empty(1).uniform_(*HEIGHT, generator=g)) * size))
        x0 = int(torch.randint(size - w + 1, (1,), generator=g))
        bottom = bool(torch.rand(1, generator=g) < BOTTOM_P)
        y0 = size - h if bottom else int(torch.randint(size - h + 1, (1,), generator=g))
        texture = photo_squares(photos, 1, size, g)[0]
        out[i, :, y0:y0 + h, x0:x0 + w] = texture[:, y0:y0 + h, x0:x0 + w]
    return out, hit
