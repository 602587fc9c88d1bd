"""Parity of a candidate engine (TensorRT) against a reference (ONNX Runtime) on the same frames.

Pure numpy: a build runs both on sample frames, calls :func:`compare_outputs`, and
:func:`refuse_precision` decides whether the candidate's precision is accurate enough to keep.
"""

from __future__ import annotations

import math

import numpy as np


def _pair(reference: dict[str, np.ndarray], candidate: dict[str, np.ndarray], name: str,
          last: int) -> tuple[np.ndarray, np.ndarray]:
    if name not in reference or name not in candidate:
        raise ValueError(f"output {name!r} missing: reference has {sorted(reference)}, candidate {sorted(candidate)}")
    ref = np.asarray(reference[name], dtype=np.float64)
    cand = np.asarray(candidate[name], dtype=np.float64)
    if ref.shape != cand.shape or ref.ndim < 2 or ref.shape[-1] != last:
        raise ValueError(f"output {name!r}: reference {ref.shape} and candidate {cand.shape} must match, "
                         f"with last dim {last}")
    return ref, cand


def _finite_max(err: np.ndarray) -> float:
    # a NaN/inf anywhere in the candidate is an infinite error, never a silent pass (NaN > tol is False)
    if err.size == 0:
        return 0.0
    return float(np.where(np.isfinite(err), err, np.inf).max())


def compare_outputs(reference: dict[str, np.ndarray], candidate: dict[str, np.ndarray]) -> dict[str, float]:
    """pose3d ``(N, K, 3)`` mm and box ``(N, 4)`` px of both -> their largest disagreements.

    Returns ``pose3d_max_mm`` (worst per-joint Euclidean distance), ``pose3d_mean_mm`` (MPJPE between
    the two), ``box_max_px`` (worst coordinate), ``pose2d_max_px`` when both have ``pose2d``, and
    ``frames``. Non-finite candidate values count as infinite error. Bad shapes raise ValueError.
    """
    ref3, cand3 = _pair(reference, candidate, "pose3d", 3)
    ref_box, cand_box = _pair(reference, candidate, "box", 4)
    joint_err = np.linalg.norm(cand3 - ref3, axis=-1)  # (N, K) mm
    finite = np.where(np.isfinite(joint_err), joint_err, np.inf)
    report = {
        "frames": float(ref3.shape[0]),
        "pose3d_max_mm": _finite_max(joint_err),
        "pose3d_mean_mm": float(finite.mean()) if finite.size else 0.0,
        "box_max_px": _finite_max(np.abs(cand_box - ref_box)),
    }
    if "pose2d" in reference and "pose2d" in candidate:
        ref2, cand2 = _pair(reference, candidate, "pose2d", 2)
        report["pose2d_max_px"] = _finite_max(np.linalg.norm(cand2 - ref2, axis=-1))
    return report


def refuse_precision(report: dict[str, float], tolerance_mm: float, precision: str = "candidate") -> str | None:
    """The reason to refuse ``precision`` (its worst pose3d error exceeds ``tolerance_mm``), or None to accept.

    E.g. ``"fp16 pose error 7.2 mm > 5.0 mm tolerance"``.
    """
    if not tolerance_mm > 0:
        raise ValueError(f"tolerance_mm must be > 0, got {tolerance_mm}")
    err = float(report["pose3d_max_mm"])
    if math.isfinite(err) and err <= tolerance_mm:
        return None
    return f"{precision} pose error {err:.1f} mm > {tolerance_mm:.1f} mm tolerance"
