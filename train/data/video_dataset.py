"""``VideoDataset``: training samples (frame tuples + optional labels) from a folder or manifest of videos.

One dataset class serves every method: the :class:`SamplingConfig` mode picks what an item holds.

========== ============================================================ ==========================
mode       frames of one item                                           used by
========== ============================================================ ==========================
temporal   reference, near, far (, intermediate) of one video           DSL, CSS, reconstruction
gravity    four equidistant frames, forward in time                     gravity tracking (diving)
multiview  the same instant from ``views`` synchronised cameras, then   MV-CSS, NSD
           a far frame of the first camera
frame      one frame (all, or only labeled ones)                        pose regression, evaluation
========== ============================================================ ==========================

Items are dicts of numpy arrays, so ``torch.utils.data.DataLoader`` (with workers) batches them with its
default collate. Item ``i`` draws its frames from ``numpy.random.default_rng((seed, epoch, i))``: the
same seed and epoch give the same samples whatever the worker count; :meth:`set_epoch` varies them.

Frames come from a per-video memory-mapped cache at the training size when ``cache_dir`` is given
(built once), otherwise from seek + decode with PyAV. Videos that cannot be read are skipped with a
warning and listed in :attr:`skipped`; label files with a bad field raise :class:`LabelError`.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from pathlib import Path
from typing import Any
from collections.abc import Callable, Sequence

import numpy as np

from train.data.frame_cache import build_cache
from train.data.sampling import SamplingConfig, reference_frames, sample_gravity, sample_temporal, sample_views
from train.data.video_reader import FrameReader, VideoInfo, probe_video
from tvstream.errors import SourceError
from tvstream.labels import VideoLabels, load_any_labels
from tvstream.manifest import VideoEntry, discover
from tvstream.skeleton import H36M_17, Skeleton

log = logging.getLogger(__name__)

CacheProgress = Callable[[str, int, int], None]
"""Called as ``progress(video_name, frames_done, frames_total)`` while frame caches are built."""

_MAX_OPEN_READERS = 8


class VideoDataset:
    """Frame tuples sampled from videos, with labels where the videos have them.

    Args:
        source: a dataset folder, a ``manifest.json``, a single video, or a list of entries.
        size: training resolution ``(H, W)``; frames are scaled to it (aspect not kept), and 2D labels,
            boxes and intrinsics are scaled with them.
        sampling: what one item holds (see the module docstring); default ``SamplingConfig()``.
        cache_dir: folder for memory-mapped frame caches; None decodes on demand.
        split: keep only entries of this split (``train``, ``labeled``, ``val``, ``test``) or of these splits;
            None keeps all.
        label_splits: load labels only for entries of these splits (the rest count as unlabeled); None: all.
        seed: base seed of the per-item generators.
        with_labels: add label arrays to items (NaN / False where a frame has no label).
        labeled_only: in ``frame`` mode, use only labeled frames as items.
        skeleton: the joints labels must have.
        progress: optional callback while caches are built.
        background: add each frame's background image of this kind (``train.background.KINDS``: median,
            diving, panorama; or ``camera_median``: one per camera id over all its videos, for fixed rigs)
            as ``item["background"]``; computed once into ``cache_dir``.
    """

    def __init__(
        self,
        source: str | os.PathLike | Sequence[VideoEntry],
        size: tuple[int, int] = (128, 128),
        sampling: SamplingConfig | None = None,
        cache_dir: str | os.PathLike | None = None,
        split: str | Sequence[str] | None = None,
        label_splits: Sequence[str] | None = None,
        seed: int = 0,
        with_labels: bool = True,
        labeled_only: bool = False,
        skeleton: Skeleton = H36M_17,
        progress: CacheProgress | None = None,
        background: str | None = None,
    ) -> None:
        if len(size) != 2 or min(size) <= 0:
            raise ValueError(f"size must be (H, W) with positive values, got {size}")
        entries = list(source) if isinstance(source, (list, tuple)) else discover(source)
        if split is not None:
            keep = {split} if isinstance(split, str) else set(split)
            entries = [e for e in entries if e.split in keep]
        self.size = (int(size[0]), int(size[1]))
        self.sampling = sampling = sampling or SamplingConfig()
        self.seed = int(seed)
        self.epoch = 0
        self.with_labels = with_labels
        self.skeleton = skeleton
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.skipped: list[tuple[Path, str]] = []

        # ---- videos: probe, cache, labels
        self.entries: list[VideoEntry] = []
        self.infos: list[VideoInfo] = []
        self.lengths: list[int] = []
        self.labels: list[VideoLabels | None] = []
        self._cache_shapes: list[tuple[int, ...] | None] = []
        for entry in entries:
            try:
                info = probe_video(entry.video)
                shape = self._prepare_cache(entry, info, progress)
            except SourceError as exc:
                log.warning("skipping %s: %s", entry.video, exc)
                self.skipped.append((entry.video, str(exc)))
                continue
            self.entries.append(entry)
            self.infos.append(info)
            self._cache_shapes.append(shape)
            self.lengths.append(shape[0] if shape else info.num_frames)
            use_labels = entry.labels is not None and (label_splits is None or entry.split in label_splits)
            self.labels.append(load_any_labels(entry.labels, skeleton) if use_labels else None)
        if not self.entries:
            raise SourceError(f"no readable videos in {source}" + (f" (split {split})" if split else ""))
        self.background = background
        self._camera_backgrounds: dict[str, np.ndarray] = {}
        if background is not None:
            if self.cache_dir is None:
                raise ValueError("background images need a cache_dir to live in")
            if background == "camera_median":  # fixed rig: one background per camera id, over all its videos
                from train.background.camera_median import camera_background_for

                for camera in sorted({e.camera for e in self.entries}):
                    videos = [e.video for e in self.entries if e.camera == camera]
                    self._camera_backgrounds[camera] = camera_background_for(videos, self.size, self.cache_dir)
            else:
                from train.background import background_for

                for entry in self.entries:  # build every cache now, open them lazily per process
                    background_for(entry.video, self.size, background, self.cache_dir)
        self.subjects = sorted({e.subject for e in self.entries})

        # ---- items: (group, reference frame) pairs; a group is one video, or one rig for multiview
        self.groups = self._make_groups()
        self._items = self._make_items(labeled_only)
        if len(self._items) == 0:
            raise SourceError(f"no {sampling.mode} samples fit: videos have {min(self.lengths)}.."
                              f"{max(self.lengths)} frames, sampling needs more than {sampling.span()}")
        self._pid = os.getpid()
        self._readers: OrderedDict[int, FrameReader] = OrderedDict()
        self._arrays: dict[int, np.memmap] = {}
        self._backgrounds: dict[int, np.ndarray] = {}

    # ------------------------------------------------------------------------------------ setup

    def _prepare_cache(self, entry: VideoEntry, info: VideoInfo, progress: CacheProgress | None):
        if self.cache_dir is None:
            return None
        report = None if progress is None else (lambda done, total: progress(entry.video.name, done, total))
        return build_cache(entry.video, self.size, self.cache_dir, info.num_frames, report).shape

    def _make_groups(self) -> list[np.ndarray]:
        if self.sampling.mode != "multiview":
            return [np.array([i]) for i in range(len(self.entries))]
        rigs: dict[str, list[int]] = {}
        for i, e in enumerate(self.entries):
            rigs.setdefault(e.sequence, []).append(i)
        groups = []
        for sequence, members in sorted(rigs.items()):
            cams = [self.entries[i].camera for i in members]
            if len(set(cams)) != len(cams):
                raise SourceError(f"sequence {sequence!r} lists camera ids {cams} more than once")
            if len(members) < self.sampling.views:
                log.warning("sequence %r has %d camera(s), multiview needs %d; not used",
                            sequence, len(members), self.sampling.views)
                continue
            groups.append(np.array(sorted(members, key=lambda i: self.entries[i].camera)))
        return groups

    def _make_items(self, labeled_only: bool) -> np.ndarray:
        items = []
        for g, members in enumerate(self.groups):
            length = min(self.lengths[i] for i in members)
            if self.sampling.mode == "frame" and labeled_only:
                labels = self.labels[members[0]]
                refs = np.zeros(0, np.int64) if labels is None else labels.frames[labels.frames < length]
                refs = refs[::self.sampling.stride]
            else:
                refs = reference_frames(length, self.sampling)
            if len(refs) == 0:
                log.warning("%s: %d frames, too short for %s sampling (needs > %d)",
                            self.entries[members[0]].video, length, self.sampling.mode, self.sampling.span())
            items.append(np.stack([np.full_like(refs, g), refs], axis=1))  # (R, 2)
        return np.concatenate(items) if items else np.zeros((0, 2), np.int64)

    def set_epoch(self, epoch: int) -> None:
        """Draw different (but reproducible) frames in each epoch."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self._items)

    # ------------------------------------------------------------------------------------ items

    def __getitem__(self, index: int | tuple[int, int]) -> dict[str, np.ndarray]:
        """Item ``index`` of the current epoch, or of epoch ``e`` when given ``(e, index)``."""
        epoch, index = index if isinstance(index, tuple) else (self.epoch, index)
        if not 0 <= index < len(self._items):
            raise IndexError(f"item {index} outside 0..{len(self._items) - 1}")
        group, ref = (int(v) for v in self._items[index])
        rng = np.random.default_rng((self.seed, epoch, index))
        members = self.groups[group]
        mode, cfg = self.sampling.mode, self.sampling
        length = min(self.lengths[i] for i in members)
        if mode == "temporal":
            frames = sample_temporal(rng, ref, length, cfg)
            videos = np.full(len(frames), members[0])
        elif mode == "gravity":
            frames = sample_gravity(rng, ref, length, cfg)
            videos = np.full(len(frames), members[0])
        elif mode == "multiview":
            cams = members[sample_views(rng, len(members), cfg)]  # (V,)
            far = sample_temporal(rng, ref, length, cfg)[2]
            frames = np.append(np.full(len(cams), ref), far)
            videos = np.append(cams, cams[0])
        else:
            frames, videos = np.array([ref]), np.array([members[0]])
        item: dict[str, Any] = {
            "frames": self.read(videos, frames),  # (S, H, W, 3) uint8
            "frame_index": frames.astype(np.int64),
            "video": videos.astype(np.int64),
            "distance": np.abs(frames - ref).astype(np.float32),
            "subject": np.array([self.subjects.index(self.entries[v].subject) for v in videos], np.int64),
        }
        if self.with_labels:
            item.update(self.label_arrays(videos, frames))
        if self.background is not None:
            item["background"] = self.backgrounds(videos, frames)
        return item

    def backgrounds(self, videos: np.ndarray, frames: np.ndarray) -> np.ndarray:
        """Background images of the given frames, uint8 ``(S, H, W, 3)`` at the dataset size."""
        from train.background import background_for

        self._reset_if_forked()
        out = np.empty((len(frames), *self.size, 3), dtype=np.uint8)
        for slot, (v, f) in enumerate(zip(videos, frames)):
            v = int(v)
            if self._camera_backgrounds:
                out[slot] = self._camera_backgrounds[self.entries[v].camera]
                continue
            if v not in self._backgrounds:
                self._backgrounds[v] = background_for(self.entries[v].video, self.size, self.background,
                                                      self.cache_dir)
            bg = self._backgrounds[v]
            out[slot] = bg[min(int(f), len(bg) - 1)] if bg.ndim == 4 else bg  # panorama: one per frame
        return out

    def read(self, videos: np.ndarray, frames: np.ndarray) -> np.ndarray:
        """Frames ``frames[s]`` of entries ``videos[s]`` as uint8 ``(S, H, W, 3)`` at the dataset size."""
        self._reset_if_forked()
        out = np.empty((len(frames), *self.size, 3), dtype=np.uint8)
        for v in np.unique(videos):
            slots = np.flatnonzero(videos == v)
            if self._cache_shapes[v] is not None:
                out[slots] = self._array(int(v))[frames[slots]]
            else:
                out[slots] = self._reader(int(v)).read_many(frames[slots])
        return out

    def label_arrays(self, videos: np.ndarray, frames: np.ndarray) -> dict[str, np.ndarray]:
        """Labels of the given frames at the dataset size; NaN (or False) where a frame has none."""
        s, k = len(frames), self.skeleton.num_joints
        out = {
            "labeled": np.zeros(s, bool),
            "joints3d": np.full((s, k, 3), np.nan, np.float32),
            "joints2d": np.full((s, k, 2), np.nan, np.float32),
            "box": np.full((s, 4), np.nan, np.float32),
            "visible": np.zeros((s, k), bool),
            "K": np.full((s, 3, 3), np.nan, np.float32),
            "R": np.full((s, 3, 3), np.nan, np.float32),
            "t": np.full((s, 3), np.nan, np.float32),
        }
        for slot, (v, f) in enumerate(zip(videos, frames)):
            labels, info = self.labels[v], self.infos[v]
            if labels is None:
                continue
            scale = np.array([self.size[1] / info.width, self.size[0] / info.height], np.float32)  # (sx, sy)
            row = int(labels.rows(np.array([f]))[0])
            camera = labels.camera_at(row) if row >= 0 else labels.camera
            if camera is not None:
                out["K"][slot] = np.diag([scale[0], scale[1], 1.0]) @ camera.K
                out["R"][slot], out["t"][slot] = camera.R, camera.t
            if row < 0:
                continue
            out["labeled"][slot] = True
            out["joints3d"][slot] = labels.joints3d[row]
            out["joints2d"][slot] = labels.joints2d[row] * scale
            out["box"][slot] = labels.box[row] * np.tile(scale, 2)
            out["visible"][slot] = labels.visible[row]
        return out

    # ------------------------------------------------------------------ per-process file handles

    def _reset_if_forked(self) -> None:
        # DataLoader workers inherit this object: decoders and maps must be opened per process.
        if self._pid != os.getpid():
            self._pid, self._readers, self._arrays, self._backgrounds = os.getpid(), OrderedDict(), {}, {}

    def _array(self, v: int) -> np.memmap:
        if v not in self._arrays:
            self._arrays[v] = build_cache(self.entries[v].video, self.size, self.cache_dir)  # opens; built already
        return self._arrays[v]

    def _reader(self, v: int) -> FrameReader:
        if v in self._readers:
            self._readers.move_to_end(v)
            return self._readers[v]
        if len(self._readers) >= _MAX_OPEN_READERS:
            self._readers.popitem(last=False)[1].close()
        self._readers[v] = FrameReader(self.infos[v], self.size)
        return self._readers[v]

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_readers"], state["_arrays"], state["_backgrounds"], state["_pid"] = OrderedDict(), {}, {}, -1
        return state

    def close(self) -> None:
        """Close open decoders (memmaps close when dropped)."""
        for reader in self._readers.values():
            reader.close()
        self._readers.clear()
        self._arrays.clear()
