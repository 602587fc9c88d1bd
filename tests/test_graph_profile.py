"""benchmarks/graph_profile.py: ONNX Runtime's per-node profile of an exported model, summed by op and graph part."""

from __future__ import annotations

import json

import pytest

from tiny_model import export_tiny_posenet


@pytest.fixture(scope="module")
def tiny_posenet(tmp_path_factory):
    return export_tiny_posenet(tmp_path_factory.mktemp("posenet"))


def test_op_and_part_shares_add_up_largest_first_on_both_kinds_of_frame(tiny_posenet):
    from benchmarks.graph_profile import profile_graph

    tracked = profile_graph(tiny_posenet, [1.0, 0.0, 0.0, 0.3, 0.5], calls=5)
    detector = profile_graph(tiny_posenet, [0.0] * 5, calls=5)
    for r in (tracked, detector):
        assert r["ms_per_call"] > 0
        assert sum(r["ops"].values()) == pytest.approx(1.0) and sum(r["parts"].values()) == pytest.approx(1.0)
        assert "Conv" in r["ops"] and "If" not in r["ops"]
        assert list(r["ops"].values()) == sorted(r["ops"].values(), reverse=True)
    assert "/net/head" in tracked["parts"]


def test_the_cli_writes_both_kinds_of_frame(tiny_posenet, tmp_path):
    from benchmarks.graph_profile import main

    main(["--model", str(tiny_posenet), "--calls", "3", "--out", str(tmp_path / "gp")])
    result = json.loads((tmp_path / "gp.json").read_text())
    assert set(result["frames"]) == {"tracked frame", "detector frame"}
    assert "## tracked frame" in (tmp_path / "gp.md").read_text()
