"""The ablation table is assembled from whatever cells exist: seeds averaged, derived rows read from Ours-s0."""

import argparse
import json

import pytest

from benchmarks.ablation import collect, pose_dir_name, write_table


def _cell(run, init, fraction, n_mpjpe, finetune=False):
    d = run / pose_dir_name(init, fraction, finetune)
    d.mkdir(parents=True)
    (d / "eval_test.json").write_text(json.dumps({"n_mpjpe": n_mpjpe, "mpjpe": n_mpjpe + 20, "p_mpjpe": n_mpjpe - 50,
                                                  "mean_pose_n_mpjpe": 225.0}))


def test_rows_average_seeds_and_read_the_supervised_baseline_from_ours_s0(tmp_path):
    runs = tmp_path / "runs"
    for seed, value in ((0, 100.0), (1, 110.0)):
        _cell(runs / f"Ours-s{seed}", "ssl", 0.01, value)
    _cell(runs / "Ours-s0", "random", 0.01, 200.0, finetune=True)  # supervised from scratch
    _cell(runs / "Ours-s0", "ssl", 0.01, 90.0, finetune=True)
    _cell(runs / "Ours-s1", "random", 0.01, 999.0, finetune=True)  # derived rows come from seed 0 alone
    rows = collect(tmp_path, ["Ours", "DSL"], (0.01, 1.0))

    assert rows["Ours"]["cells"]["0.01"]["n_mpjpe"] == {"mean": 105.0, "spread": 10.0, "n": 2}
    assert rows["supervised"]["cells"]["0.01"]["n_mpjpe"]["mean"] == 200.0
    assert rows["Ours fine-tuned"]["cells"]["0.01"]["p_mpjpe"]["mean"] == 40.0
    assert rows["DSL"]["cells"] == {} and rows["random"]["cells"] == {} and "1" not in rows["Ours"]["cells"]
    assert rows["mean pose"]["cells"]["0.01"]["n_mpjpe"]["mean"] == 225.0

    args = argparse.Namespace(steps=10, config="tiny", fractions=(0.01, 1.0), pose_steps=5, finetune_steps=7,
                              machine="NVIDIA Test Card (runs copied back)", recipe="studio8", work=tmp_path,
                              regressor="mlp")
    write_table(rows, args, tmp_path / "table")
    md = (tmp_path / "table.md").read_text()
    assert md.splitlines()[2].startswith("Machine: NVIDIA Test Card (runs copied back); ")
    recorded = json.loads((tmp_path / "table.json").read_text())["machine"]
    assert recorded == {"device": "NVIDIA Test Card (runs copied back)"}
    assert "| Ours | 2 | 105.0 (10.0) | - |" in md and "| supervised | 1 | 200.0 | - |" in md
    assert "Not run yet (or not implemented): DSL, random." in md
    pytest.importorskip("matplotlib")
    assert (tmp_path / "table.png").stat().st_size > 10_000 and "table.png" in md


def test_identity_columns_average_the_runs_analyses_and_name_the_chance_level(tmp_path):
    runs = tmp_path / "runs"
    for seed, tv in ((0, 0.5), (1, 0.3)):
        _cell(runs / f"Ours-s{seed}", "ssl", 1.0, 100.0)
        (runs / f"Ours-s{seed}" / "analysis_test.json").write_text(json.dumps(
            {"subjects": 8, "frames": 640, "chance": 0.125, "ti_accuracy": 0.9, "tv_accuracy": tv,
             "ti_probe": 1.0, "tv_probe": tv + 0.2}))
    rows = collect(tmp_path, ["Ours"], (1.0,))
    assert rows["Ours"]["identity"]["tv_accuracy"] == {"mean": 0.4, "spread": pytest.approx(0.2), "n": 2}
    assert rows["random"]["identity"] == {}  # derived rows share Ours-s0's run, not its analysis
    args = argparse.Namespace(steps=10, config="tiny", fractions=(1.0,), pose_steps=5, finetune_steps=0,
                              machine="cpu", recipe="world64", work=tmp_path, regressor="mlp_small")
    write_table(rows, args, tmp_path / "table")
    md = (tmp_path / "table.md").read_text()
    # N-MPJPE, MPJPE, P-MPJPE at 100%, then ti / tv KMeans and ti / tv probe in %
    assert ("| Ours | 2 | 100.0 (0.0) | 120.0 (0.0) | 50.0 (0.0) | 90.0 (0.0) | 40.0 (20.0) | 100.0 (0.0) | "
            "60.0 (20.0) |") in md
    assert "Identity chance level: 12.5% (8 test subjects, 640 frames)." in md
    assert json.loads((tmp_path / "table.json").read_text())["data"]["subjects"] == 64
