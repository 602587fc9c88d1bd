"""What the landmark network's fine-tuning does: one frozen dataclass, stored in the work folder as JSON.

The defaults are the recipe measured in session 45 (``benchmarks/results/s45_rule.md``, LFT6 then LFT6P, then the
ridge 3D readout): a rerun with the same config goes on where it stopped; another config in the same work folder
is refused, naming the settings that differ (the stages' outputs would mix two recipes).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from train.posenet.config import LANDMARK_CROP, SIZES

TRUNKS = ("blazepose_lite", "blazepose_full")  # train.pretrained.mediapipe.TRUNKS, without importing torch
RENDER_DRAWS = ("crop", "shard", "scenario")  # LandmarkTuneConfig.render_draw
OCCLUDE_ROWS = ("all", "real")  # LandmarkTuneConfig.occlude_rows
# settings that change how a run goes, not what it makes: free to differ on a rerun (a resumed run is exact)
RUN_ONLY = ("threads", "device", "checkpoint_every", "log_every")
# settings read only after the tune's loop (the blends): a tune checkpoint made without them is the same tune, so a
# new work folder may take an earlier run's ``tune/last.pt`` and try another blend
AFTER_TUNE = ("blend", "early_blend", "soup")
BLENDS = ("blend", "early_blend")  # the AFTER_TUNE settings that are shares in [0, 1]


@dataclass(frozen=True)
class LandmarkTuneConfig:
    """A fine-tuning of MediaPipe's landmark network (read as joints) on rendered and real people's crops."""

    # ---- data: rendered manifest folders (2D + 3D labels), real cut-outs (a teacher's 2D) and person-free plates
    renders: tuple[str, ...] = ()
    real: str = ""
    plates: str = ""
    skip_clips: int = 6  # each rendered shard's first clips are its design set (the judging set), never trained on
    render_every: int = 3  # every 3rd labeled frame of a rendered clip (neighbours are near copies)
    real_every: int = 1  # every labeled frame of a cut-out clip (55 people: few frames)
    min_visible: int = 6  # frames with fewer joints in view are left out
    # a teacher's joints below this confidence count as not in view. The cut-outs' teacher gives its hip, spine,
    # thorax, neck and head confidence 0 (their recipe is not the renders' skeleton's); LFT6 trained on them all the
    # same (0.0), and the head reads those joints by the same recipe of its landmarks
    min_confidence: float = 0.0
    # ---- crops: a square of ``box_margin`` x the labeled box's longer side, jittered as the runtime's boxes are
    crop: int = LANDMARK_CROP  # the only size the landmark regression reads
    box_margin: float = 1.25
    jitter_scale: tuple[float, float] = (0.9, 1.2)  # side x U(a, b)
    jitter_shift: float = 0.07  # centre + U(-s, s) x side, each axis
    # the share of crops turned with the body, as the runtime turns them (``crop_rotation``, MediaPipe's region of
    # interest): the hips-to-shoulders direction upright, give or take U(-turn_jitter, turn_jitter) radians (the
    # runtime's angle is the last frame's); the 2D and 3D targets in the turned crop's axes, and the exported model
    # turns its crops (0: every crop upright, the recipe of sessions 45-46's LT46)
    turn_p: float = 0.0
    turn_jitter: float = 0.3
    # ---- fine-tuning (LFT6): the whole network; its 3D convolution reads the features detached
    trunk: str = "blazepose_full"
    # the network the tune starts from. None: MediaPipe's (``trunk``'s .tflite, the recipe). Else a model whose head
    # reads ``trunk``'s landmarks ("default": the embedded model, a .onnx or a posenet checkpoint; ``tvstream adapt``
    # gives the model it adapts): its head seeds the tune and is the frozen network distilled to, its pose flag
    # seeds the presence stage, and its own 3D convolution, where it has one, is the 3D the tune trains and then the
    # readout's prior (tune.py, presence.py, readout3d.py)
    head_init: str | None = None
    steps: int = 1500
    lr: float = 5e-5
    # a 300-step warm-up and gradients clipped to norm 1: with 50 steps and no clipping the losses rose fivefold in
    # steps 40-100 and runs at 1e-5 and at distillation 5 never came back (LFT3, LFT4)
    warmup: int = 300
    clip: float = 1.0  # 0: not clipped
    distill: float = 1.0  # the frozen network's landmarks and world landmarks on the real rows
    # the 3D (L1, rendered rows) and the world landmarks' distillation train the 3D convolution alone: the 3D loss
    # cannot pull the trunk from its reading of real people (LFT6; without it LFT2's real people were lost)
    detach3d: bool = True
    # the early layers (``early_blend``'s) not tuned: MediaPipe's (or ``head_init``'s) as they come, the layers
    # after them learning around them (and the tune's backward pass stops above them)
    freeze_early: bool = False
    # the early layers' learning rate as a share of ``lr`` (1: as every layer's, the recipe; ``freeze_early`` is
    # its 0): between the two, the later layers learn around early layers that move a little (session 53)
    early_lr: float = 1.0
    # the early layers' map (the one the first 1/16 convolution reads) held to the start network's on the real rows:
    # this weight x mean((tuned - start)^2) / mean(start^2). Session 53: the recipe's tune moves that map by 0.085
    # (in this measure) on real crops and 0.091 on rendered ones alike; held on real rows alone, the early layers may
    # still learn the renders' look (0: no such term, the recipe)
    early_distill: float = 0.0
    # the head kept: the start's weights + blend x (the tuned weights - the start's), a weight-space ensemble of the
    # two (WiSE-FT, Wortsman et al. 2022). 1: the tuned network. Session 51: on the real development set's labeled
    # boxes MediaPipe's own network read 0.780 and the tuned default 0.664, while on the renders the tune is what
    # reads skiers and divers (design sets through the run 0.592 untuned, 0.794 tuned)
    blend: float = 1.0
    # the blend of the network's early layers, those that read the crop at 1/1 to 1/8 of its size (stem and first
    # stages: ``tflite_graph.early_convs``), in place of ``blend`` there (None: ``blend``, as every layer). Session
    # 52's screen (labeled boxes, session 47's tune): those layers moved least (0.03-0.3% of their weights' norm)
    # and cost real people most: their change alone undone, the real development set 0.650 -> 0.767, the sample
    # 0.937 -> 0.923, dives 0.620 -> 0.497; halfway back (0.5), 0.715, 0.948, 0.605; through the run (A5) the
    # design sets 0.781 and the dev set 0.612 against 0.794 and 0.627 (benchmarks/results/s52_rule.md)
    early_blend: float | None = None
    # other draws of this tune (their ``WORK/tune/last.pt``, or their work folders: the same settings but ``seed``)
    # averaged with this one's, weight for weight, before the blends: a model soup (Wortsman et al. 2022; tunes of one
    # start by one recipe lie in one basin). Session 54: ED3's two seeds read real people alike on labeled boxes
    # (0.735, 0.741) and moved the dev set through the run 0.044 apart; the soup screened dev 0.746, sample 0.967,
    # renders 0.863 (benchmarks/results/s54_rule.md, rule 13). (): this tune alone
    soup: tuple[str, ...] = ()
    batch_render: int = 8
    # how the rendered crops are drawn: "crop" (every crop as likely: a shard weighs as many crops as it has),
    # "shard" (each rendered shard as often as each other) or "scenario" (each scenario as often as each other:
    # its synth_config's, e.g. three dive shards among ski, studio and varied ones weigh a quarter, not a half)
    render_draw: str = "crop"
    batch_real: int = 8
    flip_p: float = 0.5  # mirrored crops: joints swapped left for right, x negated
    contrast: tuple[float, float] = (0.7, 1.3)  # (x - 0.5) x U(a, b) + 0.5 + U(-brightness, brightness)
    brightness: float = 0.1
    # the rendered rows' look nearer a photograph's where the early layers read it: with probability
    # ``render_degrade_p`` a rendered crop is blurred (Gaussian, sigma U(render_blur) px) and given sensor noise
    # (Gaussian, std U(0, render_noise) of the range). Session 52: the tune learns the renders' look in its early layers, and that is
    # where it loses real people (benchmarks/results/s52_rule.md); 0: no such rows (the recipe until then)
    render_degrade_p: float = 0.0
    render_blur: tuple[float, float] = (0.4, 1.2)
    render_noise: float = 0.03
    # the share of crops (rendered and real) with an occluder pasted, a rectangle of a person-free plate, half of
    # them across the crop's bottom, the labels kept (occluders.py): a person partly hidden (the dev set's cyclist
    # behind a car) is read whole, not as the part in view; the real rows are distilled to the start's read of the
    # crop without it. 0: none (the recipe until session 56)
    occlude_p: float = 0.0
    # which crops may get one: "all" (rendered and real: session 56's XO, which read real video better and the
    # renders worse, its head's loss on their labeled boxes) or "real" (the renders' targets stay what is in view)
    occlude_rows: str = "all"
    # ---- the pose flag (LFT6P): the presence branch alone, people's crops against person-free plate squares
    presence_steps: int = 300
    # Adam at presence_lr, warmed up over presence_warmup steps, then a cosine to 0: at a constant 1e-3 the flag's
    # logits swung by tens from step to step (BCE 0.0 to 33, the flag on empty crops 0 or 1) and the flag kept was
    # the last step's, whatever it was (session 47's LT47: on people 0.81 at its last step)
    presence_lr: float = 1e-3
    presence_warmup: int = 30
    presence_batch: int = 16  # people, and as many person-free crops
    # ---- the 3D readout: a ridge fit of the joints' root-relative 3D from the last map, pulled toward the tuned
    # readout with lambda x trace(G) / dim (0.01: 2-35 mm nearer than the tuned convolution on the design sets)
    ridge_lambda: float = 0.01
    # ---- export: this size's network, its detectors from ``init`` ("default": the embedded model, or a .onnx / .pt);
    # size None: no export, the tuned head (WORK/readout3d/head.pt) is the result
    size: str | None = "real-full-landmarks-joints"
    init: str = "default"
    # the run-time setting the exported model carries (``ModelMetadata.run_settings``): MediaPipe's visibility is
    # high on most reads, so its crop follows from 0.95 (real development set through the run: 0.617 at 0.95,
    # 0.410 at the runtime's 0.8, whose videos lost the athlete; session 45)
    track_conf: float = 0.95
    # crops (half rendered, half real) on which the export measures each weight's harm as int8 (quantize.py)
    int8_crops: int = 96
    seed: int = 0
    # ---- run-only (RUN_ONLY)
    threads: int = 2
    device: str = "cpu"
    checkpoint_every: int = 100
    log_every: int = 20

    def __post_init__(self) -> None:
        if self.trunk not in TRUNKS:
            raise ValueError(f"trunk must be one of {', '.join(TRUNKS)}, got {self.trunk!r}")
        if self.head_init == "":
            raise ValueError("head_init must name a model (or be None: MediaPipe's network), got ''")
        if self.crop != LANDMARK_CROP:
            raise ValueError(f"crop must be {LANDMARK_CROP} (the landmark regression reads no other size), "
                             f"got {self.crop}")
        if min(self.steps, self.presence_steps, self.batch_render, self.batch_real, self.presence_batch) < 1:
            raise ValueError("steps, presence_steps and the batches must be >= 1")
        if min(self.skip_clips, self.warmup, self.presence_warmup) < 0 or min(self.render_every, self.real_every) < 1:
            raise ValueError(f"need skip_clips, warmup, presence_warmup >= 0 and every >= 1, got {self.skip_clips}, "
                             f"{self.warmup}, {self.presence_warmup}, "
                             f"{self.render_every}, {self.real_every}")
        if min(self.lr, self.presence_lr, self.box_margin) <= 0 or min(self.clip, self.distill, self.ridge_lambda) < 0:
            raise ValueError("lr, presence_lr and box_margin must be > 0; clip, distill and ridge_lambda >= 0")
        if not 0 <= self.track_conf <= 1 or self.int8_crops < 2:
            raise ValueError(f"need track_conf in [0, 1] and int8_crops >= 2, got {self.track_conf}, {self.int8_crops}")
        if not 0 <= self.flip_p <= 1 or self.checkpoint_every < 1 or self.log_every < 1:
            raise ValueError(f"need flip_p in [0, 1], checkpoint_every and log_every >= 1, got {self.flip_p}, "
                             f"{self.checkpoint_every}, {self.log_every}")
        if not 0 < self.early_lr <= 1 or (self.freeze_early and self.early_lr != 1):
            raise ValueError(f"early_lr must be in (0, 1] (freeze_early: the early layers not tuned at all, with "
                             f"early_lr 1), got {self.early_lr} with freeze_early {self.freeze_early}")
        if self.early_distill < 0 or (self.freeze_early and self.early_distill):
            raise ValueError(f"early_distill must be >= 0, and 0 with freeze_early (the early layers not tuned), "
                             f"got {self.early_distill} with freeze_early {self.freeze_early}")
        if not 0 <= self.occlude_p <= 1 or self.occlude_rows not in OCCLUDE_ROWS:
            raise ValueError(f"need occlude_p in [0, 1] and occlude_rows one of {', '.join(OCCLUDE_ROWS)}, got "
                             f"{self.occlude_p}, {self.occlude_rows!r}")
        if self.render_draw not in RENDER_DRAWS:
            raise ValueError(f"render_draw must be one of {', '.join(RENDER_DRAWS)}, got {self.render_draw!r}")
        if any(not isinstance(path, str) or not path for path in self.soup):
            raise ValueError(f"soup must name tune checkpoints or work folders, got {self.soup!r}")
        for name in BLENDS:
            if getattr(self, name) is not None and not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1] (1: the tuned network, 0: the start's), "
                                 f"got {getattr(self, name)}")
        if not 0 <= self.render_degrade_p <= 1 or not 0 < self.render_blur[0] <= self.render_blur[1] or \
                self.render_noise < 0:
            raise ValueError(f"need render_degrade_p in [0, 1], 0 < render_blur[0] <= render_blur[1] and "
                             f"render_noise >= 0, got {self.render_degrade_p}, {self.render_blur}, {self.render_noise}")
        if not 0 <= self.turn_p <= 1 or self.turn_jitter < 0:
            raise ValueError(f"need turn_p in [0, 1] and turn_jitter >= 0, got {self.turn_p}, {self.turn_jitter}")
        if not 0 < self.jitter_scale[0] <= self.jitter_scale[1] or not 0 <= self.jitter_shift < 0.5:
            raise ValueError(f"bad jitter: scale {self.jitter_scale}, shift {self.jitter_shift}")
        size = SIZES.get(self.size) if self.size is not None else None
        shape = None if size is None else (size.head_read, size.landmark_3d, size.head_trunk, size.presence)
        if self.size is not None and shape != ("landmarks", "joints", self.trunk, True):
            fit = [k for k, v in SIZES.items() if v.head_read == "landmarks" and v.landmark_3d == "joints"
                   and v.head_trunk == self.trunk and v.presence]
            raise ValueError(f"size must read {self.trunk}'s landmarks with its own 3D convolution and pose flag "
                             f"(sizes that do: {', '.join(fit) or 'none'}), got {self.size!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> LandmarkTuneConfig:
        """The config of ``d`` (as :meth:`to_dict` or JSON gives it); keys it does not know are refused."""
        known = {f.name for f in fields(LandmarkTuneConfig)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown landmark_tune settings: {', '.join(unknown)}")
        return LandmarkTuneConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})

    def differing(self, other: LandmarkTuneConfig) -> list[str]:
        """The names of the settings (not RUN_ONLY) in which ``other`` differs."""
        mine, theirs = self.to_dict(), other.to_dict()
        return [k for k in mine if k not in RUN_ONLY and mine[k] != theirs[k]]

    def differences(self, other: LandmarkTuneConfig) -> list[str]:
        """The settings (not RUN_ONLY) in which ``other`` differs, as ``"key: theirs there, mine here"``."""
        mine, theirs = self.to_dict(), other.to_dict()
        return [f"{k}: {theirs[k]!r} there, {mine[k]!r} here" for k in self.differing(other)]
