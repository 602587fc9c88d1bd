"""3D pose errors (numpy), as in the paper's evaluation and VideoPose3D's protocols.

All take ``pred, target (N, K, 3)`` root-relative poses in millimetres and return per-sample errors
``(N,)`` (mean over joints), so callers can average, break down by action, or take percentiles.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _check(pred: np.ndarray, target: np.ndarray) -> None:
    if pred.shape != target.shape or pred.ndim != 3 or pred.shape[-1] != 3:
        raise ValueError(f"pred and target must both be (N, K, 3), got {pred.shape} and {target.shape}")


def joint_errors(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """pred, target (N, K, 3) mm -> (N, K) Euclidean error of every joint."""
    _check(pred, target)
    return np.linalg.norm(pred - target, axis=-1)


def mpjpe(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """pred, target (N, K, 3) mm -> (N,) mean per-joint position error (Protocol #1)."""
    return joint_errors(pred, target).mean(axis=-1)


def n_mpjpe(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """pred, target (N, K, 3) mm -> (N,) MPJPE after the per-sample optimal scale of ``pred``.

    ``s = sum(target * pred) / sum(pred * pred)`` minimises ``|s * pred - target|^2`` (Rhodin et al. 2018).
    """
    _check(pred, target)
    num = (target * pred).sum(axis=(1, 2))
    den = np.maximum((pred * pred).sum(axis=(1, 2)), 1e-12)
    return mpjpe(pred * (num / den)[:, None, None], target)


def p_mpjpe(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """pred, target (N, K, 3) mm -> (N,) MPJPE after per-sample similarity Procrustes alignment (Protocol #2)."""
    _check(pred, target)
    mu_p, mu_t = pred.mean(axis=1, keepdims=True), target.mean(axis=1, keepdims=True)
    p, t = pred - mu_p, target - mu_t  # (N, K, 3)
    norm_p = np.maximum(np.linalg.norm(p, axis=(1, 2), keepdims=True), 1e-12)
    norm_t = np.maximum(np.linalg.norm(t, axis=(1, 2), keepdims=True), 1e-12)
    p, t = p / norm_p, t / norm_t
    H = np.einsum("nki,nkj->nij", p, t)  # (N, 3, 3) cross-covariance
    U, s, Vt = np.linalg.svd(H)
    V = np.swapaxes(Vt, 1, 2)
    R = V @ np.swapaxes(U, 1, 2)  # (N, 3, 3) rotation taking p onto t
    # a reflection is not a rotation: flip the axis of the smallest singular value where det(R) < 0
    flip = np.sign(np.linalg.det(R))  # (N,)
    V[:, :, -1] *= flip[:, None]
    s[:, -1] *= flip
    R = V @ np.swapaxes(U, 1, 2)
    scale = s.sum(axis=1)[:, None, None] * norm_t / norm_p  # (N, 1, 1)
    aligned = scale * np.einsum("nij,nkj->nki", R, pred - mu_p) + mu_t
    return mpjpe(aligned, target)


def per_joint(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """pred, target (N, K, 3) mm -> (K,) MPJPE of each joint over the samples."""
    return joint_errors(pred, target).mean(axis=0)


def per_group(errors: np.ndarray, groups: Sequence[str]) -> dict[str, float]:
    """Mean of per-sample ``errors (N,)`` for each group label (action, subject, camera) in ``groups``."""
    errors, groups = np.asarray(errors), np.asarray(groups)
    if errors.shape != groups.shape:
        raise ValueError(f"errors {errors.shape} and groups {groups.shape} must match")
    return {str(g): float(errors[groups == g].mean()) for g in sorted(set(groups.tolist()))}
