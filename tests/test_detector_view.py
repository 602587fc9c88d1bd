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
    def no_torch(model, cache=None):
        raise ImportError("No module named 'torch'")

    monkeypatch.setattr(detector_view, "square_view_of", no_torch)
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
    assert "could not write the square-view model" in caplog.text


def test_the_cache_folder_follows_tvstream_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("TVSTREAM_CACHE", str(tmp_path))
    assert detector_view.models_cache() == tmp_path / "models"
    monkeypatch.delenv("TVSTREAM_CACHE")
    assert detector_view.models_cache() == Path.home() / ".cache" / "tvstream" / "models"
