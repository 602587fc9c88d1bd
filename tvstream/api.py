"""The Python API beside the CLI: ``for pose in tvstream.stream("clip.mp4"): ...``.

Also the two steps every entry point shares: which model file to use (the one given, else the default
model shipped inside the package) and opening it with a backend.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tvstream.errors import CheckpointError

DEFAULT_MODEL = Path(__file__).parent / "models" / "default.onnx"


def resolve_model(model: str | os.PathLike | None) -> Path:
    """``model``, or the embedded default model when None; a missing file is a CheckpointError."""
    if model is None:
        if not DEFAULT_MODEL.is_file():
            raise CheckpointError(f"the default model is missing from this install ({DEFAULT_MODEL}); "
                                  "pass --model with a model from `tvstream export`")
        return DEFAULT_MODEL
    path = Path(model)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such model file")
    return path


def open_model(model: str | os.PathLike | None, backend: str = "auto", threads: int = 0):
    """Load ``model`` (default: the embedded one) with ``backend``; returns ``(backend, model_info)``.

    ``threads`` 0: every core but one for ONNX Runtime, since decoding runs beside it (on the 2-core dev box
    one ORT thread gave 291 end-to-end fps at batch 8 against 206 with two). ``model_info`` is what the
    output's header line says about the model.
    """
    from engines.backends import load_backend

    threads = threads or max(1, (os.cpu_count() or 2) - 1)
    options = {"threads": threads} if backend in ("auto", "onnxruntime") else {}
    engine = load_backend(resolve_model(model), backend, **options)
    meta = engine.metadata
    info = {"name": meta.name, "hash": meta.model_hash, "backend": engine.name, "trained": meta.trained}
    return engine, info


def open_model_for_source(model: str | os.PathLike | None, engine, info: dict, source, backend: str = "auto",
                          threads: int = 0, sharp: bool = False, fast: bool = False):
    """``(engine, info)`` for ``source`` (a :class:`tvstream.sources.VideoSource` not yet decoding): the opened ones,
    or (an upright picture; with ``sharp`` a large one; with ``fast`` one read each crop once; a pose network with
    MediaPipe's person detector) its twin (:mod:`tvstream.detector_view`), opened in their place, ``source``
    refitted to its frame size; ``info`` then says ``person_view``, ``frame_scale`` and ``mirror_read``."""
    from tvstream.detector_view import model_for_source

    twin = model_for_source(resolve_model(model), engine.metadata, source.fit, sharp=sharp, fast=fast)
    if twin is None:
        return engine, info
    engine.close()
    engine, info = open_model(twin, backend, threads)
    settings = engine.metadata.config.get("model", {})
    source.refit(engine.metadata.input_size)
    return engine, {**info, "person_view": settings.get("person_view", "frame"),
                    "frame_scale": settings.get("frame_scale", 1), "mirror_read": settings.get("mirror_read", False)}


def open_finder(model: str | os.PathLike | None, engine, fit, backend: str = "auto", threads: int = 0):
    """The backend whose person detector searches a landscape picture placed as ``fit`` in squares for ``engine``'s
    second look (:func:`tvstream.detector_view.finder_for`; ``engine`` the model the source runs), or None."""
    from tvstream.detector_view import finder_for

    path = finder_for(resolve_model(model), engine.metadata, fit)
    return None if path is None else open_model(path, backend, threads)[0]


def stream(source: str | os.PathLike, model: str | os.PathLike | None = None, *, backend: str = "auto",
           batch: int = 1, smooth: bool = True, scenario: str = "studio", threads: int = 0, track: bool = True,
           camera: str | os.PathLike | None = None, fov: float | None = None, select: str = "largest",
           sharp: bool = False, fast: bool = False, height_m: float | None = None, cuts: bool = True,
           **source_options: Any) -> Iterator[dict]:
    """Yield one dict per frame of ``source`` (a file, ``-``, a camera or a network URL), as the JSON lines.

    Each dict has the ``pose`` line's fields (``frame``, ``t``, ``detected``, ``score``, ``box``, ``pose3d``,
    ``pose2d``, ``latency_ms``, optional ``tc`` and ``dropped``, and ``conf``, the per-joint confidence, for
    models that have one). ``track``: let the crop follow the athlete's joints (models with a track input, at
    batch 1). ``source_options`` go to :class:`tvstream.sources.VideoSource` (e.g. ``deinterlace=True``, or
    ``realtime=True`` to pace a file at its own frame rate).
    Each also has ``root`` (the pelvis in camera mm), ``speed`` (mm/s) and, when the camera file gives
    the floor, ``height`` (mm): ``camera`` is such a file and ``fov`` the horizontal field of view
    otherwise (default: an assumed 60 degrees; :mod:`tvstream.camera`). ``track`` in each dict is the
    athlete's track id; ``select`` (largest, centre, first) chooses the athlete among several people
    (:mod:`tvstream.athlete`). ``sharp``: a source at least 1.5x the model's frame runs on a frame twice as large;
    ``fast``: a model that reads each crop also mirrored reads it once (:mod:`tvstream.detector_view`).
    ``height_m``: the athlete's height; the 3D is scaled to it and the root follows (:mod:`tvstream.stature`).
    ``cuts``: a new shot (a cut between cameras) starts the tracking afresh, with a new track id
    (:mod:`tvstream.scene_cut`).
    Breaking out of the loop closes the source and the model.

    Example::

        for pose in tvstream.stream("dive.mp4", scenario="dive"):
            if pose["detected"]:
                print(pose["t"], pose["pose3d"][0])
    """
    from tvstream.camera import load_camera_file
    from tvstream.athlete import KeepOptions
    from tvstream.pipeline import RunOptions, estimate
    from tvstream.sources import VideoSource

    camera_file = load_camera_file(camera) if camera is not None else None
    engine, info = open_model(model, backend, threads)
    finder = None
    try:
        with VideoSource(str(source), engine.metadata.input_size, keep_aspect=engine.metadata.keeps_aspect,
                         **source_options) as src:
            engine, _ = open_model_for_source(model, engine, info, src, backend, threads, sharp, fast)
            finder = open_finder(model, engine, src.fit, backend, threads) if batch == 1 and track else None
            options = RunOptions(batch=batch, smooth=smooth, scenario=scenario, track=track, camera=camera_file,
                                 fov=fov, keep=KeepOptions(select=select), height_m=height_m, cuts=cuts)
            for record in estimate(src, engine, options, finder=finder):
                yield record.to_dict()
    finally:
        engine.close()
        if finder is not None:
            finder.close()
