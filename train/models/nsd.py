"""NSD's cross-view decoding (Rhodin et al. 2018, "Unsupervised geometry-aware representation").

The time-variant feature ``tv`` is read as a set of P 3D points in the camera frame of its view. To
reconstruct view B from view A, the points are rotated by the relative camera rotation ``R_B R_A^T``
(world-to-camera rotations, ``x_cam = R x_world + t``; translation plays no part for a
translation-free latent) and decoded with an appearance vector taken at another instant, so the only
route for the pose of view B is the geometry seen from A.
"""

from __future__ import annotations

import torch
from torch import Tensor


def relative_rotation(r_from: Tensor, r_to: Tensor) -> Tensor:
    """World-to-camera rotations ``(..., 3, 3)`` of two views -> ``R_to R_from^T`` (camera ``from`` -> ``to``)."""
    if r_from.shape[-2:] != (3, 3) or r_to.shape != r_from.shape:
        raise ValueError(f"rotations must both be (..., 3, 3), got {tuple(r_from.shape)} and {tuple(r_to.shape)}")
    return r_to @ r_from.transpose(-1, -2)


def rotate_points(latent: Tensor, rotation: Tensor) -> Tensor:
    """latent (N, 3P) read as P points (x, y, z), rotation (N, 3, 3) -> rotated latent (N, 3P)."""
    n, d = latent.shape
    if d % 3 or rotation.shape != (n, 3, 3):
        raise ValueError(f"latent must be (N, 3P) and rotation (N, 3, 3), got {tuple(latent.shape)} and "
                         f"{tuple(rotation.shape)}")
    points = latent.view(n, d // 3, 3)  # (N, 3P) -> (N, P, 3)
    return (points @ rotation.transpose(1, 2).to(points.dtype)).reshape(n, d)  # row vectors: p' = R p


def cross_view_latents(tv: Tensor, ti: Tensor, rotation: Tensor) -> tuple[Tensor, Tensor]:
    """Decoder inputs of multiview items: tv (B, S, 3P), ti (B, S, A), rotation (B, S, 3, 3) -> (B*S, 3P), (B*S, A).

    Items hold V = S - 1 synchronised views at one instant, then a far frame of view 0. View v is decoded
    from the geometry of view v - 1 (cyclically) rotated into camera v, with the appearance of the far
    frame; the far frame from its own geometry with the appearance of view 0 (the same camera, another time).
    """
    b, s = tv.shape[:2]
    if s < 3 or ti.shape[:2] != (b, s) or rotation.shape != (b, s, 3, 3):
        raise ValueError(f"need (B, S >= 3) items with (B, S, 3, 3) rotations, got tv {tuple(tv.shape)}, "
                         f"ti {tuple(ti.shape)}, rotation {tuple(rotation.shape)}")
    views = s - 1
    geometry = torch.tensor([(v - 1) % views for v in range(views)] + [views], device=tv.device)  # [V-1, 0, .., V]
    appearance = torch.tensor([views] * views + [0], device=tv.device)
    rel = relative_rotation(rotation[:, geometry], rotation)  # (B, S, 3, 3): source camera -> this one
    pose = rotate_points(tv[:, geometry].flatten(0, 1), rel.flatten(0, 1))  # (B*S, 3P)
    return pose, ti[:, appearance].flatten(0, 1)  # (B, S, A) -> (B*S, A)
