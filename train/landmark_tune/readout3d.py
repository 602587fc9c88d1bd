"""The tuned network's 3D readout, refitted in closed form: a ridge regression from its last map to the joints.

``LandmarkPoseHead(..., joints3d=True)`` reads the 3D with a convolution of its own, ``joints3d`` (K x 3 outputs
from the landmark network's last (C, 2, 2) map: on that map a linear function of its C x 4 numbers and a bias, the
pelvis then subtracted). It starts as the tuned world landmarks' recipes (``joints3d_from_world``), made
root-relative (the pelvis's row subtracted from every joint's, which the forward's subtraction makes no
difference to). The fit: features ``f`` = the map flattened in the convolution's weight order, plus a 1 for the
bias; ``W = (G + a I)^-1 (F^T Y + a W0^T)`` with ``G = F^T F``, ``a = ridge_lambda x trace(G) / dim`` and ``W0`` the
starting readout, ``Y`` the rendered crops' root-relative 3D (m, the pelvis's row 0, so its fitted row stays 0
and the convolution reads exactly the fit's predictions).

A tuned head that has its own 3D convolution already (the tune started from such a model, ``head_init``) keeps
it as the starting readout: the start's convolution as the tune moved it with the features, as MediaPipe's start
is the tuned world landmarks' recipes; the fit is then pulled toward that.

Measured (``benchmarks/results/s45_rule.md``, LFT6P): lambda 0.01 on the design shards' training crops read the
held-out design clips' 3D 2-35 mm nearer than the tuned convolution (ski_2 164.0 -> 118.8 mm, held-out shard
ski_photo_0 168.8 -> 144.7), nearer than the default's own 3D on all four.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from train.landmark_tune.config import LandmarkTuneConfig
from train.landmark_tune.tune import normalise
from train.metrics.pose import mpjpe
from train.posenet.model import LandmarkPoseHead
from tvstream.errors import CheckpointError
from tvstream.skeleton import NUM_JOINTS

log = logging.getLogger(__name__)


def conv_matrix(conv: torch.nn.Conv2d) -> np.ndarray:
    """A convolution that spans its whole input map -> ``(O, C*kh*kw + 1)`` float64: its weights, then its bias."""
    w = conv.weight.detach().cpu().double().reshape(conv.out_channels, -1).numpy()  # (O, C, kh, kw) -> (O, D)
    return np.concatenate([w, conv.bias.detach().cpu().double().numpy()[:, None]], 1)


@torch.no_grad()
def set_conv(conv: torch.nn.Conv2d, matrix: np.ndarray) -> None:
    """Put ``matrix (O, D + 1)`` (:func:`conv_matrix`'s layout) into ``conv``."""
    w = torch.from_numpy(matrix[:, :-1]).reshape(conv.weight.shape)  # (O, D) -> (O, C, kh, kw)
    conv.weight.copy_(w.to(conv.weight))
    conv.bias.copy_(torch.from_numpy(matrix[:, -1]).to(conv.bias))


def root_relative(matrix: np.ndarray) -> np.ndarray:
    """``matrix (K*3, D + 1)`` of a readout whose joint 0 is subtracted after it -> the same readout with joint
    0's rows subtracted from every joint's (its joint 0 then reads 0 by itself)."""
    w = matrix.reshape(-1, 3, matrix.shape[1])  # (K*3, D+1) -> (K, 3, D+1)
    return (w - w[:1]).reshape(matrix.shape)


def ridge(gram: np.ndarray, cross: np.ndarray, prior: np.ndarray, lam: float) -> np.ndarray:
    """The ridge readout pulled toward ``prior``: ``gram (D, D)`` = F^T F, ``cross (D, O)`` = F^T Y,
    ``prior (O, D)`` -> ``(O, D)`` minimising ``|F W^T - Y|^2 + a |W - prior|^2``, ``a = lam x trace(gram) / D``."""
    d = gram.shape[0]
    if gram.shape != (d, d) or cross.shape[0] != d or prior.shape != (cross.shape[1], d):
        raise ValueError(f"ridge: gram {gram.shape}, cross {cross.shape}, prior {prior.shape} do not fit")
    a = lam * np.trace(gram) / d
    return np.linalg.solve(gram + a * np.eye(d), cross + a * prior.T).T


def readout_head(cfg: LandmarkTuneConfig, flagged: dict[str, torch.Tensor]) -> LandmarkPoseHead:
    """The network with its own 3D convolution (``joints3d``), its other weights ``flagged``'s (a head with a pose
    flag), the convolution made as those world landmarks' recipes where ``flagged`` reads its 3D through them, else
    ``flagged``'s own; root-relative (the pelvis's rows 0)."""
    head = LandmarkPoseHead(cfg.trunk, NUM_JOINTS, presence=True, joints3d=True)
    if "joints3d.weight" in flagged:
        head.load_state_dict(flagged)  # strict: the same network
    else:
        missing, unexpected = head.load_state_dict(flagged, strict=False)
        if sorted(missing) != ["joints3d.bias", "joints3d.weight"] or \
                sorted(unexpected) != ["trunk.world.bias", "trunk.world.weight"]:
            raise CheckpointError(f"the flagged state is not this network's with world landmarks (missing "
                                  f"{missing}, unexpected {unexpected})")
        head.joints3d_from_world(flagged["trunk.world.weight"], flagged["trunk.world.bias"])
    set_conv(head.joints3d, root_relative(conv_matrix(head.joints3d)))
    return head


@torch.no_grad()
def features(head: LandmarkPoseHead, crops: np.ndarray, rows: np.ndarray, batch: int = 32,
             device: str = "cpu") -> np.ndarray:
    """``crops (N, S, S, 3)`` uint8 -> ``(len(rows), C*4 + 1)`` float64: the last map of each of ``rows``, flattened
    as the 3D convolution's weights are, and a 1 (the bias)."""
    head = head.to(device).eval()
    out = []
    for i in range(0, len(rows), batch):
        x = torch.from_numpy(crops[rows[i:i + batch]]).permute(0, 3, 1, 2).float() / 255  # (B, 3, S, S)
        f = head.trunk(normalise(x).to(device), features=True)[1]  # (B, C, 2, 2)
        out.append(f.flatten(1).double().cpu().numpy())  # (B, C*4)
    f = np.concatenate(out)
    return np.concatenate([f, np.ones((len(f), 1))], 1)


def fit_readout(head: LandmarkPoseHead, crops: np.ndarray, joints3d: np.ndarray, lam: float,
                batch: int = 32, device: str = "cpu") -> dict[str, float]:
    """Fit ``head.joints3d`` (in place) to ``joints3d (N, K, 3)`` root-relative metres of ``crops (N, S, S, 3)``
    (rows with unknown 3D left out), pulled toward its current readout by ``lam``; returns the crops' MPJPE (mm)
    before and after."""
    rows = np.flatnonzero(np.isfinite(joints3d).all((1, 2)))
    if len(rows) == 0:
        raise ValueError("no crop has its 3D labeled: nothing to fit the 3D readout to")
    f = features(head, crops, rows, batch, device)  # (N, D+1)
    y = (joints3d[rows] - joints3d[rows][:, :1]).reshape(len(f), -1).astype(np.float64)  # (N, K, 3) -> (N, K*3)
    prior = root_relative(conv_matrix(head.joints3d))
    fitted = ridge(f.T @ f, f.T @ y, prior, lam)
    set_conv(head.joints3d, fitted)

    def error(matrix: np.ndarray) -> float:
        pred = (f @ matrix.T).reshape(len(f), -1, 3)
        return float(mpjpe((pred - pred[:, :1]) * 1000, y.reshape(pred.shape) * 1000).mean())

    stats = {"rows": int(len(f)), "mpjpe_before_mm": error(prior), "mpjpe_after_mm": error(fitted)}
    log.info("readout3d: %d crops, MPJPE on them %.1f -> %.1f mm (lambda %g)", stats["rows"],
             stats["mpjpe_before_mm"], stats["mpjpe_after_mm"], lam)
    return stats
