"""Which view MediaPipe's person detector reads per source (``tvstream.detector_view``): the choice, on metadata and
fits written by hand, and the run going on with the model it has when the square-view twin cannot be written."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from engines.metadata import ModelMetadata
from tvstream import detector_view
from tvstream.frame_fit import FrameFit


def _meta(**model) -> ModelMetadata:
    return ModelMetadata(input_size=(288, 512), config={"kind": "posenet", "model": model})


def test_only_a_frame_view_person_detector_gets_a_twin():
    assert detector_view.reads_frame(_meta(detector="boxnet+blazepose"))  # written before person_view existed
    assert detector_view.reads_frame(_meta(detector="boxnet+blazepose", person_view="frame"))
    assert not detector_view.reads_frame(_meta(detector="boxnet+blazepose", person_view="square"))
    assert not detector_view.reads_frame(_meta(detector="boxnet"))
    assert not detector_view.reads_frame(ModelMetadata(input_size=(288, 512), config={"ssl": {}}))


@pytest.mark.parametrize("source, upright", [((1920, 1080), True), ((500, 500), True), ((480, 640), False),
                                             ((720, 1280), False), ((1000, 999), True)])
def test_upright_means_no_wider_than_tall(source, upright):
    assert detector_view.upright(FrameFit.of(source, (288, 512))) is upright


def test_without_torch_the_run_keeps_its_model_and_says_why(monkeypatch, tmp_path, caplog):
    def no_torch(model, view, frame_scale, mirror_read=None, cache=None):
        raise ImportError("No module named 'torch'")

    monkeypatch.setattr(detector_view, "twin_of", no_torch)
    tall = FrameFit.of((1920, 1080), (288, 512))
    with caplog.at_level(logging.WARNING, logger="tvstream.detector_view"):
        assert detector_view.model_for_source(Path("m.onnx"), _meta(detector="boxnet+blazepose"), tall) is None
    assert "needs torch" in caplog.text and "tvstream[train]" in caplog.text


def test_a_cache_that_cannot_be_written_leaves_the_frame_view(monkeypatch, tmp_path, caplog):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    model = tmp_path / "m.onnx"
    model.write_bytes(b"onnx")
    tall = FrameFit.of((1920, 1080), (288, 512))
    with caplog.at_level(logging.WARNING, logger="tvstream.detector_view"):
        assert detector_view.model_for_source(model, _meta(detector="boxnet+blazepose"), tall, blocked / "m") is None
    assert "could not write that model" in caplog.text and "the run keeps m.onnx" in caplog.text


def test_the_cache_folder_follows_tvstream_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("TVSTREAM_CACHE", str(tmp_path))
    assert detector_view.models_cache() == tmp_path / "models"
    monkeypatch.delenv("TVSTREAM_CACHE")
    assert detector_view.models_cache() == Path.home() / ".cache" / "tvstream" / "models"


@pytest.mark.parametrize("source, sharp, want", [
    ((720, 1280), False, None),  # landscape, large: the model as it is unless asked
    ((720, 1280), True, ("frame", 2, False)),
    ((360, 640), True, None),  # 1.25x the 288 x 512 frame: no more detail to gain
    ((432, 768), True, ("frame", 2, False)),  # 1.5x: from here
    ((1920, 1080), False, ("square", 1, False)),  # upright: its own square
    ((1920, 1080), True, ("square", 2, False)),
    ((400, 300), True, ("square", 1, False)),  # upright and small
])
def test_the_twin_a_source_runs(source, sharp, want):
    meta = _meta(detector="boxnet+blazepose")
    assert detector_view.twin_settings(meta, FrameFit.of(source, (288, 512)), sharp) == want


def test_a_twin_s_own_settings_ask_for_no_other_twin():
    big, tall = FrameFit.of((1080, 1920), (288, 512)), FrameFit.of((1920, 1080), (288, 512))
    assert detector_view.twin_settings(_meta(detector="boxnet+blazepose", frame_scale=2), big, True) is None
    assert detector_view.twin_settings(_meta(detector="boxnet+blazepose", person_view="square", frame_scale=2), tall,
                                       True) is None
    assert detector_view.twin_settings(_meta(detector="boxnet"), big, True) is None  # no MediaPipe detector


@pytest.mark.parametrize("source, mirror, fast, want", [
    ((720, 1280), True, False, None),  # a model read both ways runs as it is ...
    ((720, 1280), True, True, ("frame", 1, False)),  # ... and with --fast its twin reads each crop once
    ((1920, 1080), True, True, ("square", 1, False)),  # upright and fast: one twin with both
    ((1920, 1080), True, False, ("square", 1, True)),  # upright: the square twin still reads both ways
    ((720, 1280), False, True, None),  # a model read once already: nothing to make faster
])
def test_fast_asks_for_a_twin_that_reads_each_crop_once(source, mirror, fast, want):
    meta = _meta(detector="boxnet+blazepose", mirror_read=mirror)
    assert detector_view.twin_settings(meta, FrameFit.of(source, (288, 512)), fast=fast) == want


def test_a_fast_run_without_torch_keeps_the_model_and_says_why(monkeypatch, caplog):
    def no_torch(model, view, frame_scale, mirror_read=None, cache=None):
        raise ImportError("No module named 'torch'")

    monkeypatch.setattr(detector_view, "twin_of", no_torch)
    with caplog.at_level(logging.WARNING, logger="tvstream.detector_view"):
        assert detector_view.model_for_source(Path("m.onnx"), _meta(detector="boxnet+blazepose", mirror_read=True),
                                              FrameFit.of((720, 1280), (288, 512)), fast=True) is None
    assert "--fast: the model reading each crop once" in caplog.text and "needs torch" in caplog.text


def test_a_sharp_run_without_torch_keeps_the_model_and_says_why(monkeypatch, caplog):
    def no_torch(model, view, frame_scale, mirror_read=None, cache=None):
        raise ImportError("No module named 'torch'")

    monkeypatch.setattr(detector_view, "twin_of", no_torch)
    with caplog.at_level(logging.WARNING, logger="tvstream.detector_view"):
        assert detector_view.model_for_source(Path("m.onnx"), _meta(detector="boxnet+blazepose"),
                                              FrameFit.of((1080, 1920), (288, 512)), sharp=True) is None
    assert "a large source (1920x1080)" in caplog.text and "needs torch" in caplog.text


def test_the_finder_is_written_once_at_the_running_model_s_scale_for_a_landscape_picture(monkeypatch, tmp_path):
    import train.posenet.person_view

    written = []

    def write_finder(model, out, frame_scale=1):
        written.append(frame_scale)
        Path(out).write_bytes(b"finder")

    monkeypatch.setattr(train.posenet.person_view, "write_finder", write_finder)
    model = tmp_path / "m.onnx"
    model.write_bytes(b"onnx")
    wide, tall = FrameFit.of((720, 1280), (288, 512)), FrameFit.of((1920, 1080), (288, 512))
    meta = _meta(detector="boxnet+blazepose")
    first = detector_view.finder_for(model, meta, wide, tmp_path)
    assert first.name.endswith("-finder-x1-v2.onnx") and first.read_bytes() == b"finder"
    assert detector_view.finder_for(model, meta, wide, tmp_path) == first  # cached: written once
    sharp = detector_view.finder_for(model, _meta(detector="boxnet+blazepose", frame_scale=2), wide, tmp_path)
    assert sharp.name.endswith("-finder-x2-v2.onnx")  # a --sharp run's finder reads its larger frame
    assert detector_view.finder_for(model, meta, tall, tmp_path) is None  # upright: the square view runs already
    assert detector_view.finder_for(model, _meta(detector="boxnet"), wide, tmp_path) is None
    assert written == [1, 2]


@pytest.mark.parametrize("mirror, source, fast, want", [
    (False, (1920, 1080), False, ("square", 1, None)),  # the model's own reading: the twin's name stays the same
    (True, (1920, 1080), False, ("square", 1, None)),
    (True, (720, 1280), True, ("frame", 1, False)),  # --fast: one way, named so
    (True, (1920, 1080), True, ("square", 1, False)),
])
def test_the_twin_asked_for_names_the_reading_only_where_it_changes(monkeypatch, mirror, source, fast, want):
    asked = []
    monkeypatch.setattr(detector_view, "twin_of", lambda model, *args, cache=None: asked.append(args) or model)
    meta = _meta(detector="boxnet+blazepose", mirror_read=mirror)
    assert detector_view.model_for_source(Path("m.onnx"), meta, FrameFit.of(source, (288, 512)), fast=fast) == \
        Path("m.onnx")
    assert asked == [want]
