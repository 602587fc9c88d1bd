"""The scenarios table: the first evaluation at each IoU bar, read-outs per run, runs not yet trained named."""

import argparse
import json

from benchmarks.scenarios import RUNS, collect, run_dir, slug, write_results


def fake_run(run, ious: dict, n_mpjpe: float) -> None:
    run.mkdir(parents=True)
    lines = [{"step": s, "stage": "temporal", "loss": 1.0} for s in ious] + [
        {"step": s, "stage": "eval", "box_iou": v, "box_iou_frac_0.5": 0.0} for s, v in ious.items()]
    (run / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    (run / "config.json").write_text(json.dumps({"steps": 250, "variant": "Ours+gravity"}))
    (run / "done.json").write_text(json.dumps({"minutes": 3.5}))
    (run / "pose-1").mkdir()
    (run / "pose-1" / "eval_test.json").write_text(json.dumps(
        {"n_mpjpe": n_mpjpe, "mpjpe": 400.0, "p_mpjpe": 170.0, "mean_pose_n_mpjpe": 405.0}))


def test_first_steps_at_each_iou_bar_and_read_outs(tmp_path):
    fake_run(tmp_path / "runs" / slug(RUNS[0].name), {50: 0.1, 100: 0.25, 150: 0.18, 200: 0.55, 250: 0.5}, 300.0)
    rows = collect(tmp_path, (1.0,))

    row = rows[RUNS[0].name]
    assert row["first_step_iou"] == {"0.2": 100, "0.5": 200} and row["final_iou"] == 0.5 and row["best_iou"] == 0.55
    assert list(rows) == [RUNS[0].name]  # the other runs have no folder yet

    args = argparse.Namespace(steps=250, pose_steps=10, fractions=(1.0,), machine="", config="small")
    write_results(rows, args, tmp_path / "scenarios")
    md = (tmp_path / "scenarios.md").read_text()
    assert md.splitlines()[2].startswith("Machine: ") and " cores); " in md.splitlines()[2]  # this CPU by default
    assert f"| {RUNS[0].name} | 250 | 100 | 200 | 0.500 (0.550) | 300.0 | 400.0 | 170.0 | 405.0 | 3.5 |" in md
    assert f"Not run yet: {RUNS[1].name}" in md


def test_seeds_are_rows_of_their_own_and_averaged(tmp_path):
    name = RUNS[1].name
    assert run_dir(tmp_path, name, 0).name == slug(name) and run_dir(tmp_path, name, 2).name == slug(name) + "-s2"
    fake_run(run_dir(tmp_path, name, 0), {50: 0.1, 100: 0.6}, 300.0)
    fake_run(run_dir(tmp_path, name, 2), {50: 0.3, 100: 0.4}, 340.0)
    rows = collect(tmp_path, (1.0,))

    assert list(rows[name]["seeds"]) == ["0", "2"] and rows[name]["first_step_iou"]["0.5"] == 100  # seed 0 on top
    assert rows[name]["seeds"]["2"]["first_step_iou"] == {"0.2": 50, "0.5": None}
    assert rows[name]["mean"]["1"]["n_mpjpe"] == 320.0 and rows[name]["mean"]["1"]["n_mpjpe_spread"] == 40.0

    args = argparse.Namespace(steps=250, pose_steps=10, fractions=(1.0,), machine="", config="small")
    write_results(rows, args, tmp_path / "scenarios")
    md = (tmp_path / "scenarios.md").read_text()
    assert f"| {name} [seed 2] | 250 | 50 | not by 100 | 0.400 (0.400) | 340.0 |" in md
    assert f"| {name} | 2 | 320.0 (40.0) | 400.0 | 170.0 |" in md
