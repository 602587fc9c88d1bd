"""Config of the localising pose network: frozen dataclasses, one preset per model size."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from tvstream.skeleton import NUM_JOINTS

HEAD_TRUNKS = ("resnet", "blazepose_lite", "blazepose_full")
HEAD_READS = ("heatmaps", "landmarks")  # PoseNetConfig.head_read
LANDMARK_3DS = ("world", "joints")  # PoseNetConfig.landmark_3d
LANDMARK_CROP = 256  # the crop MediaPipe's landmark regression reads (train.pretrained.mediapipe.LANDMARK_CROP)
# the box detector: "boxnet" (tvstream's own, trained on the synthetic world) or "boxnet+blazepose" (also MediaPipe's
# person detector, trained on real people, read from its file when a model is built and not trained here: its box
# where it is sure of a person, boxnet's elsewhere; train.posenet.model.PoseNet)
DETECTORS = ("boxnet", "boxnet+blazepose")
PERSON_VIEWS = ("frame", "square")  # what MediaPipe's person detector reads (PoseNetConfig.person_view)
MIRROR_DISAGREE = ("mean", "direct", "surer")  # PoseNetConfig.mirror_disagree
BLAZEPOSE_DETECTOR_WIDTH = 224  # MediaPipe's detector reads 224 px wide frames (its 224 x 224 input's pixel scale)
# how an exported graph runs, not what weights it holds: ``train.posenet.reconfigure`` changes them on a trained run
RUN_TIME_SETTINGS = ("crop_rotation", "detector_min_score", "detector_box_scale", "detector_people",
                     "detector_others_min_score", "frame_scale", "mirror_read", "mirror_disagree", "person_view")


# crops at which the presence branch (MediaPipe's pose flag) computes: its residual adds need even maps down to
# stride 64 and its last convolution a 2x2 map at stride 128 (160, 224, 288 ... break an add; 128 leaves a 1x1
# map; 384 and over give more than one flag)
PRESENCE_CROPS = (192, 256)


@dataclass(frozen=True)
class PoseNetConfig:
    """Sizes of the detector and the pose head.

    The working frame is 16:9 (broadcast and phone-landscape footage are; other aspects are squashed, which
    training covers with horizontal squash augmentation). The detector reads it 4x downsampled.
    """

    frame_size: tuple[int, int] = (288, 512)  # (H, W) the runtime scales every source to
    detector_stride: int = 4  # the detector sees the frame average-pooled by this factor (72 x 128)
    detector_width: int = 16  # stage-1 channels of the detector trunk
    crop_size: int = 128  # the pose head's input crop (pixels, square)
    width: int = 32  # stage-1 channels of the pose trunk (64 in torchvision's ResNet18)
    up_channels: int = 64  # channels of the two upsampling blocks (heatmaps at stride 4)
    joints: int = NUM_JOINTS
    box_margin: float = 1.25  # the crop's side is this times the longer side of the detected box
    # the pose head's trunk: "resnet" (a reduced ResNet18, ``width`` / ``up_channels``) or a network trained on
    # real images by others, read from its file at the start of training (train.pretrained.mediapipe.TRUNKS)
    head_trunk: str = "resnet"
    # a pretrained trunk's own person-presence classifier (MediaPipe's pose flag, on the trunk's stride-32
    # features) multiplies every joint's confidence: an empty crop then reports ~0 (the joints' confidence alone
    # said ~0.25 on a blank frame)
    presence: bool = False
    # how a pretrained head reads the joints: "heatmaps" (soft-argmax of heatmaps on the trunk's stride-4 features,
    # location maps for the 3D) or "landmarks" (MediaPipe's own landmark regression and world landmarks, the
    # network as it comes: train.pretrained.mediapipe.BlazePoseLandmarks; crop_size 256, the size it reads)
    head_read: str = "heatmaps"
    # with head_read "landmarks", the 3D: "world" (the joints' recipes of MediaPipe's world landmarks) or "joints"
    # (a 2 x 2 convolution of its own on the same last map, K x 3 outputs: LandmarkPoseHead.joints3d, fitted by
    # train.landmark_tune.readout3d)
    landmark_3d: str = "world"
    detector: str = "boxnet"  # DETECTORS
    # with blazepose: the crop's half-size is this times the radius of MediaPipe's whole-body circle (1.0: MediaPipe's
    # own region of interest, 1.25 x the circle's diameter at box_margin 1.25)
    detector_box_scale: float = 1.0
    # with blazepose: its box replaces boxnet's where its score is at least this (MediaPipe's own threshold: 0.5)
    detector_min_score: float = 0.5
    # with blazepose: how many of its persons (its weighted non-maximum suppression taken that many rounds,
    # ``BlazePoseDetector.forward``) become peaks of the detector map. 1: its best alone (the crop's box either
    # way); 2: also the next person, where it is sure of the best and scores that one >= detector_others_min_score,
    # so the runtime's choice of athlete (``tvstream.athlete``) sees both of two people that boxnet (trained on
    # one rendered person a frame) finds one of
    detector_people: int = 1
    detector_others_min_score: float = 0.8
    # with blazepose: what it reads. "frame": the working frame scaled to 224 px wide (a portrait source's
    # picture is then a third of its width); "square": a 224 x 224 view of a square the runtime names in the
    # track row of a detector frame (``tvstream.frame_fit.FrameFit.view_row``: the square around the source's
    # picture, MediaPipe's own letterbox; zeros: the whole frame's width)
    person_view: str = "frame"
    # > 0: the 3D joints come from a lifter of this width reading the 2D joints and their confidence
    # (train.posenet.model.Lifter) instead of the head's location maps; 0: the location maps
    lifter_width: int = 0
    # the crop turns with the body, as MediaPipe's region of interest: on a tracked frame by the angle the runtime
    # reads from the last frame's hips-to-shoulders direction (the track row's 6th number, radians), on a detector
    # frame by MediaPipe's person detector's hip-to-circle direction where it is sure; the joints are turned back
    # (2D in the frame, 3D about the camera's axis). A head trained on upright crops then sees a diver upright.
    crop_rotation: bool = False
    # the crop is also read mirrored (one batch of two through the head) and the two reads averaged, the mirrored
    # one mirrored back (left and right joints swapped, x negated): the flip test of pose estimators since
    # SimpleBaseline and HRNet; the head's cost doubles, the weights are the same (a run-time setting)
    mirror_read: bool = False
    # with mirror_read, what a crop's two reads give where they disagree on which side is which (the mirrored read,
    # mirrored back, lies nearer the direct read with its left and right joints the other way round: the head is
    # unsure whether it sees the person's front or back, and the mean folds both arms onto the midline).
    # "mean": the mean all the same; "direct": the direct read alone; "surer": the read whose core joints are surer
    mirror_disagree: str = "mean"
    # the working frame is this many times the size the detectors learnt on: ``frame_size`` and ``detector_stride``
    # already include it (the box detector still reads a frame_size / detector_stride map) and MediaPipe's frame
    # view pools this much more, so both detectors read what they learnt while the crop is cut from a frame with
    # frame_scale times the detail: a person small in a large source reaches the head sharper
    # (``train.posenet.person_view`` writes such a twin, ``tvstream.detector_view`` picks it for a large source)
    frame_scale: int = 1

    def __post_init__(self) -> None:
        h, w = self.frame_size
        if h % self.detector_stride or w % self.detector_stride:
            raise ValueError(f"frame_size {self.frame_size} must be a multiple of detector_stride "
                             f"{self.detector_stride}")
        if self.crop_size % 16:
            raise ValueError(f"crop_size must be a multiple of 16, got {self.crop_size}")
        if min(self.width, self.detector_width, self.up_channels) < 4:
            raise ValueError("widths must be >= 4")
        if self.head_trunk not in HEAD_TRUNKS:
            raise ValueError(f"head_trunk must be one of {', '.join(HEAD_TRUNKS)}, got {self.head_trunk!r}")
        if self.head_trunk != "resnet" and self.crop_size % 32:
            raise ValueError(f"a {self.head_trunk} head needs crop_size a multiple of 32, got {self.crop_size}")
        if self.head_read not in HEAD_READS:
            raise ValueError(f"head_read must be one of {', '.join(HEAD_READS)}, got {self.head_read!r}")
        if self.head_read == "landmarks" and (self.head_trunk == "resnet" or self.crop_size != LANDMARK_CROP):
            raise ValueError(f"head_read landmarks needs a pretrained head_trunk and crop_size {LANDMARK_CROP} "
                             f"(MediaPipe's regression reads that size alone), got {self.head_trunk}, {self.crop_size}")
        if self.landmark_3d not in LANDMARK_3DS:
            raise ValueError(f"landmark_3d must be one of {', '.join(LANDMARK_3DS)}, got {self.landmark_3d!r}")
        if self.landmark_3d != "world" and self.head_read != "landmarks":
            raise ValueError(f"landmark_3d {self.landmark_3d} needs head_read landmarks, got {self.head_read}")
        if self.presence and self.head_trunk == "resnet":
            raise ValueError("presence needs a pretrained head_trunk (the resnet trunk has no presence classifier)")
        if self.presence and self.crop_size not in PRESENCE_CROPS:
            raise ValueError(f"presence needs crop_size {' or '.join(map(str, PRESENCE_CROPS))}, got {self.crop_size}")
        if self.detector not in DETECTORS:
            raise ValueError(f"detector must be one of {', '.join(DETECTORS)}, got {self.detector!r}")
        if self.person_view not in PERSON_VIEWS:
            raise ValueError(f"person_view must be one of {', '.join(PERSON_VIEWS)}, got {self.person_view!r}")
        if self.detector != "boxnet" and self.person_detector_size[0] % 32:
            raise ValueError(f"frame_size {self.frame_size} is too far from 16:9 for the blazepose detector")
        if self.frame_scale < 1 or self.detector_stride % self.frame_scale:
            raise ValueError(f"frame_scale must be >= 1 and divide detector_stride {self.detector_stride}, got "
                             f"{self.frame_scale}")
        if self.mirror_disagree not in MIRROR_DISAGREE:
            raise ValueError(f"mirror_disagree must be one of {', '.join(MIRROR_DISAGREE)}, got {self.mirror_disagree!r}")
        if self.lifter_width < 0:
            raise ValueError(f"lifter_width must be >= 0, got {self.lifter_width}")
        if not 0.0 < self.detector_min_score < 1.0:
            raise ValueError(f"detector_min_score must be in (0, 1), got {self.detector_min_score}")
        if not 1 <= self.detector_people <= 4:
            raise ValueError(f"detector_people must be in 1..4, got {self.detector_people}")
        if not 0.0 < self.detector_others_min_score < 1.0:
            raise ValueError(f"detector_others_min_score must be in (0, 1), got {self.detector_others_min_score}")
        if not 0.5 <= self.detector_box_scale <= 2.0:
            raise ValueError(f"detector_box_scale must be in [0.5, 2], got {self.detector_box_scale}")
        if not 1.0 <= self.box_margin <= 3.0:
            raise ValueError(f"box_margin must be in [1, 3], got {self.box_margin}")

    def same_weights(self, other: PoseNetConfig) -> bool:
        """Whether a network of ``other`` holds this one's weights: the configs are equal but for
        :data:`RUN_TIME_SETTINGS` (``frame_scale`` with the frame size and stride it multiplies)."""
        mine = self.scaled(1)
        return replace(other.scaled(1), **{k: getattr(mine, k) for k in RUN_TIME_SETTINGS}) == mine

    def scaled(self, frame_scale: int) -> PoseNetConfig:
        """The same network on a working frame ``frame_scale`` times the size its detectors learnt on (see
        ``frame_scale``)."""
        (h, w), k = self.frame_size, self.frame_scale
        return replace(self, frame_size=(h // k * frame_scale, w // k * frame_scale),
                       detector_stride=self.detector_stride // k * frame_scale, frame_scale=frame_scale)

    @property
    def detector_size(self) -> tuple[int, int]:
        return self.frame_size[0] // self.detector_stride, self.frame_size[1] // self.detector_stride

    @property
    def person_detector_size(self) -> tuple[int, int]:
        """(h, w) of the frame MediaPipe's detector reads: 224 px wide, the nearest multiple of 32 high (128); 224
        x 224 with the square view."""
        if self.person_view == "square":
            return BLAZEPOSE_DETECTOR_WIDTH, BLAZEPOSE_DETECTOR_WIDTH
        h, w = self.frame_size
        return round(h * BLAZEPOSE_DETECTOR_WIDTH / w / 32) * 32, BLAZEPOSE_DETECTOR_WIDTH

    @property
    def heatmap_size(self) -> int:
        return self.crop_size // 4

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> PoseNetConfig:
        known = {f.name for f in fields(PoseNetConfig)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown PoseNetConfig fields {sorted(unknown)}")
        d = dict(d)
        if "frame_size" in d:
            d["frame_size"] = tuple(d["frame_size"])
        return PoseNetConfig(**d)


# Model sizes for the speed/accuracy curve (as MediaPipe's Lite / Full / Heavy); same code, other numbers.
SIZES: dict[str, PoseNetConfig] = {
    "lite": PoseNetConfig(crop_size=96, width=16, up_channels=32),
    "full": PoseNetConfig(),
    "heavy": PoseNetConfig(crop_size=160, width=48, up_channels=96),
    # the pose head on MediaPipe BlazePose's landmark network (real people, Apache-2.0), the full detector; its
    # crop at 192 px: the network learnt people at 256 px and reads a 128 px crop badly (real dev set, head alone
    # before training: 0.028 at 128, 0.566 at 192, 0.570 at 256)
    "real-lite": PoseNetConfig(crop_size=192, head_trunk="blazepose_lite", up_channels=32, presence=True),
    "real-full": PoseNetConfig(crop_size=192, head_trunk="blazepose_full", up_channels=32, presence=True),
    # real-lite with MediaPipe's person detector (real people) beside boxnet: its box where it scores >= 0.8 (on
    # rendered training clips, 0.5 let it claim platforms and wallpaper for divers), 0.8 of its circle's radius as
    # the half-size (the median ratio of the labeled boxes' to it on the training world's clips); it reads the
    # square around the source's picture (MediaPipe's letterbox: a portrait clip's people 1.75x their size in the
    # 16:9 frame)
    "real-lite-mpdet": PoseNetConfig(crop_size=192, head_trunk="blazepose_lite", up_channels=32, presence=True,
                                     detector="boxnet+blazepose", detector_box_scale=0.8, detector_min_score=0.8,
                                     person_view="square"),
    # real-lite-mpdet's detectors before MediaPipe's Full landmark network: its 2D read real people best of the
    # heads tried (real development set, on Heavy's box, untrained: Full 0.697, Lite 0.566, the trained Lite head
    # 0.554); it is trained with part "lift" (3D and confidence only). The person detector reads the frame (the
    # runtime gives upright sources the square-view twin: tvstream.detector_view). "-lifter": its 3D read from its
    # 2D by a lifter (train.posenet.model.Lifter; the location maps then give the confidence alone)
    "real-full-mpdet": PoseNetConfig(crop_size=192, head_trunk="blazepose_full", up_channels=32, presence=True,
                                     detector="boxnet+blazepose", detector_box_scale=0.8, detector_min_score=0.8),
    "real-full-mpdet-lifter": PoseNetConfig(crop_size=192, head_trunk="blazepose_full", up_channels=32,
                                            presence=True, detector="boxnet+blazepose", detector_box_scale=0.8,
                                            detector_min_score=0.8, lifter_width=256),
    # real-lite-mpdet's detectors before MediaPipe's landmark network read as MediaPipe reads it (its landmark
    # regression, visibility and world landmarks; no training): session 45
    "real-full-landmarks": PoseNetConfig(crop_size=256, head_trunk="blazepose_full", head_read="landmarks",
                                         presence=True, detector="boxnet+blazepose", detector_box_scale=0.8,
                                         detector_min_score=0.8),
    # ... with its 3D read by a convolution of its own, fitted to the joints (train.landmark_tune): session 46
    "real-full-landmarks-joints": PoseNetConfig(crop_size=256, head_trunk="blazepose_full", head_read="landmarks",
                                                landmark_3d="joints", presence=True, detector="boxnet+blazepose",
                                                detector_box_scale=0.8, detector_min_score=0.8),
    "real-lite-landmarks": PoseNetConfig(crop_size=256, head_trunk="blazepose_lite", head_read="landmarks",
                                         presence=True, detector="boxnet+blazepose", detector_box_scale=0.8,
                                         detector_min_score=0.8),
    # ... with its 3D read by a convolution of its own (train.landmark_tune --trunk blazepose_lite): the faster size of
    # the speed curve (session 48)
    "real-lite-landmarks-joints": PoseNetConfig(crop_size=256, head_trunk="blazepose_lite", head_read="landmarks",
                                                landmark_3d="joints", presence=True, detector="boxnet+blazepose",
                                                detector_box_scale=0.8, detector_min_score=0.8),
    "tiny": PoseNetConfig(frame_size=(72, 128), detector_stride=2, detector_width=4, crop_size=32, width=4,
                          up_channels=8),  # tests
}
