"""Shared fixtures: small pattern videos the tests write with PyAV, a pasted person's cut-out and plate, and the
slow/gpu markers."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from train.data.pattern_video import pattern_labels, write_pattern_video
from tvstream.labels import save_labels
from tvstream.manifest import VideoEntry, write_manifest

SLOW_ENV = "TVSTREAM_SLOW"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    run_slow = os.environ.get(SLOW_ENV) == "1"
    has_gpu = _cuda_available()
    for item in items:
        if "slow" in item.keywords and not run_slow:
            item.add_marker(pytest.mark.skip(reason=f"slow test: set {SLOW_ENV}=1 to run it"))
        if "gpu" in item.keywords and not has_gpu:
            item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU"))


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


@pytest.fixture(autouse=True, scope="session")
def _cache_folder(tmp_path_factory: pytest.TempPathFactory):
    """What runs write to the cache (``$TVSTREAM_CACHE``: the square-view twin of the embedded model for upright
    sources, ``tvstream.detector_view``) goes to one folder of the session, not ``~/.cache``; the CLI's
    subprocesses inherit it."""
    before = os.environ.get("TVSTREAM_CACHE")
    os.environ["TVSTREAM_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if before is None:
        os.environ.pop("TVSTREAM_CACHE", None)
    else:
        os.environ["TVSTREAM_CACHE"] = before


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plain folder of two pattern videos (300 and 260 frames, 160x120, 25 fps), no labels."""
    root = tmp_path_factory.mktemp("clips")
    (root / "s1").mkdir()
    write_pattern_video(root / "s1" / "a.mp4", 300)
    write_pattern_video(root / "s1" / "b.mp4", 260, camera=1)
    return root


@pytest.fixture(scope="session")
def rig_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A manifest of one sequence seen by three synchronised cameras (240 frames each), with labels."""
    root = tmp_path_factory.mktemp("rig")
    entries = []
    for cam in range(3):
        video = write_pattern_video(root / f"seq1_c{cam}.mp4", 240, camera=cam)
        labels = root / f"seq1_c{cam}.npz"
        save_labels(labels, pattern_labels(240, camera=cam, sequence="seq1"))
        entries.append(VideoEntry(video=video, labels=labels, subject="s1", sequence="seq1", camera=f"c{cam}"))
    write_manifest(root / "manifest.json", entries)
    return root


@pytest.fixture
def one_cutout(tmp_path: Path) -> tuple[list[Path], list[Path]]:
    """``([a person cut-out "ann1.png"], [a background plate])`` for the pasted-people benchmarks' clip makers: a
    124 x 44 RGBA figure (opaque inside a 2 px transparent border) and a grey 300 x 200 plate."""
    from PIL import Image

    rgba = np.zeros((124, 44, 4), np.uint8)
    rgba[2:-2, 2:-2] = (200, 60, 40, 255)
    Image.fromarray(rgba).save(tmp_path / "ann1.png")
    Image.fromarray(np.full((200, 300, 3), 90, np.uint8)).save(tmp_path / "plate.png")
    return [tmp_path / "ann1.png"], [tmp_path / "plate.png"]
