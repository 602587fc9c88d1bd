"""What ``tvstream adapt`` does with a venue's footage: one dataclass, stored in the work folder.

A rerun with the same config goes on where it stopped; a different config in the same work folder is refused
(the stages' outputs would mix two recipes).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


# what each part trains with unless told (benchmarks/results/adapt_venue_notes.md, s35_rule.md), as measured:
# the detector alone on every 5th frame, 400 steps at 5e-5 (800 steps at 2e-4 with re-estimated norms made held-out
# subjects worse); the whole network on every frame, 800 steps at 1e-4 (3e-4 moved it as far from the rendered
# truth; 400 steps agreed 0.887 with the teacher, 800 0.902)
# ``hold3d``: the weight with which the venue's teacher rows (2D alone) keep the start model's 3D of them
# (train.posenet.fit.LossWeights.hold3d; session 44, benchmarks/results/s44_rule.md rule HL4: on four rendered
# venues 0.5 kept nearly all of the agreement gain and 3-16 mm of the 3D the teacher's 2D cost without it)
# ``venue_share``: the most the venue's own teacher rows may be of the training rows (the rendered rows are drawn
# more often to keep it; None: as many as there are)
PART_RECIPES = {"detector": {"every": 5, "steps": 400, "lr": 5e-5, "venue_share": None, "hold3d": 0.0},
                "all": {"every": 1, "steps": 800, "lr": 1e-4, "venue_share": 0.25, "hold3d": 0.5}}
# the world rendered at adapt time beside the venue's rows (``replay="render"``), as (train.synth scenario,
# share of the athletes): the procedural venues the default was trained in, every kind of motion. Rendered over
# the venue's own plates instead, the held-out people's 3D was lost (session 35, benchmarks/results/s35_rule.md)
REPLAY_WORLD = (("studio", 14), ("ski", 13), ("varied", 13))


@dataclass(frozen=True)
class AdaptConfig:
    teacher: str = "mediapipe-heavy"  # a tvstream.teacher name, or "labels": the clips' own label files (a test)
    every: int | None = None  # the teacher labels every n-th frame; None: PART_RECIPES[part] (on every frame
    # MediaPipe tracks, 28 frames/s; one in 5, 33 frames/s of those it reads)
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
    part: str = "all"  # what is fine-tuned: "all" (the whole network beside ``replay``) or "detector" (the box
    # detector alone, the default until session 35; s35_rule.md). A landmark start (train.landmark_tune's recipe,
    # train.adapt.pipeline.landmark_start) takes "all" alone, no replay cache and no hold3d above 0
    # rows of other people mixed in so that the head keeps its 3D of people the venue did not show: "render" (a
    # world rendered at adapt time, REPLAY_WORLD), a pose-network training cache (the world the model was trained
    # on; ``replay_rows`` random rows of it), or None
    replay: str | None = "render"
    replay_rows: int = 2000
    replay_subjects: int = 40  # athletes of the rendered world, shared among REPLAY_WORLD's scenarios
    replay_seconds: float = 2.5  # one take each
    steps: int | None = None  # None: PART_RECIPES[part]
    batch: int = 32
    lr: float | None = None  # None: PART_RECIPES[part]
    # the venue's teacher rows (2D alone) keep the start model's 3D with this weight (train.posenet.fit.LossWeights
    # .hold3d); 0: off; None: PART_RECIPES[part] where there is a start model to hold to, else 0
    hold3d: float | None = None
    freeze_bn: bool = True  # keep the shipped model's norm statistics (a venue's few clips are one narrow look)
    seed: int = 0
    threads: int = 2
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.every is not None and self.every < 1:
            raise ValueError(f"every must be >= 1, got {self.every}")
        if not 0.0 < self.holdout < 1.0:
            raise ValueError(f"holdout must be in (0, 1), got {self.holdout}")
        if self.camera not in ("auto", "fixed", "moving"):
            raise ValueError(f"camera must be auto, fixed or moving, got {self.camera!r}")
        if self.part not in ("detector", "all"):
            raise ValueError(f"part must be detector or all, got {self.part!r}")
        if self.replay_rows < 1 or self.replay_subjects < len(REPLAY_WORLD):
            raise ValueError(f"need replay_rows >= 1 and replay_subjects >= {len(REPLAY_WORLD)}, got "
                             f"{self.replay_rows}, {self.replay_subjects}")
        if not 0.2 <= self.replay_seconds <= 60:
            raise ValueError(f"replay_seconds must be in [0.2, 60], got {self.replay_seconds}")
        if self.lr is not None and self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.hold3d is not None and (self.hold3d < 0 or self.hold3d and (
                self.init is None or not self.freeze_bn or self.part == "detector")):
            raise ValueError(f"hold3d keeps the 3D of the model the whole network starts from (needs an init and "
                             f"frozen norms); got {self.hold3d} with init {self.init}, part {self.part}")
        if self.synth_subjects < 1 or (self.steps is not None and self.steps < 1):
            raise ValueError("need synth_subjects >= 1 and steps >= 1")

    @property
    def label_every(self) -> int:
        """The teacher labels every n-th frame: ``every``, or the part's measured recipe's."""
        return self.every if self.every is not None else PART_RECIPES[self.part]["every"]

    @property
    def fit_steps(self) -> int:
        """The fine-tuning's steps: ``steps``, or the part's measured recipe's."""
        return self.steps if self.steps is not None else PART_RECIPES[self.part]["steps"]

    @property
    def venue_share(self) -> float | None:
        """The most the venue's teacher rows may be of the training rows (the part's recipe)."""
        return PART_RECIPES[self.part]["venue_share"]

    @property
    def step_size(self) -> float:
        """The fine-tuning's learning rate: ``lr``, or the part's measured recipe's."""
        return self.lr if self.lr is not None else PART_RECIPES[self.part]["lr"]

    @property
    def hold_weight(self) -> float:
        """The weight with which the venue's rows keep the start model's 3D: ``hold3d``, or the part's recipe's
        where there is a start model with frozen norms (0 without one: nothing to hold to)."""
        if self.hold3d is not None:
            return self.hold3d
        return PART_RECIPES[self.part]["hold3d"] if self.init is not None and self.freeze_bn else 0.0

    def resolved(self) -> dict:
        """Every setting with the part's recipe filled in for those left to it: what the stages are made with."""
        return {**self.to_dict(), "every": self.label_every, "steps": self.fit_steps, "lr": self.step_size,
                "hold3d": self.hold_weight}

    @property
    def replay_shards(self) -> list[tuple[str, int]]:
        """(scenario, athletes) of the rendered replay world: ``replay_subjects`` shared as REPLAY_WORLD's."""
        total = sum(n for _, n in REPLAY_WORLD)
        return [(scenario, max(1, round(self.replay_subjects * n / total))) for scenario, n in REPLAY_WORLD]

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> AdaptConfig:
        d = dict(d)
        d["synth_size"] = None if d.get("synth_size") is None else tuple(d["synth_size"])
        return AdaptConfig(**d)
