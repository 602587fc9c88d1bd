"""One save/load pair for training checkpoints: atomic writes, ``weights_only`` loads, strict config checks.

A checkpoint holds the model and optimiser state, the AMP scaler, the step, the RNG states (torch,
numpy generator state as plain data) and the config as a plain dict, so a run resumes exactly and a
checkpoint rebuilds its model without the code that wrote it guessing.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from tvstream.errors import CheckpointError

FORMAT = "tvstream.checkpoint/1"


def save_checkpoint(path: str | os.PathLike, *, config: dict[str, Any], step: int, model: torch.nn.Module,
                    optimizer: torch.optim.Optimizer | None = None, scaler: Any = None,
                    rng_state: dict[str, Any] | None = None, extra: dict[str, Any] | None = None) -> Path:
    """Write a checkpoint to ``path`` through a temp file and a rename (a crash never leaves half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "format": FORMAT,
        "config": config,
        "step": int(step),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scaler": scaler.state_dict() if scaler is not None else None,
        "rng": rng_state or {},
        "extra": extra or {},
    }
    return atomic_save(state, path)


def atomic_save(state: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` through a temp file and a rename: readers see the old file or the new one, never half."""
    path = Path(path)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load_checkpoint(path: str | os.PathLike, expect: dict[str, Any] | None = None,
                    keys: tuple[str, ...] = (), upgrade: Callable[[dict], dict] | None = None) -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``; with ``expect``, refuse one whose config differs.

    Args:
        expect: the config the caller will run; compared on ``keys`` (all of ``expect`` when empty).
        upgrade: maps the stored config to the current format before comparing (fields added since it was
            written take their defaults, so older checkpoints still resume).
    Raises:
        CheckpointError: missing/corrupt file, another format, or a config mismatch (naming the field).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt or foreign files
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {exc})") from None
    found = state.get("format") if isinstance(state, dict) else None
    if found != FORMAT:
        raise CheckpointError(f"{path}: not a tvstream checkpoint (format {found!r}, expected {FORMAT!r})")
    if expect is not None:
        stored = upgrade(state["config"]) if upgrade is not None else state["config"]
        for key in keys or tuple(expect):
            if stored.get(key) != expect.get(key):
                raise CheckpointError(f"{path}: checkpoint was trained with {key}={stored.get(key)!r}, "
                                      f"this run has {key}={expect.get(key)!r}")
    return state
