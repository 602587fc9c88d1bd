"""The crossing benchmark's scoring (benchmarks/keep_athlete.py): whose skeleton each reported frame is, identity
switches, and the longest full occlusion, on hand-made records."""

from types import SimpleNamespace

import numpy as np
import pytest

from benchmarks.keep_athlete import score_clip
from tvstream.labels import VideoLabels

K = 17


def labels_and_passer(frames: int):
    body = np.stack([np.linspace(90, 110, K), np.linspace(20, 180, K)], axis=1)  # 160 px tall
    athlete = np.repeat(body[None], frames, axis=0).astype(np.float32)
    passer = athlete + np.float32([300.0, 0.0])
    visible = np.ones((frames, K), bool)
    visible[4:7] = False  # fully hidden for 3 frames
    labels = VideoLabels(frames=np.arange(frames), joints3d=np.zeros((frames, K, 3), np.float32), joints2d=athlete,
                         box=np.zeros((frames, 4), np.float32), visible=visible)
    return labels, athlete, passer


def record(pose2d, detected=True, track=1):
    return SimpleNamespace(detected=detected, pose2d=pose2d, track=track)


def test_switches_count_changes_of_person_and_of_track_id():
    labels, athlete, passer = labels_and_passer(10)
    on_a, on_p = athlete[0] + 2.0, passer[0] - 2.0
    records = [record(on_a), record(on_a), record(on_p), record(on_a), record(on_a, detected=False),
               record(on_a, detected=False), record(on_a, detected=False), record(on_a, track=2), record(on_a, track=2),
               record(on_a, track=2)]
    out = score_clip(records, labels, passer, fps=25.0)
    # a -> p -> a: 2 switches; then the id changes from 1 to 2: 1 more
    assert out["switches"] == 3 and out["on_passer"] == 1 and out["reported"] == 7
    assert out["switches_per_min"] == pytest.approx(3 / (10 / 25 / 60))
    assert out["track_ids"] == [1, 2]
    assert out["hidden_s"] == pytest.approx(3 / 25)
    # of the 7 frames where the athlete shows, 6 are reported on it (frame 2 is on the passer): every joint a hit
    visible_frames = 10 - 3
    assert out["pck_athlete"] == pytest.approx(6 / visible_frames)


def test_the_results_go_under_their_name_and_the_report_counts_the_clips(tmp_path, monkeypatch):
    """``write(result, NAME)``: NAME.json keeps the rows and their summary, NAME.md has the kind's line (2 clips,
    1 switch in 5 s: 6 a minute); nothing else is written."""
    import json

    import benchmarks.keep_athlete as bench

    monkeypatch.setattr(bench, "RESULTS", tmp_path)
    row = dict(clip="behind_110", kind="behind", mode="keep", seed_index=10, frames=125, reported=125, on_passer=1,
               switches=1, switches_per_min=12.0, pck_athlete=0.9, track_ids=[1], hidden_s=0.0)
    bench.write({"model": "m.onnx", "hash": "abc", "rows": [row, {**row, "clip": "behind_111", "on_passer": 0,
                                                                  "switches": 0, "switches_per_min": 0.0}]}, "cand")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cand.json", "cand.md"]
    record = json.loads((tmp_path / "cand.json").read_text())
    assert len(record["rows"]) == 2 and record["summary"][0]["clips"] == 2
    assert "| behind | keep | 2 | 6.0 | 0.4% |" in (tmp_path / "cand.md").read_text()
