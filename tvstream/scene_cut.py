"""Is this frame the first of a new shot? A cut between cameras, told from the last frames by three numbers.

Broadcast footage cuts from camera to camera. Across a cut nothing the run has learnt about the last shot holds: the
athlete is elsewhere (or is someone else), the crop that followed the last joints is on nothing, the rolling
background is another place's. Without this the run kept the last athlete's track for ``--hold`` (2 s) and reported
nothing while the athlete stood elsewhere (session 36's long venue: 46 frames of one clip's tail).

The numbers are taken on the model frame at every 4th pixel (72 x 128 for 512 x 288), inside the picture
(``FrameFit.picture``: not the black bars beside a portrait source):

- ``change``: the mean absolute difference of the two frames' block means (4 x 4 blocks of the green channel's grid,
  18 x 32), each frame's normalised to zero mean and unit spread, so a change of exposure is not a cut. 0 for a still
  shot, about 1 for two unrelated pictures.
- ``colours``: half the L1 distance between the two frames' RGB histograms (4 x 4 x 4 bins, every 8th pixel): 0 for
  the same colours, 1 for none in common.
- ``peak``: the height of the phase correlation's peak between the two green grids: high while one picture is the
  other shifted (a pan), low between unrelated ones. Computed only where ``change`` is in doubt.

A cut: the colours change with the picture (``colours`` > :data:`NEW_COLOURS` and ``change`` > :data:`MOVED`: another
place), or the picture changes as it has not in this shot (``change`` > :data:`NEW_PICTURE`, over
:data:`SPIKE` x the median of the shot's last :data:`RECENT` changes, and ``peak`` < :data:`MAX_PEAK`: another camera
of the same place), or a still shot's picture changes at once (the median of its last changes under :data:`STILL`,
``change`` > :data:`STILL_PICTURE` and over :data:`STILL_SPIKE` x that median, ``peak`` < :data:`STILL_PEAK`: another
fixed camera of one room, whose picture is much like the last; since session 40). Chosen on two design sets
(``benchmarks/results/s39_rule.md``, S and S2): a camera panning and zooming fast over a photograph changes every frame
a lot (``change`` up to 1.17, ``peak`` down to 0.05 within one
shot) where cuts between cameras of one room change it about as much (``change`` about 1, ``peak`` 0.14-0.23); the
colours and the spike tell them apart. Of 23248 consecutive frames within rendered shots (studio, panning ski cameras
over snow and over photographs, varied motion, the sample clip) none was called a cut; 265 of 279 joins between clips
were found (the misses: cuts between two ski cameras in mid-pan, and between two cameras of one studio). A dissolve
is not a cut: its frames change little at a time.

The still-shot rule (``benchmarks/results/s40_rule.md``, S3): four fixed cameras looking into one room corner from other
angles changed the picture by only 0.15-0.39 at a cut (``peak`` 0.21-0.43, ``colours`` 0.03-0.05), after shots whose
frames changed by 0.005-0.018; none of those 47 cuts was called before. Inside still shots of the design sets no
change reached 0.12 at 8x the shot's median, and where another athlete took the place of the last within one fixed
camera's shot (a new take) the ``peak`` stayed at 0.55-0.69: not called.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from tvstream.camera_motion import phase_correlation, small_grey, small_median

NEW_COLOURS = 0.3  # colour histograms this far apart, with the picture changed by MOVED: another place
MOVED = 0.3
NEW_PICTURE = 0.45  # a change above this, SPIKE x the shot's recent ones, with no shift that explains it
SPIKE = 4.0
MAX_PEAK = 0.3
STILL = 0.05  # a shot whose recent changes have a median under this is still (a fixed camera) ...
STILL_PICTURE = 0.12  # ... and a change above this, STILL_SPIKE x that median, with a peak under STILL_PEAK: a cut
STILL_SPIKE = 8.0
STILL_PEAK = 0.5
RECENT = 8  # the shot's last changes the spike is measured against ...
KNOWN = 3  # ... once at least this many are known
STEP = 4  # the grid takes every STEP-th pixel
BLOCK = 4  # block means of BLOCK x BLOCK grid points
LEVEL_BITS = 2  # histogram bins per colour channel: 2 ** LEVEL_BITS (4: 64 bins)


def grid(image: np.ndarray) -> np.ndarray:
    """``image (H, W, 3)`` uint8 -> its green channel at every :data:`STEP`-th pixel, zero-mean float32
    (:func:`tvstream.camera_motion.small_grey`), cut to whole blocks."""
    grey = small_grey(image, STEP)
    return grey[:grey.shape[0] // BLOCK * BLOCK, :grey.shape[1] // BLOCK * BLOCK]


def block_means(grey: np.ndarray) -> np.ndarray:
    """The :data:`BLOCK` x :data:`BLOCK` block means of ``grey (h, w)``, normalised to zero mean and unit spread (a
    flat picture: all zeros)."""
    h, w = grey.shape
    # two one-axis sums: a 2-axis reduction of a small array costs 3x as much
    blocks = grey.reshape(h // BLOCK, BLOCK, w).sum(axis=1).reshape(h // BLOCK, w // BLOCK, BLOCK).sum(axis=2)
    blocks -= blocks.mean()
    spread = float(blocks.std())
    # under 1 grey level (summed over a block's BLOCK ** 2 points): flat (a black frame)
    if spread > BLOCK ** 2:
        blocks /= spread
    else:
        blocks[:] = 0.0
    return blocks


def colour_histogram(image: np.ndarray) -> np.ndarray:
    """The share of ``image (H, W, 3)`` uint8's pixels (every 8th) in each of the RGB bins (:data:`LEVEL_BITS`)."""
    q = image[::2 * STEP, ::2 * STEP] >> (8 - LEVEL_BITS)  # each channel's bin
    index = (q[..., 0] << 2 * LEVEL_BITS) | (q[..., 1] << LEVEL_BITS) | q[..., 2]  # uint8 while LEVEL_BITS <= 2
    return np.bincount(index.ravel(), minlength=1 << 3 * LEVEL_BITS) / index.size


def change(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two frames' :func:`block_means`."""
    return float(np.abs(a - b).mean())


def colour_change(a: np.ndarray, b: np.ndarray) -> float:
    """Half the L1 distance between two :func:`colour_histogram` (0: the same colours, 1: none in common)."""
    return 0.5 * float(np.abs(a - b).sum())


def correlation_peak(a: np.ndarray, b: np.ndarray) -> float:
    """The height of the phase correlation's peak between two zero-mean grey grids of one shape (1: one is the
    other shifted by whole pixels; a few hundredths for unrelated pictures)."""
    return float(phase_correlation(np.fft.rfft2(a), np.fft.rfft2(b), a.shape).max())


class CutDetector:
    """Feed frames in order (:meth:`observe`); it says which ones start a new shot. About 0.1 ms a frame.

    ``picture``: the rows and columns of the model frame the source fills (:attr:`tvstream.frame_fit.FrameFit.picture`),
    None for all of it.
    """

    def __init__(self, picture: tuple[slice, slice] | None = None) -> None:
        self.picture = picture
        self._last: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # green grid, block means, histogram
        self._changes: deque[float] = deque(maxlen=RECENT)  # this shot's recent changes
        self.cuts = 0  # cuts seen so far

    def observe(self, image: np.ndarray) -> bool:
        """Take the next frame (model frame, ``(H, W, 3)`` uint8); True when it starts a new shot (never the first)."""
        picture = image if self.picture is None else image[self.picture]
        green = grid(picture)
        now = (green, block_means(green), colour_histogram(picture))
        last, self._last = self._last, now
        if last is None or last[0].shape != green.shape:
            return False
        moved = change(last[1], now[1])
        cut = (moved > MOVED and colour_change(last[2], now[2]) > NEW_COLOURS) or self._spike(moved, last[0], green)
        if cut:
            self.cuts += 1
            self._changes.clear()
        else:
            self._changes.append(moved)
        return cut

    def _spike(self, moved: float, last: np.ndarray, green: np.ndarray) -> bool:
        """Is ``moved`` a change this shot has not shown (over :data:`NEW_PICTURE` and :data:`SPIKE` x its recent
        median, or a still shot's over :data:`STILL_PICTURE` and :data:`STILL_SPIKE` x), with no shift between the
        pictures that explains it?"""
        if moved <= STILL_PICTURE or len(self._changes) < KNOWN:  # (STILL_PICTURE < NEW_PICTURE)
            return False
        recent = small_median(self._changes)
        spike = moved > NEW_PICTURE and moved > SPIKE * recent
        still = recent < STILL and moved > STILL_SPIKE * recent
        if not (spike or still):
            return False
        peak = correlation_peak(last, green)
        return (spike and peak < MAX_PEAK) or (still and peak < STILL_PEAK)
