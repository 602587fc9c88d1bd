"""The Python API (`tvstream.stream`), model resolution, and `tvstream bench` on a real clip."""

import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import tvstream
from tvstream import api
from tvstream.errors import CheckpointError

SAMPLE = Path(__file__).parent.parent / "examples" / "sample_ski.mp4"


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from tiny_model import export_tiny_model

    return export_tiny_model(tmp_path_factory.mktemp("api"))


def test_stream_yields_every_frame_as_the_json_lines_do(model):
    poses = list(tvstream.stream(SAMPLE, model, batch=4))
    assert [p["frame"] for p in poses] == list(range(250))
    assert np.all(np.diff([p["t"] for p in poses]) > 0)
    first = next(p for p in poses if p["detected"])
    assert first["type"] == "pose" and np.array(first["pose3d"]).shape == (17, 3)
    assert np.array(first["box"]).shape == (4,) and json.dumps(first)  # JSON-ready


def test_breaking_out_of_stream_closes_the_source(model):
    before = threading.active_count()
    for pose in tvstream.stream(SAMPLE, model):
        if pose["frame"] == 5:
            break
    # the generator is closed when collected; the decode thread must not outlive it
    import gc

    gc.collect()
    for _ in range(50):
        if threading.active_count() <= before:
            break
        threading.Event().wait(0.05)
    assert threading.active_count() <= before


def test_missing_models_are_one_clear_error(tmp_path, monkeypatch):
    with pytest.raises(CheckpointError, match="no such model"):
        api.resolve_model(tmp_path / "nope.onnx")
    monkeypatch.setattr(api, "DEFAULT_MODEL", tmp_path / "gone.onnx")
    with pytest.raises(CheckpointError, match="default model is missing"):
        api.resolve_model(None)


def test_bench_json_reports_three_timings_on_the_same_frames(model):
    out = subprocess.run([sys.executable, "-m", "tvstream", "bench", str(SAMPLE), "--model", str(model),
                          "--frames", "40", "--batch", "4", "--json"], capture_output=True, timeout=300)
    assert out.returncode == 0, out.stderr.decode()
    result = json.loads(out.stdout)
    assert result["width"] == 640 and result["height"] == 360 and result["batch"] == 4
    for stage in ("decode", "model", "end_to_end"):
        assert result[stage]["frames"] == 40 and result[stage]["fps"] > 0
        assert 0 < result[stage]["p50_ms"] <= result[stage]["p99_ms"]
    assert result["torch_imported"] is False and result["rss_mb"] > 0


def test_info_describes_the_model_in_use(model):
    out = subprocess.run([sys.executable, "-m", "tvstream", "info", "--json", "--no-torch", "--model", str(model)],
                         capture_output=True, timeout=120)
    assert out.returncode == 0, out.stderr.decode()
    described = json.loads(out.stdout)["model"]
    assert described["path"] == str(model) and described["default"] is False and described["trained"] is False
    assert described["input_size"] == [64, 64] and len(described["hash"]) == 16
