"""MediaPipe's person detector (BlazePose's ``pose_detection.tflite``) as the pose network's box detector.

The detector tvstream trained itself learnt people from rendered bodies and finds real ones badly (held-out
camera clips: box IoU 0.02-0.44 against MediaPipe Heavy's, where the pose head on the right box scores 0.69).
MediaPipe's detector (Apache-2.0, in the wheel the teacher installs) was trained on real people. It is an SSD:
on its input, three maps at strides 8, 16 and 32 score 2, 2 and 6 anchors per cell (all centred on their cell,
unit size) and regress, in input pixels, a box and four keypoints per anchor: the mid-hip point, a point on
the circle around the whole body, the mid-shoulder point and a point on the circle around the upper body.
MediaPipe's pose pipeline crops a square of side ``2 x 1.25 x |circle point - hip|`` around the hip; so does
this one (``size`` scales it; ``crop_scale`` of ``train.posenet.model`` applies the 1.25).

The network is fully convolutional, so it can read the whole working frame at 128 x 224 (16:9, the same pixel
scale as MediaPipe's 224 x 224 letterbox, without the bars), or (``PoseNetConfig.person_view`` "square", the
default model since session 23) a 224 x 224 view of the square around the source's picture, as MediaPipe
letterboxes it: a portrait clip's picture is a third of the 16:9 frame's width, and its people 1.75x larger in
their own square. The crop's box is the keypoints of the best anchor,
averaged with those of the anchors whose boxes overlap it by IoU > 0.3 and score at least half as high, weighted
by their scores (MediaPipe's weighted non-maximum suppression, for the one person a crop takes). How the pose
network combines it with its own detector: ``train.posenet.model.PoseNet``.

The structure is committed beside this file (``blazepose_detector.json``, :func:`write_spec`); the weights come
from the ``.tflite`` file when a model is built (:func:`load_detector_weights`), then live in its checkpoint.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from torch import nn

from train.pretrained.tflite_graph import TfliteGraph, concatenated_maps, read_tflite

DETECTOR_FILE = "pose_detection.tflite"
SPEC_PATH = Path(__file__).parent / "blazepose_detector.json"
STRIDES = (8, 16, 32)  # of the three heads, in the file's output order
SCORE_CLIP = 100.0  # MediaPipe clips raw scores to +-100 before the sigmoid
NMS_IOU = 0.3  # anchors overlapping the best one by more than this are averaged with it (weighted NMS)
NMS_SCORE = 0.5  # ... when their score is at least this share of the best one's (MediaPipe: above 0.5; the many
# faint anchors of a frame without a clear person would otherwise outweigh the best)


def _read(path: str | os.PathLike) -> tuple[dict, dict[str, torch.Tensor]]:
    # the file reshapes and concatenates its per-level maps into Identity_1 (scores) and Identity (boxes, keypoints)
    scores, boxes = (concatenated_maps(path, output, len(STRIDES)) for output in ("Identity_1", "Identity"))
    heads = [name for pair in zip(scores, boxes) for name in pair]  # score 8, box 8, score 16, ...
    return read_tflite(path, heads[0], also=heads[1:])


def write_spec(path: str | os.PathLike) -> Path:
    """Write the detector's structure, read from ``path``, beside this module."""
    SPEC_PATH.write_text(json.dumps(_read(path)[0], separators=(",", ":")) + "\n")
    return SPEC_PATH


def find_detector_tflite() -> Path:
    """``pose_detection.tflite``: in ``$TVSTREAM_BLAZEPOSE_DIR``, else in the teacher venv's MediaPipe wheel."""
    from train.pretrained.mediapipe import PATH_ENV
    from tvstream.errors import TeacherError

    folder = os.environ.get(PATH_ENV)
    if folder:
        path = Path(folder) / DETECTOR_FILE
    else:
        from tvstream.teacher.install import find_teacher_python, model_folder

        path = model_folder(find_teacher_python()).parent / "pose_detection" / DETECTOR_FILE
    if not path.is_file():
        raise TeacherError(f"{DETECTOR_FILE} not found at {path} (install the teacher: tvstream teacher install, "
                           f"or set ${PATH_ENV} to a folder holding it)")
    return path


def _anchor_centres(h: int, w: int, like: torch.Tensor) -> torch.Tensor:
    """(h * w, 2) pixel (x, y) centres of an h x w map's cells, row-major (the order of the file's reshape)."""
    ys = (torch.arange(h, device=like.device, dtype=like.dtype) + 0.5) / h
    xs = (torch.arange(w, device=like.device, dtype=like.dtype) + 0.5) / w
    return torch.stack([xs[None, :].expand(h, w), ys[:, None].expand(h, w)], -1).reshape(-1, 2)


class BlazePoseDetector(nn.Module):
    """(N, 3, h, 224) frames in [0, 1] (128 high: a 16:9 frame; 224: MediaPipe's own square input) -> for each of
    the best-scored persons, ``centre (N, 2)``, ``half (N, 2)`` (normalised over the input, -1..1, as
    :class:`train.posenet.model.BoxDetector`'s), its score's logit and its turn."""

    def __init__(self, size: float = 1.0) -> None:
        super().__init__()
        spec = json.loads(SPEC_PATH.read_text())
        self.graph = TfliteGraph(spec, taps=tuple(spec["also"]))
        self.size = size  # the half-size is this times the whole-body circle's radius

    def load_tflite(self, path: str | os.PathLike | None = None) -> None:
        path = path or find_detector_tflite()
        spec, state = _read(path)
        if spec["nodes"] != self.graph.spec["nodes"]:
            raise ValueError(f"{path}: not the detector network this model was written from")
        self.graph.load_tflite_state(state)

    def anchors(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """-> per anchor (all levels, the file's order): ``logit (N, A)``, ``hip (N, A, 2)``, ``circle (N, A, 2)``
        points and ``box (N, A, 4)`` (x0, y0, x1, y1), all in normalised frame coordinates."""
        maps = self.graph(x * 2.0 - 1.0)  # MediaPipe's detector reads RGB in [-1, 1]
        h, w = x.shape[-2:]
        px = x.new_tensor([2.0 / w, 2.0 / h])  # input pixels -> normalised units
        logits, raws, centres = [], [], []
        for score, box in zip(maps[0::2], maps[1::2]):
            n, a, mh, mw = score.shape
            logits.append(score.permute(0, 2, 3, 1).reshape(n, mh * mw * a))
            raws.append(box.permute(0, 2, 3, 1).reshape(n, mh * mw * a, 12))
            centres.append(_anchor_centres(mh, mw, x).repeat_interleave(a, 0) * 2.0 - 1.0)
        logit = torch.cat(logits, 1).clamp(-SCORE_CLIP, SCORE_CLIP)
        raw = torch.cat(raws, 1) * px.repeat(6)  # (N, A, 12): box cx, cy, w, h, then 4 keypoints (x, y)
        anchor = torch.cat(centres, 0)  # (A, 2)
        centre = anchor + raw[..., 0:2]
        box = torch.cat([centre - raw[..., 2:4] / 2, centre + raw[..., 2:4] / 2], -1)
        return logit, anchor + raw[..., 4:6], anchor + raw[..., 6:8], box

    def _half(self, hip: torch.Tensor, circle: torch.Tensor, aspect: float) -> torch.Tensor:
        """Hip and circle points (..., 2) normalised -> (..., 2) normalised half-sizes of a square box."""
        d = (circle - hip) * hip.new_tensor([1.0, 1.0 / aspect])  # in units of the frame's width / 2
        r = self.size * torch.sqrt((d * d).sum(-1) + 1e-12)
        return torch.stack([r, r * aspect], -1)

    def forward(self, x: torch.Tensor, people: int = 1) -> list[tuple[torch.Tensor, ...]]:
        """-> the ``people`` best-scored persons, best first, each as its ``centre (N, 2)`` (hip point), ``half (N,
        2)``, best anchor's ``logit (N,)`` and the body's turn ``(N, 2)`` = ``(cos a, sin a)`` of the angle ``a``
        from upright of the hip-to-circle direction in pixels (MediaPipe's region of interest turns by it:
        ``train.models.spatial.crop``). MediaPipe's weighted non-maximum suppression, taken that many rounds: each
        round's best anchor is the best of those no earlier person's best box overlaps by IoU > ``NMS_IOU``,
        averaged with the anchors its box overlaps (and no earlier one's does) scoring at least ``NMS_SCORE`` of
        it. Where the frame holds fewer people the later ones are the best faint anchors left, their logits low."""
        logit, hip, circle, box = self.anchors(x)
        aspect = x.shape[-1] / x.shape[-2]  # a normalised unit in y is this many in x, in pixels
        score = torch.sigmoid(logit)
        area = (box[..., 2:] - box[..., :2]).clamp(min=0).prod(-1)
        free = None  # (N, A) anchors no earlier person's group holds (None: every anchor, the first round)
        found = []
        for _ in range(people):
            masked = logit if free is None else torch.where(free, logit, logit.new_tensor(-2 * SCORE_CLIP))
            best = masked.argmax(1)  # (N,)
            top = box.gather(1, best[:, None, None].expand(-1, 1, 4))  # (N, 1, 4)
            lo, hi = torch.maximum(box[..., :2], top[..., :2]), torch.minimum(box[..., 2:], top[..., 2:])
            inter = (hi - lo).clamp(min=0).prod(-1)
            iou = inter / (area + area.gather(1, best[:, None]) - inter + 1e-9)
            group = iou > NMS_IOU if free is None else free & (iou > NMS_IOU)
            weight = score * (group & (score >= NMS_SCORE * score.gather(1, best[:, None]))).to(x.dtype)
            weight = weight / weight.sum(1, keepdim=True).clamp(min=1e-9)  # (N, A); the best anchor is always in
            hip_c, circle_c = (weight[..., None] * hip).sum(1), (weight[..., None] * circle).sum(1)
            up = (circle_c - hip_c) * x.new_tensor([x.shape[-1], x.shape[-2]])  # (N, 2) input pixels (y down)
            turn = torch.stack([-up[:, 1], up[:, 0]], 1) / torch.sqrt((up * up).sum(1, keepdim=True) + 1e-12)
            found.append((hip_c, self._half(hip_c, circle_c, aspect), logit.gather(1, best[:, None])[:, 0], turn))
            if len(found) < people:  # the next round's anchors
                free = ~group if free is None else free & ~group
        return found


def main(argv: list[str] | None = None) -> None:
    import argparse

    ap = argparse.ArgumentParser(description=f"write {SPEC_PATH.name} from MediaPipe's {DETECTOR_FILE}")
    ap.add_argument("--file", type=Path, default=None, help="the .tflite file (default: the teacher venv's)")
    print(write_spec(ap.parse_args(argv).file or find_detector_tflite()))


if __name__ == "__main__":
    main()
