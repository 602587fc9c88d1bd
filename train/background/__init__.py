"""Background images ``B`` for the self-supervised model's recomposition ``M·D + (1−M)·B`` (paper S.1).

Three estimators, one per kind of camera: ``median`` (static camera), ``diving`` (static camera, the
diver falls from top to bottom) and ``panorama`` (panning/zooming camera, per-frame backgrounds).
:func:`background_for` computes one once per video and training size and caches it on disk.
"""

from train.background.cache import KINDS, background_for
from train.background.diving import diving_background, diving_from_frames
from train.background.median import median_background, median_of_frames
from train.background.panorama import PanoramaConfig, panorama_background, panorama_from_frames

__all__ = [
    "KINDS",
    "PanoramaConfig",
    "background_for",
    "diving_background",
    "diving_from_frames",
    "median_background",
    "median_of_frames",
    "panorama_background",
    "panorama_from_frames",
]
