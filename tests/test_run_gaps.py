"""benchmarks/run_gaps.py: every labeled clip through the run, the model alone and on its labeled boxes, widest gap
first."""

from __future__ import annotations

import json

import pytest

from tiny_model import export_tiny_posenet


@pytest.fixture(scope="module")
def tiny_posenet(tmp_path_factory):
    return export_tiny_posenet(tmp_path_factory.mktemp("posenet"))


def test_each_clip_is_read_three_ways_and_the_widest_gap_comes_first(tiny_posenet):
    from benchmarks.run_gaps import clip_rows, markdown
    from train.posenet.evaluate import SAMPLE, ClipReader, bench_model

    clip = (SAMPLE, SAMPLE.with_suffix(".npz"))
    # the sample clip twice: as a ski clip (moving camera) and as a studio clip (a foreground score); the two runs
    # differ, the model alone and the labeled box do not
    groups = {"sample_ski": [clip], "studio_sample": [clip]}
    rows = clip_rows(ClipReader(tiny_posenet), groups)
    assert [r["clip"] for r in rows] == ["sample_ski", "sample_ski"]
    assert rows[0]["gap"] >= rows[1]["gap"]
    for r in rows:
        assert r["gap"] == pytest.approx(r["labeled-box"] - r["pipeline"])
        assert 0 <= r["pipeline"] <= 1 and 0 <= r["run_box_iou"] <= 1
    assert rows[0]["labeled-box"] == rows[1]["labeled-box"] and rows[0]["model"] == rows[1]["model"]
    # the same numbers as the bench's own scores of the group
    for mode in ("pipeline", "labeled-box"):
        want = bench_model(str(tiny_posenet), {"sample_ski": [clip]}, mode)["groups"]["sample_ski"]["pck"]
        assert next(r for r in rows if r["group"] == "sample_ski")[mode] == pytest.approx(want)
    text = markdown(rows, "tiny.onnx", top=1)
    assert text.count("| sample_ski |") == 1 and f"{rows[0]['gap']:+.3f}" in text


def test_the_cli_writes_every_clip_and_names_an_unknown_group(tiny_posenet, tmp_path, monkeypatch):
    import benchmarks.run_gaps as run_gaps

    monkeypatch.setattr(run_gaps, "RESULTS", tmp_path)
    rows = run_gaps.main(["--model", str(tiny_posenet), "--groups", "sample_ski", "--name", "gaps"])
    written = json.loads((tmp_path / "gaps.json").read_text())
    assert written["clips"] == rows and len(rows) == 1
    assert (tmp_path / "gaps.md").read_text().startswith("# Where the run loses")
    with pytest.raises(SystemExit, match="no clip group bench_dive"):
        run_gaps.main(["--model", str(tiny_posenet), "--groups", "bench_dive"])
