"""The losses of the paper (Honari et al., TPAMI 2022, eq. 2-14) as pure functions of tensors.

Weights (λ, ρ, α, γ, η) are config values applied by the caller; each function here returns an unweighted
scalar (or, for gravity, its separate terms). Nothing here holds state, logs or talks to other processes.
"""

from train.losses.adversarial import discriminator_loss, confusion_loss, discriminator_accuracy, content_similarity_loss
from train.losses.box_prior import box_prior_loss
from train.losses.contrastive import css_infonce_loss, triplet_loss
from train.losses.dsl import dsl_all, dsl_loss
from train.losses.gravity import (
    GravityTerms,
    constant_acceleration_loss,
    gravity_loss,
    order_loss,
    scale_consistency_loss,
)
from train.losses.reconstruction import PerceptualNet, perceptual_loss, pixel_loss, reconstruction_loss
from train.losses.weak2d import weak2d_loss

__all__ = [
    "discriminator_loss",
    "confusion_loss",
    "discriminator_accuracy",
    "content_similarity_loss",
    "GravityTerms",
    "PerceptualNet",
    "box_prior_loss",
    "constant_acceleration_loss",
    "css_infonce_loss",
    "dsl_all",
    "dsl_loss",
    "gravity_loss",
    "order_loss",
    "perceptual_loss",
    "pixel_loss",
    "reconstruction_loss",
    "scale_consistency_loss",
    "triplet_loss",
    "weak2d_loss",
]
