"""The paper's method variants (Tables 1 and 5) as configs of one model and one loop — not forks."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Variant:
    """Which parts and losses a method uses."""

    name: str
    use_stn: bool = True  # detector + crop
    use_decoder: bool = True  # reconstruction of the whole frame
    split: bool = True  # time-variant / time-invariant features, ti swapped in time
    temporal: str | None = "dsl"  # "dsl" (ours), "css" (InfoNCE), "mvcss" (multi-view triplet), or None
    gravity: bool = False  # two-stage diving schedule: gravity + reconstruction, then the temporal loss
    weak2d: bool = False  # an MLP on tv predicts 2D joints where labels exist
    multiview: bool = False  # items are synchronised views of a camera rig (view 0..V-1 at t, view 0 far)
    adversarial: bool = False  # DrNet: ti similar across frames, a scene discriminator on tv pairs to fool
    rotate: bool = False  # NSD: tv is a 3D point set, rotated into another view and decoded there
    identity: bool = False  # a subject classifier on tv that the encoder must leave unsure (not the paper's)
    ti_swap: str = "roll"  # whose ti decodes a frame (train/models/config.py: TI_SWAPS); "far": not the paper's

    def __post_init__(self) -> None:
        if self.temporal not in ("dsl", "css", "mvcss", None):
            raise ValueError(f"temporal must be 'dsl', 'css', 'mvcss' or None, got {self.temporal!r}")
        if self.multiview != (self.temporal == "mvcss" or self.rotate):
            raise ValueError(f"{self.name}: multiview items are for the 'mvcss' loss and cross-view decoding "
                             f"(NSD) alone, got multiview={self.multiview}, temporal={self.temporal!r}, "
                             f"rotate={self.rotate}")
        if (self.adversarial or self.rotate) and not (self.split and self.use_decoder):
            raise ValueError(f"{self.name}: DrNet and NSD split the latent and decode it; need split and decoder")
        if not self.use_decoder and self.temporal is None:
            raise ValueError(f"{self.name}: without a decoder a temporal loss is the only signal")
        if self.gravity and not self.use_stn:
            raise ValueError(f"{self.name}: the gravity loss tracks the detector's box; it needs the STN")


VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant("DSL", use_stn=False, use_decoder=False, split=False),
    Variant("DSL-STN", use_decoder=False, split=False),
    Variant("DSL-STN-Dec", split=False),
    Variant("AE-STN-Dec", split=False, temporal=None),
    Variant("CSS", use_stn=False, use_decoder=False, split=False, temporal="css"),
    Variant("CSS-STN-Dec-Split", temporal="css"),
    # MV-CSS: same instant in another camera = positive, a distant frame of the same camera = negative
    Variant("MV-CSS", use_stn=False, use_decoder=False, split=False, temporal="mvcss", multiview=True),
    # DrNet (Denton & Birodkar 2017): content = ti, pose = tv; a frame decoded from its pose and another
    # frame's content, plus a scene discriminator in place of a temporal loss
    Variant("DrNet", temporal=None, adversarial=True),
    # NSD (Rhodin et al. 2018): tv as 3D points, rotated into a second synchronised camera and decoded there
    Variant("NSD", temporal=None, multiview=True, rotate=True),
    Variant("Ours"),  # DSL-STN-Dec-Split
    Variant("Ours+gravity", gravity=True),
    Variant("Ours+2D", weak2d=True),
    Variant("Ours-noID", identity=True),  # Ours with identity kept out of tv (train/models/identity_critic.py)
    Variant("Ours-farswap", ti_swap="far"),  # Ours with ti swapped only across the far gap, never near frames
)}
