"""Model sizes as data: ``tiny`` (tests), ``small`` (CPU-trainable), ``paper`` (the paper's sizes, GPUs)."""

from __future__ import annotations

from dataclasses import asdict, dataclass


# How a temporal item's frames (reference, near, far, intermediate) trade time-invariant features before
# decoding. "roll": frame i takes frame i-1's (the paper's swap "across time"; near takes the reference's,
# which is <= `near` frames away, so ti may carry the posture both frames share). "far": frames before the
# far one take the far frame's, the rest take the reference's: every swap crosses the far gap.
TI_SWAPS = ("roll", "far")


@dataclass(frozen=True)
class ModelConfig:
    """Sizes of the detector-encoder-decoder.

    The dataset delivers frames at ``frame_size``; the detector sees them at ``detector_size`` (the
    paper: 4x smaller) and the reconstruction loss is computed there; crops are sampled from the
    full ``frame_size`` frame so a small athlete still fills the ``crop_size`` crop.
    """

    frame_size: tuple[int, int] = (256, 256)
    detector_size: tuple[int, int] = (128, 128)
    crop_size: int = 64
    detector_depth: int = 18
    detector_width: int = 16  # channels of the first ResNet stage (torchvision's is 64)
    encoder_depth: int = 18
    encoder_width: int = 16
    tv_dim: int = 600  # time-variant (pose) features; 900 for MPI and Dive in the paper
    ti_dim: int = 129  # time-invariant (appearance) features
    decoder_channels: int = 32  # feature maps of each FC-to-grid branch of the decoder (paper: 128)
    perceptual_size: int = 64  # the perceptual loss compares frames resized to this (0: detector size)
    split: bool = True  # tv/ti split; False: one latent of tv_dim + ti_dim, pose read from all of it
    ti_swap: str = "roll"  # whose ti decodes a frame: "roll" (the previous frame of the item) or "far" (TI_SWAPS)
    use_stn: bool = True  # False: the encoder sees the whole frame (no detector)
    use_decoder: bool = True  # False: no reconstruction path
    pose2d_joints: int = 0  # > 0: an MLP on tv predicts this many 2D joints in crop coordinates (weak 2D)
    min_box: float = 0.2  # smallest box half-size the detector can give, in units of the frame's half-size

    def __post_init__(self) -> None:
        if self.crop_size % 8:
            raise ValueError(f"crop_size must be a multiple of 8 (three x2 up-blocks), got {self.crop_size}")
        if self.detector_depth not in (18, 50) or self.encoder_depth not in (18, 50):
            raise ValueError(f"depths must be 18 or 50, got {self.detector_depth}, {self.encoder_depth}")
        if self.ti_swap not in TI_SWAPS:
            raise ValueError(f"ti_swap must be one of {sorted(TI_SWAPS)}, got {self.ti_swap!r}")
        if not 0 < self.min_box < 1:
            raise ValueError(f"min_box must be in (0, 1), got {self.min_box}")
        for name in ("frame_size", "detector_size"):
            h, w = getattr(self, name)
            if h < 16 or w < 16:
                raise ValueError(f"{name} must be at least 16x16, got {h}x{w}")

    @property
    def latent_dim(self) -> int:
        """Width of the feature the pose regressor reads (tv only when split)."""
        return self.tv_dim if self.split else self.tv_dim + self.ti_dim

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> ModelConfig:
        d = dict(d)
        for key in ("frame_size", "detector_size"):
            d[key] = tuple(d[key])
        return ModelConfig(**d)


MODEL_PRESETS = {
    "tiny": ModelConfig(frame_size=(64, 64), detector_size=(32, 32), crop_size=32, detector_width=8,
                        encoder_width=8, tv_dim=32, ti_dim=16, decoder_channels=16, perceptual_size=32),
    # small: the CPU budget (<= 1 s/step at batch 32 here) is spent where the detector learns: narrow trunks,
    # a 32-channel decoder and the perceptual term at 64x64 (1.9 s -> 0.34 s per step at 128x128)
    "small": ModelConfig(),
    # paper: ResNet18 detector, ResNet50 encoder, 128x128 crops, decoder maps of 128 channels
    "paper": ModelConfig(frame_size=(512, 512), detector_size=(128, 128), crop_size=128, detector_width=64,
                         encoder_depth=50, encoder_width=64, decoder_channels=128, perceptual_size=0),
}
