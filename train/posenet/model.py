"""The localising pose network: box detector -> square crop -> heatmap 2D joints + location-map 3D joints.

- ``BoxDetector`` reads the 4x-downsampled frame; a centre heatmap at stride 8 (soft-argmax, so the box is
  translation-equivariant, not a global regression) and a log half-size map read at the same weights.
- ``PoseHead`` reads the crop: a reduced-width ResNet18 to stage 3 (stride 16), two bilinear x2 + conv
  blocks to stride-4 maps, then per joint a heatmap (soft-argmax: 2D in crop coordinates), three location
  maps (x, y, z in metres relative to the pelvis, read at the heatmap's weights, as VNect's location maps)
  and a confidence map (its weighted logit through a sigmoid).
- ``PretrainedPoseHead`` is the same head on a trunk trained on real people (MediaPipe BlazePose's landmark
  network, ``train.pretrained``): stride-4 features straight from its decoder.
- ``PoseNet`` joins them the way the exported graph runs: frames -> detect -> crop -> head; with MediaPipe's person
  detector (``train.pretrained.blazepose_detector``) beside the box detector when the config says so.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from train.models.backbone import ResNetTrunk
from train.models.spatial import crop, pixel_centres, turn_points
from train.posenet.config import PoseNetConfig
from tvstream.skeleton import CORE_JOINTS, H36M_17

MEAN = (0.45, 0.45, 0.45)
STD = (0.225, 0.225, 0.225)
INIT_HALF_SIZE = 0.25  # the detector starts at boxes a quarter of the frame
MIRROR = torch.as_tensor(H36M_17.flip_permutation())  # joint order of a mirrored read: left and right swapped
CORE = torch.as_tensor(CORE_JOINTS)  # the limbs' 12 joints, whose mean confidence says how sure a read is
PERSON_PEAK_LOGIT = 20.0  # MediaPipe's person in the detector map: above boxnet's athletes (13-17, candidates.py)


def _conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def _grid(height: int, width: int, like: torch.Tensor) -> torch.Tensor:
    """(H*W, 2) normalised (x, y) centres of an H x W map, row-major."""
    ys, xs = pixel_centres(height, like.device, like.dtype), pixel_centres(width, like.device, like.dtype)
    return torch.stack([xs[None, :].expand(height, width), ys[:, None].expand(height, width)], -1).reshape(-1, 2)


def _with_person(box_map: torch.Tensor, grid: torch.Tensor, centre: torch.Tensor, half: torch.Tensor,
                 sure: torch.Tensor, taken: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """A detector map ``(N, 3, h, w)`` (its ``grid``, :func:`_grid`) with a person of MediaPipe's detector at
    ``centre``, ``half`` (N, 2) where it is ``sure`` (N, 1; elsewhere the map as it was): a 1-cell Gaussian peak of
    ``PERSON_PEAK_LOGIT`` at its centre, read by ``tvstream.candidates`` as any other. Inside its box only its peak
    (boxnet's peaks there would look like someone overlapping it), save the cells ``taken`` (N, 1, h, w) by the
    boxes of persons placed before it, whose peaks stay; outside, boxnet's people stay (someone crossing is still
    seen). Returns the map and the cells taken with this person's box."""
    h, w = box_map.shape[-2:]
    offset = grid - centre[:, None, :]  # (N, h*w, 2) cell centres from the person's
    cells = offset * box_map.new_tensor([w / 2.0, h / 2.0])  # in cells
    peak = PERSON_PEAK_LOGIT - 0.5 * (cells * cells).sum(-1).reshape(-1, 1, h, w)
    box = (offset.abs().reshape(-1, h, w, 2) <= half[:, None, None, :]).all(-1)[:, None].to(box_map.dtype)
    inside = box if taken is None else box * (1 - taken)
    mine = torch.maximum(inside, (peak >= box_map[:, :1]).to(box_map.dtype))  # cells the person's peak owns
    person_map = torch.cat([inside * peak + (1 - inside) * torch.maximum(peak, box_map[:, :1]),
                            mine * torch.log(half)[:, :, None, None] + (1 - mine) * box_map[:, 1:]], 1)
    s = sure[:, :, None, None]
    mapped = s * person_map + (1 - s) * box_map
    return mapped, s * box if taken is None else torch.maximum(taken, s * box)


class _Stride16(nn.Module):
    """ResNet18 stem and stages 1-3 of ``width`` channels: (N, 3, H, W) -> stride-8 and stride-16 maps."""

    def __init__(self, width: int) -> None:
        super().__init__()
        trunk = ResNetTrunk(18, width)
        self.stem, self.s1, self.s2, self.s3 = trunk.stem, trunk.stages[0], trunk.stages[1], trunk.stages[2]
        self.out8, self.out16 = 2 * width, 4 * width

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f8 = self.s2(self.s1(self.stem(x)))  # (N, 2w, H/8, W/8)
        return f8, self.s3(f8)  # (N, 4w, H/16, W/16)


class BoxDetector(nn.Module):
    """(N, 3, h, w) normalised frames -> ``centre (N, 2)``, ``half (N, 2)`` normalised, and the raw map
    ``(N, 3, h/8, w/8)``: centre logits, log half-size x, log half-size y (the runtime finds every person's peak in it)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.trunk = _Stride16(width)
        c = self.trunk.out16
        self.lateral = nn.Conv2d(self.trunk.out8, c, 1)
        self.fuse = _conv_bn_relu(c, c)
        self.head = nn.Conv2d(c, 3, 1)  # centre logit, log half-size x, log half-size y
        nn.init.normal_(self.head.weight, std=1e-3)
        with torch.no_grad():
            self.head.bias.copy_(torch.tensor([0.0, *(2 * [float(torch.log(torch.tensor(INIT_HALF_SIZE)))])]))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        f8, f16 = self.trunk(x)
        f = self.fuse(self.lateral(f8) + F.interpolate(f16, size=f8.shape[-2:], mode="bilinear", align_corners=False))
        out = self.head(f)  # (N, 3, h8, w8)
        logits = out[:, 0].flatten(1)  # (N, h8*w8)
        p = torch.softmax(logits, dim=1)
        centre = p @ _grid(out.shape[2], out.shape[3], out)  # (N, 2)
        log_half = (out[:, 1:].flatten(2) * p[:, None, :]).sum(-1)  # (N, 2)
        return centre, torch.exp(log_half.clamp(-5, 1)), out


class PoseHead(nn.Module):
    """(N, 3, S, S) normalised crops -> 2D ``xy (N, K, 2)`` crop coords, 3D ``(N, K, 3)`` m, ``conf (N, K)``, logits.

    The logits are the heatmaps ``(N, K, (S/4)^2)`` before the softmax (the heatmap loss reads them).
    """

    def __init__(self, width: int, up_channels: int, joints: int) -> None:
        super().__init__()
        self.joints = joints
        self.trunk = _Stride16(width)
        self.up = nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                                _conv_bn_relu(self.trunk.out16, up_channels),
                                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                                _conv_bn_relu(up_channels, up_channels))
        self.out = nn.Conv2d(up_channels, 5 * joints, 1)  # heat K, location 3K, confidence K

    def maps(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 5K, S/4, S/4): heatmap logits, location maps (x, y, z per joint), confidence logits."""
        return self.out(self.up(self.trunk(x)[1]))

    def forward(self, x: torch.Tensor, with_presence: bool = False) -> tuple[torch.Tensor | None, ...]:
        """With ``with_presence`` also the presence logit: None, this head has no presence classifier."""
        out = self.read_maps(self.maps(x))
        return (*out, None) if with_presence else out

    def read_maps(self, o: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """:meth:`maps` ``(N, 5K, S/4, S/4)`` -> xy, xyz, conf, logits."""
        k = self.joints
        n, _, h, w = o.shape
        logits = o[:, :k].flatten(2)  # (N, K, h*w)
        p = torch.softmax(logits, dim=-1)
        xy = p @ _grid(h, w, o)  # (N, K, 2)
        loc = o[:, k:4 * k].reshape(n, k, 3, h * w)  # (N, K, 3, h*w)
        xyz = (loc * p[:, :, None, :]).sum(-1)  # (N, K, 3)
        conf = torch.sigmoid((o[:, 4 * k:].flatten(2) * p).sum(-1))  # (N, K)
        return xy, xyz, conf, logits


class PretrainedPoseHead(PoseHead):
    """:class:`PoseHead` on a trunk trained on real people (``train.pretrained.mediapipe``): its stride-4
    features give the heatmaps through ``heat`` (starting as MediaPipe's own heatmaps of the H36M joints,
    :meth:`load_pretrained`) and the location and confidence maps through one more conv block."""

    def __init__(self, trunk: str, up_channels: int, joints: int, presence: bool = False) -> None:
        nn.Module.__init__(self)
        from train.pretrained.mediapipe import BlazePoseTrunk

        self.joints = joints
        self.trunk = BlazePoseTrunk(trunk, MEAN, STD, presence=presence)
        c = self.trunk.channels
        self.heat = nn.Conv2d(c, joints, 1)
        self.up = _conv_bn_relu(c, up_channels)
        self.out = nn.Conv2d(up_channels, 4 * joints, 1)  # location 3K, confidence K

    def load_pretrained(self, tflite: str | None = None) -> None:
        from train.pretrained.mediapipe import load_weights

        load_weights(self.trunk, self.heat, tflite)

    def maps(self, x: torch.Tensor) -> torch.Tensor:
        return self._maps(self.trunk(x)[0])

    def _maps(self, f: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.heat(f), self.out(self.up(f))], 1)

    def forward(self, x: torch.Tensor, with_presence: bool = False) -> tuple[torch.Tensor | None, ...]:
        """As :class:`PoseHead`'s, with the trunk's presence classifier, if any, multiplying every joint's
        confidence; ``with_presence``: its logit (N, 1) or None too (training reads it)."""
        f, presence = self.trunk(x)
        xy, xyz, conf, logits = self.read_maps(self._maps(f))
        out = (xy, xyz, conf if presence is None else conf * torch.sigmoid(presence), logits)
        return (*out, presence) if with_presence else out


class LandmarkPoseHead(nn.Module):
    """(N, 3, 256, 256) normalised crops -> xy, xyz, conf as :class:`PoseHead`'s, read as MediaPipe reads people
    (:class:`train.pretrained.mediapipe.BlazePoseLandmarks`): each H36M joint is its ``tvstream.teacher.mapping``
    recipe of the regressed landmarks (2D), its confidence the smallest visibility of its landmarks times the
    presence flag; no heatmaps (logits None).

    The 3D (metres): with ``joints3d`` False the same recipe of MediaPipe's world landmarks; with ``joints3d``
    True a convolution of its own (``joints3d``, K x 3 outputs from the landmark network's last 2 x 2 map, the
    pelvis at 0), made as the world landmarks' recipe by :meth:`load_pretrained` and fitted to the joints by
    ``train.landmark_tune.readout3d`` (session 46: a fitted readout of the same features is 2-35 mm nearer)."""

    def __init__(self, trunk: str, joints: int, presence: bool = False, joints3d: bool = False) -> None:
        super().__init__()
        from train.pretrained.mediapipe import BlazePoseLandmarks
        from tvstream.teacher.mapping import NUM_LANDMARKS, USED, WEIGHTS

        if joints != WEIGHTS.shape[0]:
            raise ValueError(f"MediaPipe's landmarks map to {WEIGHTS.shape[0]} joints, not {joints}")
        self.joints, self.landmarks = joints, NUM_LANDMARKS
        self.trunk = BlazePoseLandmarks(trunk, MEAN, STD, presence=presence, world=not joints3d)
        self.joints3d = nn.Conv2d(self.trunk.channels, joints * 3, 2) if joints3d else None
        self.register_buffer("rows", torch.from_numpy(WEIGHTS).float(), persistent=False)  # (K, 33)
        self.register_buffer("unused", torch.from_numpy(~USED), persistent=False)  # (K, 33)

    def load_pretrained(self, tflite: str | None = None) -> None:
        from train.pretrained.mediapipe import load_landmark_weights

        world = load_landmark_weights(self.trunk, tflite)
        if self.joints3d is not None:
            self.joints3d_from_world(*world)

    @torch.no_grad()
    def joints3d_from_world(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        """Make ``joints3d`` read what the joints' recipes of the world landmarks read from the convolution
        ``weight (39 x 3, C, 2, 2)``, ``bias (39 x 3)`` (the 3D is then root-relative)."""
        m, k = self.landmarks, self.joints
        w = weight.reshape(-1, 3, *weight.shape[1:])[:m]  # (33, 3, C, 2, 2)
        b = bias.reshape(-1, 3)[:m]
        self.joints3d.weight.copy_(torch.einsum("km,mdchw->kdchw", self.rows, w).reshape(k * 3, *w.shape[2:]))
        self.joints3d.bias.copy_((self.rows @ b).reshape(-1))

    def forward(self, x: torch.Tensor, with_presence: bool = False) -> tuple[torch.Tensor | None, ...]:
        m, n = self.landmarks, x.shape[0]
        if self.joints3d is None:
            points, world, flag = self.trunk(x)
            xyz = self.rows @ world[:, :m]
        else:
            points, features, flag = self.trunk(x, features=True)
            xyz = self.joints3d(features).reshape(n, self.joints, 3)
            xyz = xyz - xyz[:, :1]
        xy = self.rows @ points[:, :m, :2] * (2.0 / x.shape[-1]) - 1.0  # recipes sum to 1: pixels -> [-1, 1]
        visibility = torch.sigmoid(points[:, None, :m, 3]).masked_fill(self.unused, 1.0)  # (N, K, 33)
        conf = visibility.amin(-1)
        out = (xy, xyz, conf if flag is None else conf * torch.sigmoid(flag), None)
        return (*out, flag) if with_presence else out


class Lifter(nn.Module):
    """2D joints and their confidence -> 3D joints (m, pelvis-relative): a small MLP as Martinez et al.'s simple
    baseline (an input layer, two residual blocks, an output layer), its layers 1 x 1 convolutions on (N, C, 1, 1)
    so that the exported graph's layers read back as every other (``train.posenet.from_onnx``).

    It reads the 2D in crop coordinates relative to the pelvis, so it learns depth from the 2D's shape alone: for a
    head whose 2D was learnt on real people and is kept (``part="lift"``) the 3D then depends on the picture only
    through that 2D, where rendered training pictures differ from real ones least."""

    def __init__(self, joints: int, width: int) -> None:
        super().__init__()
        self.joints = joints
        self.inp = nn.Conv2d(3 * joints, width, 1)
        self.blocks = nn.ModuleList([nn.Sequential(nn.Conv2d(width, width, 1), nn.ReLU(inplace=True),
                                                   nn.Conv2d(width, width, 1), nn.ReLU(inplace=True))
                                     for _ in range(2)])
        self.out = nn.Conv2d(width, 3 * joints, 1)

    def forward(self, xy: torch.Tensor, conf: torch.Tensor) -> torch.Tensor:
        """``xy (N, K, 2)`` crop coordinates, ``conf (N, K)`` -> ``(N, K, 3)`` metres, the pelvis (joint 0) at 0."""
        x = torch.cat([(xy - xy[:, :1]).flatten(1), conf], 1)[:, :, None, None]
        h = F.relu(self.inp(x))
        for block in self.blocks:
            h = h + block(h)
        xyz = self.out(h).reshape(-1, self.joints, 3)
        return xyz - xyz[:, :1]


def mirrored_back(v: torch.Tensor, n: int, negate_x: bool = True) -> torch.Tensor:
    """``v (2N, K, ...)``: N reads of crops, then N of the same crops mirrored -> ``(N, K, ...)`` the mirrored reads
    mirrored back: joints swapped left for right and, with ``negate_x``, their first coordinate (x) negated."""
    back = v[n:, MIRROR.to(v.device)]
    if negate_x:
        back = torch.cat([-back[..., :1], back[..., 1:]], -1)
    return back


def sides_agree(xy: torch.Tensor, n: int) -> torch.Tensor:
    """``xy (2N, K, 2)`` direct then mirrored reads -> ``(N,)`` bool: the mirrored read, mirrored back, lies at
    least as near the direct read with its joints swapped left for right as without (the two reads agree on which
    side is which; where they do not, the head cannot tell the person's front from their back)."""
    back = mirrored_back(xy, n)
    unswapped = back[:, MIRROR.to(xy.device)]
    return (xy[:n] - back).abs().sum((1, 2)) <= (xy[:n] - unswapped).abs().sum((1, 2))


def combine_both_ways(reads: tuple[torch.Tensor, ...], n: int, disagree: str = "mean") -> tuple[torch.Tensor, ...]:
    """``reads`` = xy (2N, K, 2), xyz (2N, K, 3), conf (2N, K): N crops read as they are, then mirrored -> the
    (N, ...) reads of the N crops: each the mean of its direct read and its mirrored read mirrored back; where
    the two disagree on the sides (:func:`sides_agree`), ``disagree`` "direct" keeps the direct read alone,
    "surer" the one of the two whose core joints are surer, "mean" the mean all the same."""
    xy, xyz, conf = reads
    back = mirrored_back(xy, n), mirrored_back(xyz, n), mirrored_back(conf, n, negate_x=False)
    means = tuple((v[:n] + b) / 2 for v, b in zip(reads, back))
    if disagree == "mean":
        return means
    direct = tuple(v[:n] for v in reads)
    if disagree == "surer":
        core = CORE.to(conf.device)
        mirror_surer = back[2][:, core].mean(1) > conf[:n, core].mean(1)  # (N,)
        direct = tuple(torch.where(mirror_surer.view(-1, *[1] * (v.dim() - 1)), b, v) for v, b in zip(direct, back))
    agree = sides_agree(xy, n)
    return tuple(torch.where(agree.view(-1, *[1] * (m.dim() - 1)), m, d) for m, d in zip(means, direct))


def crop_scale(half: torch.Tensor, frame_size: tuple[int, int], margin: float) -> torch.Tensor:
    """Box half-sizes (N, 2) normalised -> the (N, 2) scale of the square crop (in frame pixels) around it."""
    h, w = frame_size
    side = margin * torch.maximum(half[:, 0] * w, half[:, 1] * h)  # (N,) pixels
    return torch.stack([side / w, side / h], dim=1)


class PoseNet(nn.Module):
    """Detector + pose head, as they run per frame (``forward``) and as they train (``detect``, ``head``)."""

    def __init__(self, cfg: PoseNetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.detector = BoxDetector(cfg.detector_width)
        self.person_detector = None
        if cfg.detector == "boxnet+blazepose":
            from train.pretrained.blazepose_detector import BlazePoseDetector

            self.person_detector = BlazePoseDetector(cfg.detector_box_scale)
        if cfg.head_trunk == "resnet":
            self.head = PoseHead(cfg.width, cfg.up_channels, cfg.joints)
        elif cfg.head_read == "landmarks":
            self.head = LandmarkPoseHead(cfg.head_trunk, cfg.joints, cfg.presence, cfg.landmark_3d == "joints")
        else:
            self.head = PretrainedPoseHead(cfg.head_trunk, cfg.up_channels, cfg.joints, cfg.presence)
        # the 3D from the 2D (PoseNetConfig.lifter_width) instead of the head's location maps
        self.lifter = Lifter(cfg.joints, cfg.lifter_width) if cfg.lifter_width else None
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1))

    def normalise(self, x: torch.Tensor, pixel_max: float = 1.0) -> torch.Tensor:
        """[0, pixel_max] images -> the networks' input."""
        return ((x if pixel_max == 1.0 else x * (1.0 / pixel_max)) - self.mean) / self.std

    def detect(self, small: torch.Tensor, pixel_max: float = 1.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(N, 3, h, w) [0, pixel_max] frames at the detector's size -> centre, half, raw map (:class:`BoxDetector`)."""
        return self.detector(self.normalise(small, pixel_max))

    def person_input(self, frames: torch.Tensor, view: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
        """(N, 3, H, W) working frames -> what MediaPipe's person detector reads, and (square view) the ``(N, 4)``
        square it shows, to map its boxes back (None: the whole frame, whose units they already are).

        ``person_view`` "frame": the whole frame at 224 px wide. "square": a 224 x 224 view of the square in
        ``view (N, 4) [cx, cy, hx, hy]`` (a row whose ``hx`` is 0 reads the whole frame's width, centred, as
        MediaPipe letterboxes a frame of this aspect); zeros outside the frame, as MediaPipe's letterbox bars."""
        if self.cfg.person_view == "frame":  # 2x average (times frame_scale), then a 0.875 bilinear step
            return F.interpolate(F.avg_pool2d(frames, 2 * self.cfg.frame_scale), size=self.cfg.person_detector_size,
                                 mode="bilinear", align_corners=False), None
        h, w = self.cfg.frame_size
        whole = frames.new_tensor([0.0, 0.0, 1.0, w / h]).expand(frames.shape[0], 4)
        view = whole if view is None else torch.where(view[:, 2:3] > 0, view, whole)
        # sampled at twice the size from the full frame, then averaged: a 512 px wide frame is not aliased and a
        # portrait picture's 288 px are not blurred through a pooled frame first
        size = self.cfg.person_detector_size[1]
        return F.avg_pool2d(crop(frames, view[:, 2:], view[:, :2], 2 * size), 2), view

    def _person(self, frames: torch.Tensor, pixel_max: float, view: torch.Tensor | None,
                people: int = 1) -> list[tuple[torch.Tensor, ...]]:
        """MediaPipe's ``people`` best persons in ``view`` (:meth:`person_input`), best first, each as centre, half
        (the frame's normalised units), score (N,) and turn."""
        small, shown = self.person_input(frames, view)
        small = small if pixel_max == 1.0 else small * (1.0 / pixel_max)
        found = []
        for p_centre, p_half, p_logit, p_turn in self.person_detector(small, people):
            if shown is not None:  # the view's units -> the frame's
                p_centre, p_half = shown[:, :2] + p_centre * shown[:, 2:], p_half * shown[:, 2:]
            found.append((p_centre, p_half, torch.sigmoid(p_logit), p_turn))
        return found

    def find_person(self, frames: torch.Tensor, pixel_max: float = 1.0,
                    view: torch.Tensor | None = None) -> torch.Tensor:
        """(N, 3, H, W) frames -> MediaPipe's best person in each's ``view``, ``(N, 5)`` ``[score, cx, cy, hx, hy]``
        (what :meth:`detect_frames` returns as its person), without the box detector or the head: the second
        look's search in squares (``tvstream.pipeline``) needs nothing else."""
        p_centre, p_half, score, _ = self._person(frames, pixel_max, view)[0]
        return torch.cat([score[:, None], p_centre, p_half], 1)

    def detect_frames(self, frames: torch.Tensor, pixel_max: float = 1.0, person: bool = False,
                      view: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        """(N, 3, H, W) working frames -> centre, half, raw map of every detector the model has, combined; with
        ``person`` also MediaPipe's best person, sure or not, as ``(N, 5)`` ``[score, cx, cy, hx, hy]`` (score 0
        without that detector), for the runtime to try where the crop is unsure.

        With MediaPipe's person detector (``boxnet+blazepose``): where it is sure of a person (score >=
        ``detector_min_score``; MediaPipe's own threshold is 0.5) the box is its box, and the map gets that person
        as a peak at its centre (read by ``tvstream.candidates`` as any other) that replaces boxnet's peaks inside
        its box (a second peak on the same person would look like someone overlapping it) and leaves boxnet's
        people elsewhere (someone crossing). Where MediaPipe's is not sure, both are boxnet's, which still sees
        the rendered and small people MediaPipe's misses. With ``detector_people`` > 1 its next persons scoring >=
        ``detector_others_min_score`` become peaks too (:func:`_with_person`); the box stays its best person's.
        ``view``: :meth:`person_input`.

        Returns ``centre, half, map, turn`` (+ the person): ``turn (N, 2)`` is ``(cos a, sin a)`` of the body's angle
        from upright where MediaPipe's detector is sure (its hip-to-circle direction), ``(1, 0)`` elsewhere."""
        centre, half, box_map = self.detect(F.avg_pool2d(frames, self.cfg.detector_stride), pixel_max)
        upright = torch.cat([torch.ones_like(centre[:, :1]), torch.zeros_like(centre[:, :1])], 1)  # (N, 2)
        if self.person_detector is None:
            nobody = (torch.zeros_like(centre[:, :1]).repeat(1, 5),) if person else ()
            return (centre, half, box_map, upright) + nobody
        (p_centre, p_half, score, p_turn), *others = self._person(frames, pixel_max, view, self.cfg.detector_people)
        sure = (score >= self.cfg.detector_min_score).to(frames.dtype)[:, None]  # (N, 1)
        grid = _grid(*box_map.shape[-2:], box_map)
        person_map, taken = _with_person(box_map, grid, p_centre, p_half, sure)
        for o_centre, o_half, o_score, _ in others:  # the next persons it is sure of: peaks where they stand
            o_sure = (o_score >= self.cfg.detector_others_min_score).to(frames.dtype)[:, None] * sure
            person_map, taken = _with_person(person_map, grid, o_centre, o_half, o_sure, taken)
        found = (torch.cat([score[:, None], p_centre, p_half], 1),) if person else ()
        return (sure * p_centre + (1 - sure) * centre, sure * p_half + (1 - sure) * half,
                person_map, sure * p_turn + (1 - sure) * upright) + found

    def read_crop(self, crops: torch.Tensor, pixel_max: float = 1.0,
                  presence: bool = False) -> tuple[torch.Tensor, ...]:
        """(N, 3, S, S) [0, pixel_max] crops -> xy, xyz (m, pelvis-relative), conf, logits; with ``presence`` also
        the head's presence logit (N, 1), None for a head without one. With a :class:`Lifter` the 3D is its
        reading of the 2D and confidence (the location maps are not read)."""
        xy, xyz, conf, logits, flag = self.head(self.normalise(crops, pixel_max), with_presence=True)
        if self.lifter is not None:
            xyz = self.lifter(xy, conf)
        return (xy, xyz - xyz[:, :1], conf, logits) + ((flag,) if presence else ())

    def read_both_ways(self, crops: torch.Tensor, pixel_max: float = 1.0) -> tuple[torch.Tensor, ...]:
        """:meth:`read_crop`'s xy, xyz, conf of ``crops`` read as they are and mirrored (one batch through the head),
        the mirrored read mirrored back (left and right joints swapped, x negated) and the two averaged (where they
        disagree on the sides, as ``cfg.mirror_disagree`` says: :func:`combine_both_ways`)."""
        n = crops.shape[0]
        xy, xyz, conf, _ = self.read_crop(torch.cat([crops, crops.flip(-1)]), pixel_max)
        return combine_both_ways((xy, xyz, conf), n, self.cfg.mirror_disagree)

    def forward(self, frames: torch.Tensor, track: torch.Tensor | None = None, pixel_max: float = 1.0,
                person: bool = False):
        """(N, 3, H, W) [0, pixel_max] working frames -> centre, half, crop scale, xy, xyz, conf, detector map (and
        with ``person`` MediaPipe's best person, :meth:`detect_frames`).

        ``track (N, 5)`` = ``[use, cx, cy, hx, hy]``: where ``use`` is 1 the box comes from the runtime's
        tracker (the previous frame's joints) instead of the detector. ``pixel_max`` 255 lets the exported graph
        scale only the small frame and the crop, not the whole frame (pooling and cropping are linear).

        With ``crop_rotation`` the track row has a 6th number, the crop's angle on a tracked row (its half-size
        then in the turned crop's axes), and a detector row's crop turns as MediaPipe's person detector says; the
        returned ``xy`` (crop units) and ``xyz`` are turned back to the frame's axes and ``half`` is the turned
        box's bound, so the frame's joints are ``centre + scale * xy`` either way.
        """
        # a detector frame's track row may name the square MediaPipe's person detector reads (``person_view``)
        view = None if track is None or self.cfg.person_view == "frame" else \
            track[:, 1:5] * (track[:, :1] < 0.5).to(track.dtype)
        centre, half, box_map, turn, *found = self.detect_frames(frames, pixel_max, person, view)
        crop_half = half
        if track is not None:
            use = track[:, :1]
            centre = use * track[:, 1:3] + (1 - use) * centre
            half = crop_half = use * track[:, 3:5] + (1 - use) * half
            if self.cfg.crop_rotation:
                angle = track[:, 5:6]
                turn = use * torch.cat([torch.cos(angle), torch.sin(angle)], 1) + (1 - use) * turn
                half = use * self._bound(crop_half, turn) + (1 - use) * crop_half
        scale = crop_scale(crop_half, self.cfg.frame_size, self.cfg.box_margin)
        turn = turn if self.cfg.crop_rotation else None
        crops = crop(frames, scale, centre, self.cfg.crop_size, turn)  # (N, 3, S, S)
        if self.cfg.frame_scale > 1:  # a crop spanning over 1.5 frame pixels a sample is cut from the frame pooled
            # 2x (not aliased), as the 1x frame gives it; a smaller one from the full frame's detail
            pooled = crop(F.avg_pool2d(frames, 2), scale, centre, self.cfg.crop_size, turn)
            large = (scale[:, :1] * self.cfg.frame_size[1] > 1.5 * self.cfg.crop_size)[:, :, None, None]
            crops = torch.where(large, pooled, crops)
        xy, xyz, conf = self.read_both_ways(crops, pixel_max) if self.cfg.mirror_read else \
            self.read_crop(crops, pixel_max)[:3]
        if turn is not None:
            xy, xyz = turn_points(xy, turn), turn_points(xyz, turn)
        return (centre, half, scale, xy, xyz, conf, box_map, *found)

    def _bound(self, half: torch.Tensor, turn: torch.Tensor) -> torch.Tensor:
        """Half-sizes ``(N, 2)`` in a turned box's axes -> those of the upright box around it (normalised)."""
        h, w = self.cfg.frame_size
        px = half * half.new_tensor([w, h])  # (N, 2) in pixels (x 2: the normalised frame spans 2)
        c, s = turn[:, :1].abs(), turn[:, 1:].abs()
        return torch.cat([c * px[:, :1] + s * px[:, 1:], s * px[:, :1] + c * px[:, 1:]], 1) / half.new_tensor([w, h])
