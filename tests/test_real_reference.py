"""The real-footage benchmark's own arithmetic: one teacher's labels scored against another's, and clip groups."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.real_reference import CLIPS, group_of, teacher_agreement
from train.data.pattern_video import pattern_labels
from tvstream.labels import HANDLABELS_SCHEMA
from tvstream.skeleton import CORE_JOINTS, H36M_17


def _write(path: Path, frames: list[dict]) -> Path:
    path.write_text(json.dumps({"schema": HANDLABELS_SCHEMA, "video": "clip.mp4", "joints": list(H36M_17.names),
                                "frames": frames}))
    return path


def test_teacher_agreement_counts_a_far_joint_and_a_frame_with_nobody_as_misses(tmp_path: Path):
    pose = pattern_labels(4).joints2d[0].astype(float)  # a skeleton with a real torso
    wrist = H36M_17.index("lwrist")
    moved = pose.copy()
    moved[wrist] += 1000.0  # far beyond 0.2 torso diagonals
    reference = _write(tmp_path / "heavy.json", [{"frame": 0, "joints2d": pose.tolist()},
                                                 {"frame": 2, "joints2d": pose.tolist()}])
    student = _write(tmp_path / "full.json", [{"frame": 0, "joints2d": (moved + 0.5).tolist()},
                                              {"frame": 2, "found": False}])
    hits, counted, frames = teacher_agreement(student, reference)
    core = len(CORE_JOINTS)
    assert (hits, counted, frames) == (core - 1, 2 * core, 2)  # frame 0: all but the wrist; frame 2: nobody


def test_every_reference_clip_belongs_to_one_described_group():
    assert {group_of(name) for name in CLIPS} == {"sports2d", "p2s_singleperson", "p2s_multiperson"}
    assert group_of("p2s_multiperson_cam04") == "p2s_multiperson"
