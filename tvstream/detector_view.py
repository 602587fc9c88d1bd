"""Which view MediaPipe's person detector reads, chosen per source: the 16:9 frame, or for an upright picture the
square around it.

The embedded default model's person detector reads the whole 16:9 working frame (``PoseNetConfig.person_view``
"frame"). A portrait source (a phone held upright) fills a third of that frame's width, so its people reach the
detector at 0.57x the size MediaPipe's own letterbox gives them, and it rarely finds them. The same weights with
the ``square`` view read the square around the source's picture instead: on the held-out portrait reference
clips through the run 0.385 -> 0.714 and 0.357 -> 0.568 (session 23). On 16:9 clips that view changed who
MediaPipe was sure of in rendered crossings (the athlete lost on 4 of 16 front crossings), so a landscape source
keeps the frame view: only a source whose picture is no wider than it is tall gets the square one.

The square-view model is written once per model file (``train.posenet.person_view``: needs torch, i.e. the
``train`` extra) into ``$TVSTREAM_CACHE/models`` (default ``~/.cache/tvstream/models``), keyed by the model's
bytes; without torch the run keeps the frame view and says so once.
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

VIEW_VERSION = 1  # bump when the written graph changes for the same source model


def upright(fit: FrameFit) -> bool:
    """Is the source's picture no wider than it is tall (portrait or square)?"""
    h, w = fit.content
    return w <= h


def reads_frame(meta: ModelMetadata) -> bool:
    """Is ``meta`` a pose network whose MediaPipe person detector reads the 16:9 frame?"""
    model = (meta.config or {}).get("model") or {}
    return (meta.config or {}).get("kind") == "posenet" and model.get("detector") == "boxnet+blazepose" \
        and model.get("person_view", "frame") == "frame"


def models_cache() -> Path:
    """``$TVSTREAM_CACHE/models`` when set, else ``~/.cache/tvstream/models``."""
    env = os.environ.get(CACHE_ENV)
    return (Path(env).expanduser() if env else Path.home() / ".cache" / "tvstream") / "models"


def square_view_of(model: Path, cache: Path | None = None) -> Path:
    """The square-view twin of ``model`` (written on first use; raises ImportError without torch)."""
    digest = hashlib.sha256(Path(model).read_bytes()).hexdigest()[:16]
    out = (cache or models_cache()) / f"{digest}-square-v{VIEW_VERSION}.onnx"
    if not out.is_file():
        from train.posenet.person_view import with_person_view  # torch: the train extra

        out.parent.mkdir(parents=True, exist_ok=True)
        log.info("writing the square-view twin of %s for an upright source (once): %s", model, out)
        with_person_view(model, out, "square")  # written through temp names and renamed
    return out


def model_for_source(model: Path, meta: ModelMetadata, fit: FrameFit, cache: Path | None = None) -> Path | None:
    """The model file to run on a source placed as ``fit``: the square-view twin of ``model`` for an upright picture
    when ``model``'s detector reads the frame; None to keep ``model`` (also, with a warning, when torch is missing or
    the cache cannot be written)."""
    if not (upright(fit) and reads_frame(meta)):
        return None
    try:
        return square_view_of(model, cache)
    except ImportError as exc:
        log.warning("an upright source: the person detector would read it better in its own square, but writing "
                    "that model needs torch (pip install 'tvstream[train]'): %s", exc)
    except OSError as exc:  # a full or read-only cache: the run goes on with the frame view
        log.warning("an upright source: could not write the square-view model (%s); the person detector reads the "
                    "16:9 frame", exc)
    return None
