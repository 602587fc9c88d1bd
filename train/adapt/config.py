"""What ``tvstream adapt`` does with a venue's footage: one dataclass, stored in the work folder.

A rerun with the same config goes on where it stopped; a different config in the same work folder is refused
(the stages' outputs would mix two recipes).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class AdaptConfig:
    teacher: str = "mediapipe-heavy"  # a tvstream.teacher name, or "labels": the clips' own label files (a test)
    every: int = 5  # the teacher labels every n-th frame (MediaPipe tracks in between is not needed)
    holdout: float = 0.2  # the last share of every clip is kept out of training and scores the agreement
    camera: str = "auto"  # fixed | moving | auto (measured): how the venue's plates are made
    plates_per_clip: int = 3
    synth_subjects: int = 12  # synthetic athletes rendered over the venue's plates (3D labels for this venue)
    synth_sequences: int = 2
    synth_seconds: float = 3.0
    synth_size: tuple[int, int] | None = None  # W, H; None: the venue's shape (train.adapt.venue.synth_size)
    size: str | None = None  # the pose network's size; None: the init's ("full" from scratch); another than the
    # shipped model's with init "default" starts from scratch
    init: str | None = "default"  # "default": the shipped model; a .onnx or a posenet .pt; None: from scratch
    part: str = "detector"  # what is fine-tuned: "detector" (the box detector; the pose head as shipped) or "all"
    replay: str | None = None  # a pose-network training cache (the world it was trained on), rows mixed in
    replay_rows: int = 2000  # random rows of ``replay`` kept beside the venue's rows
    steps: int = 400
    batch: int = 32
    lr: float = 5e-5  # small data: 800 steps at 2e-4 with re-estimated norms made held-out subjects worse
    freeze_bn: bool = True  # keep the shipped model's norm statistics (a venue's few clips are one narrow look)
    seed: int = 0
    threads: int = 2
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ValueError(f"every must be >= 1, got {self.every}")
        if not 0.0 < self.holdout < 1.0:
            raise ValueError(f"holdout must be in (0, 1), got {self.holdout}")
        if self.camera not in ("auto", "fixed", "moving"):
            raise ValueError(f"camera must be auto, fixed or moving, got {self.camera!r}")
        if self.part not in ("detector", "all"):
            raise ValueError(f"part must be detector or all, got {self.part!r}")
        if self.replay_rows < 1:
            raise ValueError(f"replay_rows must be >= 1, got {self.replay_rows}")
        if self.synth_subjects < 1 or self.steps < 1:
            raise ValueError("need synth_subjects >= 1 and steps >= 1")

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> AdaptConfig:
        d = dict(d)
        d["synth_size"] = None if d.get("synth_size") is None else tuple(d["synth_size"])
        return AdaptConfig(**d)
