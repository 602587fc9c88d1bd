"""The camera a run sees through: intrinsics ``K`` in source pixels and, optionally, the ground plane.

``tvstream run`` gets ``K`` one of three ways, and the header's ``camera`` object says which:

- ``--camera FILE`` (``"file"``): a JSON object with at least ``K``, the 3x3 intrinsic matrix in source
  pixels (pixel centres at integers, as ``pose2d``)::

      {"K": [[fx, 0, cx], [0, fy, cy], [0, 0, 1]],
       "width": 1920, "height": 1080,                        # optional: the size K was calibrated at
       "ground": {"normal": [0, -1, 0], "point": [0, 1600, 0]}}  # optional, camera frame, mm

  ``ground`` is the floor as a plane in the camera frame (x right, y down, z forward, mm): any ``point`` on
  it and its ``normal`` pointing *up*, away from the floor (any length). Instead of ``ground`` the file may
  carry the labels' extrinsics ``R``, ``t`` (``X_cam = R @ X_world + t``, ``t`` in mm, world z up, the floor at
  world z = 0: what :mod:`tvstream.labels` and ``tvstream synth`` store), so a label file's camera is a camera
  file. When ``width``/``height`` differ from the video's, ``K`` is rescaled to it with a warning (right for
  a resized video, wrong for a cropped one).
- ``--fov DEG`` (``"fov"``): the horizontal field of view; ``K`` is a centred pinhole with square pixels.
- neither (``"assumed"``): :data:`DEFAULT_HFOV_DEG`.

A wrong focal length scales the root's depth by the same factor and leaves its x/y nearly as they are
(x = (u - cx) z / fx), so an assumed field of view gives a trajectory whose shape is right and whose depth is not.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tvstream.errors import CameraError
from tvstream.json_documents import read_json_object

log = logging.getLogger(__name__)

# Between a webcam or phone's main camera (65-75 degrees across) and a zoomed-in broadcast or sideline shot
# (10-40 degrees): the middle of the range footage comes in, so an unknown camera's depth is off by a factor
# within about 0.4x-2.5x rather than more.
DEFAULT_HFOV_DEG = 60.0
_KNOWN_FIELDS = {"K", "width", "height", "ground", "R", "t"}


@dataclass(frozen=True, eq=False)
class GroundPlane:
    """The floor in the camera frame: ``point`` (3,) on it in mm and unit ``normal`` (3,) pointing up."""

    normal: np.ndarray
    point: np.ndarray

    def height(self, points: np.ndarray) -> np.ndarray:
        """Signed distance (mm) above the plane of camera-frame points ``(..., 3)`` in mm."""
        return (np.asarray(points, dtype=np.float64) - self.point) @ self.normal

    def to_dict(self) -> dict[str, list[float]]:
        return {"normal": np.round(self.normal, 6).tolist(), "point": np.round(self.point, 1).tolist()}


@dataclass(frozen=True, eq=False)
class CameraFile:
    """What a ``--camera`` file says: ``K`` (3, 3), the size it was calibrated at (or None), the floor (or None)."""

    path: str
    K: np.ndarray
    size: tuple[int, int] | None = None  # (width, height)
    ground: GroundPlane | None = None


@dataclass(frozen=True, eq=False)
class SceneCamera:
    """The intrinsics used for one video, how they were obtained, and the floor when known."""

    K: np.ndarray  # (3, 3) source pixels
    width: int  # of the source frame, pixels
    intrinsics: str  # "file", "fov" or "assumed"
    ground: GroundPlane | None = None
    file: str | None = None
    calibrated_size: tuple[int, int] | None = None  # set when a file's K was rescaled to the video

    @property
    def hfov_deg(self) -> float:
        """Horizontal field of view (degrees) of the source frame, edge to edge (pixel centres at integers)."""
        fx, cx = self.K[0, 0], self.K[0, 2]
        return float(np.degrees(np.arctan((cx + 0.5) / fx) + np.arctan((self.width - 0.5 - cx) / fx)))

    def to_dict(self) -> dict[str, Any]:
        """The header's ``camera`` object."""
        out: dict[str, Any] = {"K": np.round(self.K, 3).tolist(), "intrinsics": self.intrinsics,
                               "hfov_deg": round(self.hfov_deg, 3)}
        if self.file is not None:
            out["file"] = self.file
        if self.calibrated_size is not None:
            out["calibrated_size"] = list(self.calibrated_size)
        if self.ground is not None:
            out["ground"] = self.ground.to_dict()
        return out


def fov_intrinsics(width: int, height: int, hfov_deg: float) -> np.ndarray:
    """``K`` (3, 3) of a centred pinhole with square pixels spanning ``hfov_deg`` across ``width`` pixels."""
    if not 1.0 <= hfov_deg <= 179.0:
        raise CameraError(f"the field of view must be in [1, 179] degrees, got {hfov_deg}")
    f = (width / 2) / math.tan(math.radians(hfov_deg) / 2)
    return np.array([[f, 0, (width - 1) / 2], [0, f, (height - 1) / 2], [0, 0, 1]], dtype=np.float64)


def _matrix(src: str, name: str, value: Any, shape: tuple[int, ...]) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise CameraError(f"{src}: field '{name}' must be numbers of shape {shape}") from None
    if arr.shape != shape or not np.isfinite(arr).all():
        raise CameraError(f"{src}: field '{name}' must be finite numbers of shape {shape}, got {arr.shape}")
    return arr


def _check_K(src: str, K: np.ndarray) -> np.ndarray:
    if not np.allclose(K[2], [0, 0, 1]) or K[1, 0] != 0:
        raise CameraError(f"{src}: field 'K' must be [[fx, s, cx], [0, fy, cy], [0, 0, 1]], got {K.tolist()}")
    if K[0, 0] <= 0 or K[1, 1] <= 0:
        raise CameraError(f"{src}: field 'K' needs positive focal lengths, got fx {K[0, 0]}, fy {K[1, 1]}")
    return K


def _ground(src: str, doc: dict[str, Any]) -> GroundPlane | None:
    has_rt = "R" in doc or "t" in doc
    if "ground" in doc and has_rt:
        raise CameraError(f"{src}: give the floor as 'ground' or as extrinsics 'R', 't', not both")
    if has_rt:
        if not ("R" in doc and "t" in doc):
            raise CameraError(f"{src}: extrinsics need both 'R' and 't'")
        R, t = _matrix(src, "R", doc["R"], (3, 3)), _matrix(src, "t", doc["t"], (3,))
        if not np.allclose(R @ R.T, np.eye(3), atol=1e-4) or np.linalg.det(R) < 0:
            raise CameraError(f"{src}: field 'R' must be a rotation matrix")
        return GroundPlane(normal=R[:, 2].copy(), point=t)  # world z axis and world origin, in the camera frame
    if "ground" not in doc:
        return None
    g = doc["ground"]
    if not isinstance(g, dict) or "normal" not in g or "point" not in g:
        raise CameraError(f"{src}: field 'ground' must be an object with 'normal' and 'point'")
    normal, point = _matrix(src, "ground.normal", g["normal"], (3,)), _matrix(src, "ground.point", g["point"], (3,))
    length = np.linalg.norm(normal)
    if length == 0:
        raise CameraError(f"{src}: field 'ground.normal' must not be zero")
    return GroundPlane(normal=normal / length, point=point)


def load_camera_file(path: str | os.PathLike) -> CameraFile:
    """Read and check a ``--camera`` file (see the module docstring); CameraError naming the first bad field."""
    src = str(path)
    doc = read_json_object(Path(path), "camera file", CameraError)
    if "K" not in doc:
        raise CameraError(f"{src}: missing field 'K' (the 3x3 intrinsic matrix in source pixels)")
    unknown = sorted(set(doc) - _KNOWN_FIELDS)
    if unknown:
        log.warning("%s: ignoring unknown camera fields %s (known: %s)", src, unknown, sorted(_KNOWN_FIELDS))
    K = _check_K(src, _matrix(src, "K", doc["K"], (3, 3)))
    size = None
    if "width" in doc or "height" in doc:
        w, h = doc.get("width"), doc.get("height")
        if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (w, h)):
            raise CameraError(f"{src}: 'width' and 'height' must both be positive integers, got {w}, {h}")
        size = (w, h)
    return CameraFile(path=src, K=K, size=size, ground=_ground(src, doc))


def rescale_intrinsics(K: np.ndarray, from_size: tuple[int, int], to_size: tuple[int, int]) -> np.ndarray:
    """``K`` of a ``from_size`` (width, height) image resized to ``to_size`` (pixel centres at integers)."""
    sx, sy = to_size[0] / from_size[0], to_size[1] / from_size[1]
    out = K.astype(np.float64).copy()
    out[0, :2] *= sx
    out[1, 1] *= sy
    out[0, 2] = (K[0, 2] + 0.5) * sx - 0.5
    out[1, 2] = (K[1, 2] + 0.5) * sy - 0.5
    return out


def scene_camera(width: int, height: int, file: CameraFile | None = None, fov: float | None = None) -> SceneCamera:
    """The camera of a ``width`` x ``height`` video: from ``file``, else from ``fov``, else the assumed field of view."""
    if file is not None and fov is not None:
        raise CameraError("give a camera file or a field of view, not both")
    if file is None:
        kind = "assumed" if fov is None else "fov"
        return SceneCamera(K=fov_intrinsics(width, height, DEFAULT_HFOV_DEG if fov is None else fov), width=width,
                           intrinsics=kind)
    if file.size is None or file.size == (width, height):
        return SceneCamera(K=file.K, width=width, intrinsics="file", ground=file.ground, file=file.path)
    (w0, h0) = file.size
    log.warning("%s: K was calibrated at %dx%d, the video is %dx%d; rescaling K (right for a resized video, not "
                "for a cropped one%s)", file.path, w0, h0, width, height,
                "; the aspect ratios differ" if abs(w0 * height - h0 * width) > 0.01 * w0 * height else "")
    return SceneCamera(K=rescale_intrinsics(file.K, file.size, (width, height)), width=width, intrinsics="file",
                       ground=file.ground, file=file.path, calibrated_size=file.size)
