"""The model a source runs: the embedded model, or its twin (the same weights) for an upright or a large picture.

**Upright pictures.** The embedded default model's person detector reads the whole 16:9 working frame
(``PoseNetConfig.person_view`` "frame"). A portrait source (a phone held upright) fills a third of that frame's
width, so its people reach the detector at 0.57x the size MediaPipe's own letterbox gives them, and it rarely finds
them. The same weights with the ``square`` view read the square around the source's picture instead: on the
held-out portrait reference clips through the run 0.385 -> 0.714 and 0.357 -> 0.568 (session 23). On 16:9 clips
that view changed who MediaPipe was sure of in rendered crossings (the athlete lost on 4 of 16 front crossings), so
a landscape source keeps the frame view: only a source whose picture is no wider than it is tall gets the square
one.

**Large pictures, on request** (``sharp``: ``tvstream run --sharp``). The head's crop is cut from the 512 x 288
working frame, so a person 250 px tall in a 1280 x 720 source reaches it from 100 px. With ``sharp``, a source at
least :data:`SHARP_FROM` times the working frame (768 px wide for a 16:9 one) runs the twin on a working frame
:data:`SHARP_SCALE` times as large (``PoseNetConfig.frame_scale``: the detectors read what they read before, the
crop is cut from twice the detail). On real people made small in 1280 x 720 frames the head reads them better on
their boxes (+0.05 to +0.09 PCK), but through the run the gain was not steady (+0.05, -0.01, +0.05 at 25, 40 and 80%
of the frame's height), on the held-out reference clips the run scored lower (0.552 -> 0.519), and it costs 0.8x
the speed: an experimental option, not the default (session 32, ``benchmarks/results/s32_rule.md``).

A twin is written once per model file and kind (``train.posenet.person_view``: needs torch, i.e. the ``train``
extra) into ``$TVSTREAM_CACHE/models`` (default ``~/.cache/tvstream/models``), keyed by the model's bytes; without
torch the run keeps the model it has and says so once.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

from engines.engine_cache import CACHE_ENV
from engines.metadata import ModelMetadata
from tvstream.frame_fit import FrameFit

log = logging.getLogger(__name__)

VIEW_VERSION = 2  # bump when the written graph changes for the same source model
SHARP_FROM = 1.5  # source pixels per working-frame pixel from which a source runs the larger working frame
SHARP_SCALE = 2  # ... that many times the size (1024 x 576 for the embedded model)


def upright(fit: FrameFit) -> bool:
    """Is the source's picture no wider than it is tall (portrait or square)?"""
    h, w = fit.content
    return w <= h


def _posenet_model(meta: ModelMetadata) -> dict | None:
    """The model config of a pose network with MediaPipe's person detector beside the box detector, else None."""
    model = (meta.config or {}).get("model") or {}
    return model if (meta.config or {}).get("kind") == "posenet" and model.get("detector") == "boxnet+blazepose" \
        else None


def reads_frame(meta: ModelMetadata) -> bool:
    """Is ``meta`` a pose network whose MediaPipe person detector reads the 16:9 frame?"""
    model = _posenet_model(meta)
    return model is not None and model.get("person_view", "frame") == "frame"


def twin_settings(meta: ModelMetadata, fit: FrameFit, sharp: bool = False,
                  fast: bool = False) -> tuple[str, int, bool] | None:
    """``(person_view, frame_scale, mirror_read)`` of the twin a source placed as ``fit`` runs (``sharp``: a large
    one on a larger working frame; ``fast``: each crop read once, not also mirrored); None: the model as it is (not
    a pose network with MediaPipe's detector, or its settings already the source's)."""
    model = _posenet_model(meta)
    if model is None:
        return None
    view, scale, mirror = model.get("person_view", "frame"), int(model.get("frame_scale", 1)), \
        bool(model.get("mirror_read", False))
    wanted = ("square" if upright(fit) else view,
              SHARP_SCALE if sharp and scale == 1 and float(min(fit.scale)) >= SHARP_FROM else scale,
              mirror and not fast)
    return None if wanted == (view, scale, mirror) else wanted


def models_cache() -> Path:
    """``$TVSTREAM_CACHE/models`` when set, else ``~/.cache/tvstream/models``."""
    env = os.environ.get(CACHE_ENV)
    return (Path(env).expanduser() if env else Path.home() / ".cache" / "tvstream") / "models"


def _written_once(model: Path, name: str, cache: Path | None, what: str, writer: str, *args) -> Path:
    """``{digest}-{name}-v{VIEW_VERSION}.onnx`` in the model cache, written by ``train.posenet.person_view``'s
    ``writer(model, out, *args)`` on first use (raises ImportError without torch, OSError where it cannot write)."""
    digest = hashlib.sha256(Path(model).read_bytes()).hexdigest()[:16]
    out = (cache or models_cache()) / f"{digest}-{name}-v{VIEW_VERSION}.onnx"
    if not out.is_file():
        from train.posenet import person_view  # torch: the train extra

        out.parent.mkdir(parents=True, exist_ok=True)
        log.info("writing %s of %s (once): %s", what, model, out)
        getattr(person_view, writer)(model, out, *args)  # written through temp names and renamed
    return out


def twin_of(model: Path, view: str, frame_scale: int, mirror_read: bool | None = None,
            cache: Path | None = None) -> Path:
    """The twin of ``model`` whose person detector reads ``view`` on a working frame ``frame_scale`` times its size,
    reading each crop also mirrored or not (``mirror_read``; None: as ``model`` does) (written on first use; raises
    ImportError without torch)."""
    once = "" if mirror_read is None or mirror_read else "-once"
    return _written_once(model, f"{view}-x{frame_scale}{once}", cache,
                         f"the twin reading the {view} view of a frame {frame_scale}x as large"
                         + (", each crop once" if once else ""), "with_person_view", view, frame_scale, mirror_read)


def finder_for(model: Path, meta: ModelMetadata, fit: FrameFit, cache: Path | None = None) -> Path | None:
    """The person finder that searches a landscape picture in squares as tall as it (the second look's search,
    ``tvstream.pipeline``): ``model``'s MediaPipe person detector alone, reading the square each row names
    (``train.posenet.person_view.write_finder``, written once into the cache), at the frame scale of the model of
    ``meta`` (``model``'s own or its ``--sharp`` twin) running on a source placed as ``fit``; None for an upright
    picture (it runs the square view already), a model without MediaPipe's frame view, or where the finder cannot
    be written."""
    settings = _posenet_model(meta)
    if settings is None or upright(fit) or settings.get("person_view", "frame") != "frame":
        return None
    scale = int(settings.get("frame_scale", 1))
    try:
        return _written_once(model, f"finder-x{scale}", cache, "the person finder", "write_finder", scale)
    except (ImportError, OSError) as exc:  # info: the search lifts a few frames, every run without torch would warn
        log.info("the second look would search the picture in squares, but its model cannot be written (%s)", exc)
    return None


def model_for_source(model: Path, meta: ModelMetadata, fit: FrameFit, cache: Path | None = None,
                     sharp: bool = False, fast: bool = False) -> Path | None:
    """The model file to run on a source placed as ``fit`` (the fit of ``model``'s own frame): the twin
    :func:`twin_settings` names; None to keep ``model`` (also, with a warning, when torch is missing or the cache
    cannot be written)."""
    settings = twin_settings(meta, fit, sharp, fast)
    if settings is None:
        return None
    (view, scale, mirror), own = settings, _posenet_model(meta)
    why = "an upright source: the person detector would read it better in its own square" \
        if view == "square" and reads_frame(meta) else \
        f"a large source ({fit.source[1]}x{fit.source[0]}): the head would read it sharper on a larger frame" \
        if scale != int(own.get("frame_scale", 1)) else "--fast: the model reading each crop once"
    mirror = None if mirror == bool(own.get("mirror_read", False)) else mirror  # None: as the model reads
    try:
        return twin_of(model, view, scale, mirror, cache=cache)
    except ImportError as exc:
        log.warning("%s, but writing that model needs torch (pip install 'tvstream[train]'): %s", why, exc)
    except OSError as exc:  # a full or read-only cache: the run goes on with the model it has
        log.warning("%s; could not write that model (%s): the run keeps %s", why, exc, Path(model).name)
    return None
