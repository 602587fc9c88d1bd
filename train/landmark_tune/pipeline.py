"""The recipe's stages in order, each kept in the work folder and skipped when its output is already there.

1. ``crops``: ``WORK/crops/render.npz`` and ``real.npz`` (``crops.py``; a file is written whole or not at all);
2. ``tune``: ``WORK/tune/last.pt``, resumed exactly while its step is short of ``steps`` (``tune.py``), then
   ``blend``ed with the network it started from (its checkpoint leaves ``blend`` out: another blend may reuse it);
3. ``presence``: ``WORK/presence/head.pt``, the tuned network with its pose flag retrained (``presence.py``);
4. ``readout3d``: ``WORK/readout3d/head.pt``, its own 3D convolution fitted in closed form (``readout3d.py``);
5. ``export``: ``WORK/export/model.pt`` (the whole network) and the ``.onnx`` (``export.py``); skipped with
   ``size`` None.

With ``head_init`` the stages start from that model's head, pose flag and 3D convolution instead of MediaPipe's
(``tvstream adapt`` runs them so on a venue's data, from the landmark model it adapts).

The work folder keeps its config (``landmark_tune.json``); a run with another one there is refused with the
settings that differ (RUN_ONLY settings, such as threads, may change).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from train.landmark_tune.config import AFTER_TUNE, LandmarkTuneConfig
from tvstream.errors import CheckpointError
from tvstream.json_documents import write_text_atomic

if TYPE_CHECKING:
    from train.landmark_tune.tune import Progress

log = logging.getLogger(__name__)

CONFIG_NAME = "landmark_tune.json"
STAGES = ("crops", "tune", "presence", "readout3d", "export")


def check_work(work: Path, cfg: LandmarkTuneConfig) -> None:
    """Create ``work`` for ``cfg``, or refuse one made with another config (naming the settings that differ)."""
    work.mkdir(parents=True, exist_ok=True)
    stored = work / CONFIG_NAME
    if stored.is_file():
        try:
            made = LandmarkTuneConfig.from_dict(json.loads(stored.read_text()))
        except (ValueError, TypeError) as exc:  # JSONDecodeError is a ValueError
            raise CheckpointError(f"{stored} is not a landmark_tune config ({exc}); use another --work folder "
                                  "or delete it") from None
        changed = cfg.differences(made)
        if changed:
            after = set(cfg.differing(made)) <= set(AFTER_TUNE)
            hint = (f" (only the stages after the tune read it: a new --work folder with {work}/crops and "
                    f"{work}/tune/last.pt linked in reruns just those)" if after else "")
            raise CheckpointError(f"{work} was made with another config ({'; '.join(changed)}); use another --work "
                                  f"folder or delete it{hint}")
    text = json.dumps(cfg.to_dict(), indent=1) + "\n"
    if not (stored.is_file() and stored.read_text() == text):
        write_text_atomic(stored, text)


def save_head(path: Path, head: torch.nn.Module, cfg: LandmarkTuneConfig, stage: str) -> Path:
    """A stage's head (``presence``, ``readout3d``) as a checkpoint, written atomically."""
    from train.checkpoint import save_checkpoint
    from train.landmark_tune.tune import KIND, settings

    return save_checkpoint(path, config={"kind": KIND, "stage": stage, "tune": settings(cfg)}, step=cfg.steps,
                           model=head)


def load_head_state(path: Path, cfg: LandmarkTuneConfig, stage: str) -> dict[str, torch.Tensor]:
    """The head state :func:`save_head` wrote for ``stage``, refused if another stage or config made it."""
    from train.checkpoint import load_checkpoint
    from train.landmark_tune.tune import KIND, settings, upgrade

    return load_checkpoint(path, expect={"kind": KIND, "stage": stage, "tune": settings(cfg)},
                           upgrade=upgrade)["model"]


class _Crops:
    """The crops files, read the first time a stage needs them (1.4 GB for the recipe's)."""

    def __init__(self, folder: Path) -> None:
        self.folder, self._data = folder, None

    def get(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        from train.landmark_tune.crops import load_crops

        if self._data is None:
            self._data = load_crops(self.folder / "render.npz"), load_crops(self.folder / "real.npz")
        return self._data


def run(cfg: LandmarkTuneConfig, work: Path, out: Path | None = None, progress: Progress | None = None) -> Path:
    """Run the stages not done yet in ``work``; returns the result: ``out`` (.onnx), or without a size to export
    the readout stage's head checkpoint. ``progress`` is told each tune step (``tune.tune``'s)."""
    from train.landmark_tune import crops, presence, readout3d, tune

    if cfg.size is not None and out is None:
        raise ValueError("an export needs an output path (out)")
    if out is not None and out.with_suffix(".pt").absolute() == (work / "export" / "model.pt").absolute():
        raise ValueError(f"{out}: its .pt twin would replace the export's checkpoint; write the model elsewhere")
    check_work(work, cfg)
    # ---- crops
    for source in crops.SOURCES:
        path = work / "crops" / f"{source}.npz"
        if path.is_file():
            log.info("crops %s: %s is there, skipped", source, path)
        else:
            log.info("crops %s: %d crops -> %s", source, crops.write_crops(path, cfg, source), path)
    data = _Crops(work / "crops")
    # ---- tune
    tuned = tune.tuned_state(work / "tune", cfg)
    if tuned is None:
        tuned = tune.tune(cfg, *data.get(), work / "tune", progress)
    else:
        log.info("tune: %s holds all %d steps, skipped", work / "tune" / "last.pt", cfg.steps)
    # ---- presence
    flagged_path = work / "presence" / "head.pt"
    if flagged_path.is_file():
        log.info("presence: %s is there, skipped", flagged_path)
    else:
        # the tuned network moved back toward its start (config.py's blends); only here, where it is read: a rerun
        # past this stage loads no start network
        kept = tune.kept_state(cfg, tuned)
        if cfg.soup:
            log.info("tune: averaged with %d other draw(s): %s", len(cfg.soup), ", ".join(cfg.soup))
        if cfg.blend != 1 or cfg.early_blend not in (None, 1):
            log.info("tune: the start's weights + %.2f x the tune's change (early layers %.2f)", cfg.blend,
                     cfg.blend if cfg.early_blend is None else cfg.early_blend)
        head = presence.flagged_head(cfg, kept)
        presence.train_presence(head, *data.get(), cfg)
        save_head(flagged_path, head, cfg, "presence")
    # ---- readout3d
    readout_path = work / "readout3d" / "head.pt"
    if readout_path.is_file():
        log.info("readout3d: %s is there, skipped", readout_path)
    else:
        head = readout3d.readout_head(cfg, load_head_state(flagged_path, cfg, "presence"))
        render = data.get()[0]
        readout3d.fit_readout(head, render["x"], render["y3"], cfg.ridge_lambda, device=cfg.device)
        save_head(readout_path, head, cfg, "readout3d")
    if cfg.size is None:
        return readout_path
    # ---- export
    return _export(cfg, load_head_state(readout_path, cfg, "readout3d"), work / "export" / "model.pt", out, data)


def _export(cfg: LandmarkTuneConfig, head_state: dict[str, torch.Tensor], ckpt: Path, out: Path,
            data: _Crops) -> Path:
    from train.landmark_tune.export import export_model

    if not ckpt.is_file():
        return export_model(cfg, head_state, ckpt, out, data.get())
    if out.is_file():
        log.info("export: %s and %s are there, skipped", ckpt, out)
        return out
    from engines.export import export_onnx

    export_onnx(ckpt, out)
    return out
