"""The label format: one ``.npz`` per video, and hand labels for user footage in JSON.

Per-video ``.npz`` (what ``tvstream synth`` writes and every loader reads):

=============  ===========  =====================================================================
field          shape        meaning
=============  ===========  =====================================================================
``joints3d``   (N, K, 3)    camera frame, millimetres, x right / y down / z forward; NaN = unknown
``joints2d``   (N, K, 2)    source-video pixels (u right, v down)
``box``        (N, 4)       subject box in source pixels ``[x0, y0, x1, y1]``
``visible``    (N, K)       bool, joint in view and not occluded
``K``          (3, 3)       camera intrinsics (pixels)
``R``, ``t``   (3, 3), (3,) extrinsics: ``X_cam = R @ X_world + t`` (t in mm)
``subject``    ()           subject id (str)
``sequence``   ()           sequence id (str); synchronised cameras share it and the frame index
``camera``     ()           camera id (str)
``frames``     (N,)         optional: video frame index of each row (default ``0..N-1``)
``K_frames``,  (N, 3, 3),   optional, moving cameras (pan/zoom): per-row intrinsics and extrinsics;
``R_frames``,  (N, 3, 3),   ``K``, ``R``, ``t`` then hold the first row's
``t_frames``   (N, 3)
``joint_names``(K,)         optional: must equal the skeleton's names when present
=============  ===========  =====================================================================

Hand labels (JSON, ``"schema": "tvstream.handlabels/1"``) carry the same fields per labeled frame;
a frame may give only ``joints2d`` (it then feeds the weak-2D loss), ``joints3d`` is optional. Files written
by a teacher (``tvstream label``, :mod:`tvstream.teacher.labeling`) add a per-joint ``confidence`` and mark
frames where it found nobody as ``{"frame": i, "found": false}``; those frames are skipped on loading.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from collections.abc import Mapping, Sequence

import numpy as np

from tvstream.errors import LabelError
from tvstream.json_documents import read_document
from tvstream.skeleton import H36M_17, Skeleton

HANDLABELS_SCHEMA = "tvstream.handlabels/1"


@dataclass(frozen=True)
class CameraParams:
    """Pinhole camera: intrinsics ``K`` (3, 3) in pixels, extrinsics ``R`` (3, 3) and ``t`` (3,) in mm."""

    K: np.ndarray
    R: np.ndarray
    t: np.ndarray

    def project(self, points_cam: np.ndarray) -> np.ndarray:
        """Pixels (..., 2) of camera-frame points (..., 3) in mm."""
        uvw = points_cam @ self.K.T  # (..., 3)
        return uvw[..., :2] / uvw[..., 2:3]


@dataclass(frozen=True, eq=False)
class VideoLabels:
    """Labels of some frames of one video (see the module docstring for units and shapes)."""

    frames: np.ndarray  # (N,) int64, sorted, unique
    joints3d: np.ndarray  # (N, K, 3) float32 mm, NaN rows where only 2D is known
    joints2d: np.ndarray  # (N, K, 2) float32 pixels
    box: np.ndarray  # (N, 4) float32 pixels
    visible: np.ndarray  # (N, K) bool
    camera: CameraParams | None = None
    subject: str = ""
    sequence: str = ""
    camera_id: str = ""
    frame_cameras: CameraParams | None = None  # moving camera: K (N, 3, 3), R (N, 3, 3), t (N, 3)
    confidence: np.ndarray | None = None  # (N, K) float32 in [0, 1]: a teacher's per-joint confidence

    def camera_at(self, row: int) -> CameraParams | None:
        """The camera of label row ``row`` (the per-row one for a moving camera)."""
        if self.frame_cameras is not None:
            fc = self.frame_cameras
            return CameraParams(K=fc.K[row], R=fc.R[row], t=fc.t[row])
        return self.camera

    @property
    def has_3d(self) -> np.ndarray:
        """(N,) bool: rows whose 3D joints are all known."""
        return np.isfinite(self.joints3d).all(axis=(1, 2))

    def __len__(self) -> int:
        return len(self.frames)

    def take(self, rows: np.ndarray) -> VideoLabels:
        """These labels on ``rows`` alone (a bool mask or row indices): every per-row field, the per-row cameras
        and confidence included, indexed alike; the ids and the fixed camera kept."""
        cams = self.frame_cameras
        return replace(self, frames=self.frames[rows], joints3d=self.joints3d[rows], joints2d=self.joints2d[rows],
                       box=self.box[rows], visible=self.visible[rows],
                       confidence=None if self.confidence is None else self.confidence[rows],
                       frame_cameras=None if cams is None else CameraParams(K=cams.K[rows], R=cams.R[rows],
                                                                            t=cams.t[rows]))

    def rows(self, frame_indices: np.ndarray) -> np.ndarray:
        """Row of each video frame index in these labels, -1 where the frame is not labeled."""
        frame_indices = np.asarray(frame_indices, dtype=np.int64)
        pos = np.searchsorted(self.frames, frame_indices)
        pos = np.clip(pos, 0, max(len(self.frames) - 1, 0))
        hit = (len(self.frames) > 0) & (self.frames[pos] == frame_indices)
        return np.where(hit, pos, -1)


# ----------------------------------------------------------------------------------------- checks


def _check_array(
    source: str, name: str, value: Any, shape: Sequence[int | None], kind: str
) -> np.ndarray:
    """Return ``value`` as an array of ``shape`` (None = any length) and dtype kind, or raise LabelError.

    ``kind`` is ``"f"`` (float, ints accepted), ``"i"`` (integer) or ``"b"`` (bool, 0/1 ints accepted).
    """
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:  # ragged nested lists
        raise LabelError(f"{source}: field '{name}' is not a regular array ({exc})") from None
    want = "(" + ", ".join("N" if s is None else str(s) for s in shape) + ")"
    if arr.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, arr.shape)):
        raise LabelError(f"{source}: field '{name}' has shape {tuple(arr.shape)}, expected {want}")
    ok = {
        "f": arr.dtype.kind in "fiu",
        "i": arr.dtype.kind in "iu",
        "b": arr.dtype.kind == "b" or (arr.dtype.kind in "iu" and np.isin(arr, (0, 1)).all()),
    }[kind]
    if not ok:
        raise LabelError(f"{source}: field '{name}' has dtype {arr.dtype}, expected "
                         + {"f": "a number", "i": "an integer", "b": "bool"}[kind])
    return {"f": arr.astype(np.float32), "i": arr.astype(np.int64), "b": arr.astype(bool)}[kind]


def _check_string(source: str, name: str, value: Any) -> str:
    arr = np.asarray(value)
    if arr.ndim != 0 or arr.dtype.kind not in "US":
        raise LabelError(f"{source}: field '{name}' must be a string, got {arr.dtype} {arr.shape}")
    return str(arr)


def _check_consistent(source: str, labels: VideoLabels, skeleton: Skeleton) -> VideoLabels:
    n, k = len(labels.frames), skeleton.num_joints
    for name in ("joints3d", "joints2d", "box", "visible"):
        arr = getattr(labels, name)
        if arr.shape[0] != n:
            raise LabelError(f"{source}: field '{name}' has {arr.shape[0]} rows, 'frames' has {n}")
        if name != "box" and arr.shape[1] != k:
            raise LabelError(f"{source}: field '{name}' has {arr.shape[1]} joints, expected {k}")
    if n and (np.diff(labels.frames) <= 0).any():
        raise LabelError(f"{source}: field 'frames' must be strictly increasing")
    if n and labels.frames[0] < 0:
        raise LabelError(f"{source}: field 'frames' has a negative frame index")
    if not np.isfinite(labels.joints2d).all():
        raise LabelError(f"{source}: field 'joints2d' has non-finite values (mark joints with 'visible')")
    if not np.isfinite(labels.box).all() or (labels.box[:, 2:] < labels.box[:, :2]).any():
        raise LabelError(f"{source}: field 'box' needs finite [x0, y0, x1, y1] with x1 >= x0, y1 >= y0")
    return labels


def _check_camera(source: str, fields: Mapping[str, Any], prefix: str = "") -> CameraParams:
    return CameraParams(
        K=_check_array(source, prefix + "K", fields["K"], (3, 3), "f"),
        R=_check_array(source, prefix + "R", fields["R"], (3, 3), "f"),
        t=_check_array(source, prefix + "t", fields["t"], (3,), "f"),
    )


def _check_joint_names(source: str, field: str, names: Any, skeleton: Skeleton) -> None:
    got = tuple(str(n) for n in np.asarray(names).reshape(-1))
    if got != skeleton.names:
        raise LabelError(f"{source}: field '{field}' is {list(got)}, expected {list(skeleton.names)}")


# ------------------------------------------------------------------------------------- npz files

_NPZ_REQUIRED = ("joints3d", "joints2d", "box", "visible", "K", "R", "t", "subject", "sequence", "camera")


def load_labels(path: str | os.PathLike, skeleton: Skeleton = H36M_17) -> VideoLabels:
    """Read and validate a per-video label ``.npz``; raises LabelError naming the first bad field."""
    path = Path(path)
    src = str(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {name: npz[name] for name in npz.files}
    except FileNotFoundError:
        raise LabelError(f"{src}: no such label file") from None
    except (OSError, ValueError, EOFError) as exc:
        raise LabelError(f"{src}: not a readable .npz label file ({exc})") from None
    missing = [f for f in _NPZ_REQUIRED if f not in data]
    if missing:
        raise LabelError(f"{src}: missing field '{missing[0]}' (required: {', '.join(_NPZ_REQUIRED)})")
    k = skeleton.num_joints
    if "joint_names" in data:
        _check_joint_names(src, "joint_names", data["joint_names"], skeleton)
    joints3d = _check_array(src, "joints3d", data["joints3d"], (None, k, 3), "f")
    n = joints3d.shape[0]
    frames = (_check_array(src, "frames", data["frames"], (None,), "i") if "frames" in data
              else np.arange(n, dtype=np.int64))
    frame_cameras = None
    if any(f in data for f in ("K_frames", "R_frames", "t_frames")):
        missing = [f for f in ("K_frames", "R_frames", "t_frames") if f not in data]
        if missing:
            raise LabelError(f"{src}: missing field '{missing[0]}' (moving cameras need K_frames, R_frames, t_frames)")
        frame_cameras = CameraParams(
            K=_check_array(src, "K_frames", data["K_frames"], (n, 3, 3), "f"),
            R=_check_array(src, "R_frames", data["R_frames"], (n, 3, 3), "f"),
            t=_check_array(src, "t_frames", data["t_frames"], (n, 3), "f"),
        )
    labels = VideoLabels(
        frames=frames,
        joints3d=joints3d,
        joints2d=_check_array(src, "joints2d", data["joints2d"], (None, k, 2), "f"),
        box=_check_array(src, "box", data["box"], (None, 4), "f"),
        visible=_check_array(src, "visible", data["visible"], (None, k), "b"),
        camera=_check_camera(src, data),
        subject=_check_string(src, "subject", data["subject"]),
        sequence=_check_string(src, "sequence", data["sequence"]),
        camera_id=_check_string(src, "camera", data["camera"]),
        frame_cameras=frame_cameras,
    )
    return _check_consistent(src, labels, skeleton)


def save_labels(path: str | os.PathLike, labels: VideoLabels, skeleton: Skeleton = H36M_17) -> None:
    """Write ``labels`` as a per-video ``.npz`` atomically (temp file, then rename)."""
    if labels.camera is None:
        raise LabelError(f"{path}: per-video labels need camera parameters K, R, t")
    _check_consistent(str(path), labels, skeleton)
    arrays = {
        "frames": labels.frames.astype(np.int64),
        "joints3d": labels.joints3d.astype(np.float32),
        "joints2d": labels.joints2d.astype(np.float32),
        "box": labels.box.astype(np.float32),
        "visible": labels.visible.astype(bool),
        "K": labels.camera.K, "R": labels.camera.R, "t": labels.camera.t,
        "subject": np.array(labels.subject), "sequence": np.array(labels.sequence),
        "camera": np.array(labels.camera_id), "joint_names": np.array(skeleton.names),
    }
    if labels.frame_cameras is not None:
        fc = labels.frame_cameras
        arrays.update(K_frames=fc.K.astype(np.float32), R_frames=fc.R.astype(np.float32),
                      t_frames=fc.t.astype(np.float32))
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    _write_npz_reproducibly(tmp, arrays)
    os.replace(tmp, path)


def _write_npz_reproducibly(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Like ``np.savez_compressed`` but byte-identical for identical arrays (fixed zip timestamps)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, arr in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asanyarray(arr), allow_pickle=False)


# ------------------------------------------------------------------------------ hand-label JSON


# How far the rendered athletes' boxes (their silhouettes) reach beyond their joints, per side, as a share of
# the joints' extent: median over 2229 fully visible frames of 7 world shards (x 0.128, y 0.043; the head
# joint is the top of the head, so only the feet and hands reach past the joints). A box made from joints (hand
# labels, a teacher's pseudo-labels) follows the convention the detector was trained on: with 0.15 on both axes
# it was 13-18% taller, and a detector adapted on MediaPipe's labels learnt taller boxes.
JOINT_BOX_MARGIN = (0.13, 0.04)


def box_from_joints(joints2d: np.ndarray, visible: np.ndarray | None = None,
                    margin: tuple[float, float] = JOINT_BOX_MARGIN) -> np.ndarray:
    """Box ``[x0, y0, x1, y1]`` around the visible 2D joints (K, 2) (None: every joint), grown per side by
    ``margin`` (x, y) times the joints' extent on that axis."""
    pts = joints2d if visible is None or not visible.any() else joints2d[visible]
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    pad = (hi - lo) * np.asarray(margin, np.float32)
    return np.concatenate([lo - pad, hi + pad]).astype(np.float32)


def load_hand_labels(path: str | os.PathLike, skeleton: Skeleton = H36M_17) -> VideoLabels:
    """Read and validate a hand-label JSON file; raises LabelError naming the bad field.

    The file looks like::

        {"schema": "tvstream.handlabels/1", "video": "clip.mp4", "joints": [17 names],
         "camera": {"K": [[...]], "R": [[...]], "t": [...]},            # optional
         "subject": "s1", "sequence": "clip", "camera_id": "0",         # optional
         "frames": [{"frame": 12, "joints2d": [[u, v], ...],            # required per frame
                     "joints3d": [[x, y, z], ...], "visible": [...], "box": [x0, y0, x1, y1],
                     "confidence": [...]}]}                              # confidence: optional

    Frames with ``"found": false`` (a teacher found nobody there) carry no joints and are skipped.
    ``confidence`` is kept only when every loaded frame has it.
    """
    path = Path(path)
    src = str(path)
    doc = read_document(path, "hand-label file", HANDLABELS_SCHEMA)
    for field in ("joints", "frames"):
        if field not in doc:
            raise LabelError(f"{src}: missing field '{field}'")
    _check_joint_names(src, "joints", doc["joints"], skeleton)
    if not isinstance(doc["frames"], list):
        raise LabelError(f"{src}: field 'frames' must be a list")
    k = skeleton.num_joints
    frames, j3, j2, vis, boxes, conf = [], [], [], [], [], []
    for i, item in enumerate(doc["frames"]):
        where = f"frames[{i}]"
        if not isinstance(item, dict):
            raise LabelError(f"{src}: field '{where}' must be an object")
        if item.get("found", True) is False:
            continue
        for field in ("frame", "joints2d"):
            if field not in item:
                raise LabelError(f"{src}: missing field '{where}.{field}'")
        frame = _check_array(src, f"{where}.frame", item["frame"], (), "i")
        uv = _check_array(src, f"{where}.joints2d", item["joints2d"], (k, 2), "f")
        xyz = (_check_array(src, f"{where}.joints3d", item["joints3d"], (k, 3), "f")
               if item.get("joints3d") is not None else np.full((k, 3), np.nan, np.float32))
        visible = (_check_array(src, f"{where}.visible", item["visible"], (k,), "b")
                   if "visible" in item else np.ones(k, bool))
        box = (_check_array(src, f"{where}.box", item["box"], (4,), "f")
               if "box" in item else box_from_joints(uv, visible))
        if item.get("confidence") is not None:
            conf.append(_check_array(src, f"{where}.confidence", item["confidence"], (k,), "f"))
        frames.append(int(frame))
        j3.append(xyz)
        j2.append(uv)
        vis.append(visible)
        boxes.append(box)
    order = np.argsort(np.asarray(frames, dtype=np.int64), kind="stable")

    def stack(rows: list[np.ndarray], shape: tuple[int, ...], dtype: type) -> np.ndarray:
        return np.stack(rows)[order] if rows else np.zeros((0, *shape), dtype)

    camera = None
    if doc.get("camera") is not None:
        cam = doc["camera"]
        missing = [f for f in ("K", "R", "t") if not isinstance(cam, dict) or f not in cam]
        if missing:
            raise LabelError(f"{src}: missing field 'camera.{missing[0]}'")
        camera = _check_camera(src, cam, prefix="camera.")
    stem = Path(str(doc.get("video", path.stem))).stem
    labels = VideoLabels(
        frames=np.asarray(frames, dtype=np.int64)[order],
        joints3d=stack(j3, (k, 3), np.float32),
        joints2d=stack(j2, (k, 2), np.float32),
        box=stack(boxes, (4,), np.float32),
        visible=stack(vis, (k,), bool),
        camera=camera,
        subject=str(doc.get("subject", "")),
        sequence=str(doc.get("sequence", stem)),
        camera_id=str(doc.get("camera_id", "0")),
        confidence=stack(conf, (k,), np.float32) if conf and len(conf) == len(frames) else None,
    )
    return _check_consistent(src, labels, skeleton)


def load_any_labels(path: str | os.PathLike, skeleton: Skeleton = H36M_17) -> VideoLabels:
    """Load a ``.npz`` label file or a hand-label ``.json`` by its extension."""
    suffix = Path(path).suffix.lower()
    if suffix == ".npz":
        return load_labels(path, skeleton)
    if suffix == ".json":
        return load_hand_labels(path, skeleton)
    raise LabelError(f"{path}: unknown label format {suffix!r} (expected .npz or .json)")
