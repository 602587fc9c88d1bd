"""The training objective of a variant: ``L = L_reconst + α·L_temporal + γ·L_track + η·L_2D (+ box prior)``.

DrNet replaces the temporal term by its content similarity and the encoder's side of the scene
discriminator; the discriminator's own loss is stepped by ``train.models.drnet.SceneCritic``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from train.losses.adversarial import confusion_loss, content_similarity_loss, uniform_confusion_loss
from train.losses.box_prior import box_prior_loss
from train.losses.contrastive import css_infonce_loss, triplet_loss
from train.losses.dsl import dsl_all
from train.losses.foreground import foreground_box_loss
from train.losses.gravity import gravity_loss
from train.losses.reconstruction import PerceptualNet, perceptual_loss, pixel_loss
from train.losses.weak2d import weak2d_loss
from train.models.drnet import same_video_pairs
from train.models.spatial import pixels_to_crop
from train.models.ssl_model import SSLOutput
from train.ssl.variants import Variant


@dataclass(frozen=True)
class LossWeights:
    """Weights of the loss terms (paper: λ = ρ = 2, Ski λ = 0.05; α = 0.01; γ = 1; η = 10)."""

    pixel: float = 2.0  # λ
    perceptual: float = 2.0  # ρ
    temporal: float = 0.01  # α
    gravity: float = 1.0  # γ
    weak2d: float = 10.0  # η
    weak2d_box: bool = False  # the weak-2D loss in frame coordinates also trains the detector (not the paper's)
    box_prior: float = 1.0
    centre_prior: bool = False  # also pull the batch-mean centre to the middle (studio data)
    box_scale: tuple[float, float] = (0.5, 0.5)  # the batch-mean box size (x, y) the prior expects
    foreground: float = 0.0  # pull boxes to the background-subtraction box (losses/foreground.py; not the paper's)
    content: float = 1.0  # DrNet's similarity of content (ti) across frames (its code: weight 1 on the MSE)
    adversarial: float = 1e-4  # DrNet's scene-discriminator term of the encoder (its code's sd_weight)
    identity: float = 0.1  # the identity adversary's term of the encoder (Ours-noID)


def ssl_loss(out: SSLOutput, distance: torch.Tensor, variant: Variant, weights: LossWeights,
             perceptual: PerceptualNet | None, dmax: float, stage: str = "temporal",
             perceptual_size: int = 0, joints2d: torch.Tensor | None = None, visible: torch.Tensor | None = None,
             frame_size: tuple[int, int] = (0, 0),
             discriminator: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
             identifier: Callable[[torch.Tensor], torch.Tensor] | None = None,
             ) -> tuple[torch.Tensor, dict]:
    """Total loss and its terms (floats) for one batch.

    Args:
        out: the model's output on items of S frames (temporal: ref, near, far(, mid); gravity: 4 equidistant).
        distance: (B, S) frame distance of each frame to the reference.
        stage: "temporal" (the variant's temporal loss) or "gravity" (diving stage 1: gravity + reconstruction).
        perceptual_size: compare perceptual features at this size (0: the reconstruction's own).
        joints2d, visible: (B, S, K, 2) pixel labels at the training size and (B, S, K) masks (weak 2D; NaN and
            False where a frame has no label); frame_size: that training size (H, W).
        discriminator: DrNet's scene discriminator as seen by the encoder (pose pairs -> logits, frozen
            weights: ``SceneCritic.judge``); required by adversarial variants.
    """
    terms: dict[str, torch.Tensor] = {}
    if out.recon is not None:
        recon, target = out.recon.flatten(0, 1), out.target.flatten(0, 1)  # (B*S, 3, h, w)
        terms["reconst"] = weights.pixel * pixel_loss(recon, target)
        if perceptual is not None and weights.perceptual > 0:
            if perceptual_size and perceptual_size != recon.shape[-1]:
                recon = F.interpolate(recon, size=perceptual_size, mode="bilinear", align_corners=False,
                                      antialias=True)
                target = F.interpolate(target, size=perceptual_size, mode="bilinear", align_corners=False,
                                       antialias=True)
            terms["perceptual"] = weights.perceptual * perceptual_loss(perceptual, recon, target)
    if stage == "gravity":
        g = gravity_loss(out.centre[..., 1], out.scale)  # u = vertical centre, y down in affine_grid units
        terms["gravity"] = weights.gravity * g.total
    elif variant.temporal is not None:
        tv = out.tv
        if variant.temporal == "dsl":
            mid = tv[:, 3] if tv.shape[1] > 3 else None
            d_mid = distance[:, 3] if tv.shape[1] > 3 else None
            temporal = dsl_all(tv[:, 0], tv[:, 1], tv[:, 2], mid, distance[:, 1], distance[:, 2], d_mid, dmax)
        elif variant.temporal == "css":  # near positive, far (and intermediate) negatives
            temporal = css_infonce_loss(tv[:, 0], tv[:, 1], tv[:, 2:])
        else:  # mvcss: items are (view 0 at t, view 1 at t, view 0 far away)
            temporal = triplet_loss(tv[:, 0], tv[:, 1], tv[:, 2])
        terms["temporal"] = weights.temporal * temporal
    if variant.adversarial and stage != "gravity":
        if discriminator is None:
            raise ValueError(f"variant {variant.name} needs the scene discriminator")
        content = out.ti.roll(1, dims=1).detach()  # the content the decoder swapped in, a fixed target as in DrNet
        terms["content"] = weights.content * content_similarity_loss(out.ti.flatten(0, 1), content.flatten(0, 1))
        terms["adversarial"] = weights.adversarial * confusion_loss(discriminator(*same_video_pairs(out.tv)))
    if variant.identity and stage != "gravity":
        if identifier is None:
            raise ValueError(f"variant {variant.name} needs the subject classifier")
        terms["identity"] = weights.identity * uniform_confusion_loss(identifier(out.tv))
    if out.pose2d is not None and joints2d is not None:
        scale, centre = out.scale.flatten(0, 1), out.centre.flatten(0, 1)
        if weights.weak2d_box:  # in frame coordinates: the labeled joints also pull the detector's box onto them
            unit = scale.new_tensor(weights.box_scale)  # errors in units of a typical box half-size (~crop units)
            pred2d = (centre[:, None] + scale[:, None] * out.pose2d.flatten(0, 1)) / unit
            target2d = pixels_to_crop(joints2d.flatten(0, 1), torch.ones_like(scale), torch.zeros_like(centre),
                                      frame_size) / unit
        else:  # the paper: targets in the crop's coordinates, the box detached (2D labels teach the head only)
            pred2d = out.pose2d.flatten(0, 1)
            target2d = pixels_to_crop(joints2d.flatten(0, 1), scale.detach(), centre.detach(), frame_size)
        terms["weak2d"] = weights.weak2d * weak2d_loss(pred2d, target2d, visible.flatten(0, 1))
    if variant.use_stn and not variant.gravity and weights.box_prior > 0:
        scale, centre = out.scale.flatten(0, 1), out.centre.flatten(0, 1)
        terms["box_prior"] = weights.box_prior * box_prior_loss(
            scale, centre if weights.centre_prior else None, target_scale=weights.box_scale)
    if variant.use_stn and weights.foreground > 0 and out.background is not None:
        terms["foreground"] = weights.foreground * foreground_box_loss(
            out.scale.flatten(0, 1), out.centre.flatten(0, 1), out.target.flatten(0, 1), out.background.flatten(0, 1))
    if not terms:
        raise ValueError(f"variant {variant.name} has no loss term in stage {stage!r}")
    total = sum(terms.values())
    return total, {k: float(v.detach()) for k, v in terms.items()}
