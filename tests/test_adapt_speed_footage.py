"""benchmarks.adapt_speed's footage: every clip one camera's continuous footage with --by-camera, and each clip's
rendered truth beside it."""

from pathlib import Path

import av
import numpy as np

from benchmarks.adapt_speed import camera_groups, make_footage
from tvstream.labels import CameraParams, VideoLabels, load_labels, save_labels
from tvstream.manifest import VideoEntry, write_manifest

# (subject, camera, grey level): two athletes filmed by two cameras, each video one flat grey
VIDEOS = [("s1", "c0", 30), ("s1", "c1", 90), ("s2", "c0", 150), ("s2", "c1", 210)]


def _truth(grey: int, frames: int) -> VideoLabels:
    """Labels of every frame but frame 2 whose joints say where they came from: x = the video's grey, y = the
    frame; focal length 50 px."""
    rows = np.array([f for f in range(frames) if f != 2])
    joints2d = np.zeros((len(rows), 17, 2), np.float32)
    joints2d[..., 0], joints2d[..., 1] = grey, rows[:, None]
    K = np.array([[50.0, 0, 32], [0, 50.0, 24], [0, 0, 1]], np.float32)
    return VideoLabels(frames=rows, joints3d=np.ones((len(rows), 17, 3), np.float32) * grey, joints2d=joints2d,
                       box=np.tile(np.float32([grey, 0, grey + 4, 8]), (len(rows), 1)),
                       visible=np.ones((len(rows), 17), bool),
                       camera=CameraParams(K=K, R=np.eye(3, dtype=np.float32), t=np.zeros(3, np.float32)))


def _dataset(root: Path, frames: int = 5, labels: bool = False) -> Path:
    entries = []
    for subject, camera, grey in VIDEOS:
        video = root / "videos" / f"{subject}_{camera}.mp4"
        video.parent.mkdir(parents=True, exist_ok=True)
        with av.open(str(video), "w") as container:
            stream = container.add_stream("libx264", rate=25)
            stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
            for _ in range(frames):
                image = np.full((48, 64, 3), grey, np.uint8)
                container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
            container.mux(stream.encode(None))
        truth = None
        if labels:
            truth = video.with_suffix(".npz")
            save_labels(truth, _truth(grey, frames))
        entries.append(VideoEntry(video=video, labels=truth, subject=subject, sequence=f"{subject}_01",
                                  camera=camera))
    write_manifest(root / "manifest.json", entries)
    return root


def _greys(video: Path) -> list[int]:
    with av.open(str(video)) as container:
        return [int(round(f.to_ndarray(format="rgb24").mean())) for f in container.decode(video=0)]


def test_camera_groups_split_by_camera_in_order(tmp_path):
    src = _dataset(tmp_path / "src")
    assert [[p.name for p in g] for g in camera_groups(src, by_camera=True)] == [
        ["s1_c0.mp4", "s2_c0.mp4"], ["s1_c1.mp4", "s2_c1.mp4"]]
    assert [p.name for p in camera_groups(src, by_camera=False)[0]] == [
        "s1_c0.mp4", "s1_c1.mp4", "s2_c0.mp4", "s2_c1.mp4"]


def test_by_camera_clips_are_one_camera_each_continuing_in_time(tmp_path):
    src = _dataset(tmp_path / "src")
    # 3 clips of 8 frames (0.32 s at 25 fps): camera c0, c1, then c0 again where its first clip stopped
    out = make_footage(src, tmp_path / "footage", clips=3, seconds=0.32, size=(64, 48), by_camera=True)
    clips = [_greys(out / f"take_{k:02d}.mp4") for k in range(3)]
    near = [[min((30, 90, 150, 210), key=lambda g: abs(g - v)) for v in clip] for clip in clips]
    assert near[0] == [30] * 5 + [150] * 3  # camera c0: athlete 1, then athlete 2
    assert near[1] == [90] * 5 + [210] * 3  # camera c1
    assert near[2] == [150] * 2 + [30] * 5 + [150] * 1  # c0 goes on, and cycles when its takes run out
    in_order = make_footage(src, tmp_path / "ordered", clips=1, seconds=0.32, size=(64, 48))
    assert [min((30, 90, 150, 210), key=lambda g: abs(g - v)) for v in _greys(in_order / "take_00.mp4")] == \
        [30] * 5 + [90] * 3  # name order: the camera changes with the take


def test_a_rendered_venue_gives_one_stream_per_fixed_camera(tmp_path):
    """``--render mixed``: the studio rig's 4 fixed cameras, each stream one camera's takes in order (the
    athlete's takes one after the other); a second call finds the render done."""
    from benchmarks.adapt_speed import render_source

    out = render_source(tmp_path / "rendered", "mixed", None, None, subjects=1, takes=2, take_seconds=0.2)
    groups = camera_groups(out, by_camera=True)
    assert len(groups) == 4
    assert [[p.name.rsplit("_", 1)[-1] for p in g] for g in groups] == [[f"c{k}.mp4"] * 2 for k in range(4)]
    assert [p.name.split("_")[1] for p in groups[0]] == ["01", "02"]  # take 1, then take 2
    stamp = (out / "manifest.json").stat().st_mtime_ns
    assert render_source(out, "mixed", None, None, 1, 2, 0.2) == out
    assert (out / "manifest.json").stat().st_mtime_ns == stamp


def test_shots_of_an_edit_change_camera_at_every_cut():
    from benchmarks.adapt_speed import shots

    cams = shots(2000, 4, 50.0, seed=3)
    cuts = np.flatnonzero(np.diff(cams)) + 1
    lengths = np.diff(np.concatenate([[0], cuts]))  # every whole shot (the last may be cut short by the end)
    assert len(cuts) > 20 and lengths.min() >= 25 and lengths.max() <= 75
    assert set(cams.tolist()) == {0, 1, 2, 3}
    assert (cams[cuts] != cams[cuts - 1]).all()


def test_an_edit_shows_the_chosen_camera_in_sync_with_the_others(tmp_path):
    from benchmarks.adapt_speed import shots

    src = _dataset(tmp_path / "src")
    # 2 clips of 8 frames, cutting between c0 and c1 every 2-6 frames; each camera's takes run on in time
    out = make_footage(src, tmp_path / "edit", clips=2, seconds=0.32, size=(64, 48), edit=0.16, seed=1)
    shown = [min((30, 90, 150, 210), key=lambda g: abs(g - v)) for k in range(2)
             for v in _greys(out / f"take_{k:02d}.mp4")]
    timeline = {0: [30] * 5 + [150] * 5, 1: [90] * 5 + [210] * 5}
    cams = shots(16, 2, 4.0, seed=1)
    assert len(set(cams.tolist())) == 2  # the edit cuts
    assert shown == [timeline[int(c)][i % 10] for i, c in enumerate(cams)]


def _sources(labels) -> list[tuple[int, int]]:
    """(grey, source frame) of each labeled row of a take's truth, read back from the joints (scaled by 2)."""
    return [(int(round(x / 2)), int(round(y / 2))) for x, y in labels.joints2d[:, 0]]


def test_every_take_carries_the_truth_of_the_frames_it_shows(tmp_path):
    """Takes of 8 frames at twice the source's size: each labeled frame's truth is its source frame's, scaled
    (2D, box, focal length; 3D as it was); the sources' unlabeled frame 2 is unlabeled in the take."""
    src = _dataset(tmp_path / "src", labels=True)
    out = make_footage(src, tmp_path / "footage", clips=3, seconds=0.32, size=(128, 96), by_camera=True)
    takes = [load_labels(out / f"take_{k:02d}.npz") for k in range(3)]
    # camera c0: athlete 1's frames 0-4, athlete 2's 0-2; c1 likewise; c0 again from athlete 2's frame 3
    shown = [[(30, f) for f in range(5)] + [(150, f) for f in range(3)],
             [(90, f) for f in range(5)] + [(210, f) for f in range(3)],
             [(150, 3), (150, 4)] + [(30, f) for f in range(5)] + [(150, 0)]]
    for labels, frames in zip(takes, shown):
        assert labels.frames.tolist() == [n for n, (_, f) in enumerate(frames) if f != 2]
        assert _sources(labels) == [g_f for g_f in frames if g_f[1] != 2]
        assert np.allclose(labels.joints3d[:, 0, 0], [g for g, f in frames if f != 2])  # mm: not scaled
        assert np.allclose(labels.box[:, 2] - labels.box[:, 0], 8.0)  # 4 px wide at 64x48
        assert np.allclose(labels.frame_cameras.K[:, 0, 0], 100.0) and np.allclose(labels.camera.K[1, 2], 48.0)
    (out / "take_01.npz").unlink()  # footage made before it had its truth: the truth is added
    make_footage(src, out, clips=3, seconds=0.32, size=(128, 96), by_camera=True)
    assert _sources(load_labels(out / "take_01.npz")) == _sources(takes[1])


def test_an_edit_s_truth_follows_the_camera_it_shows(tmp_path):
    from benchmarks.adapt_speed import shots

    src = _dataset(tmp_path / "src", labels=True)
    out = make_footage(src, tmp_path / "edit", clips=2, seconds=0.32, size=(128, 96), edit=0.16, seed=1)
    timeline = {0: [(30, f) for f in range(5)] + [(150, f) for f in range(5)],
                1: [(90, f) for f in range(5)] + [(210, f) for f in range(5)]}
    cams = shots(16, 2, 4.0, seed=1)
    for k in range(2):
        labels = load_labels(out / f"take_{k:02d}.npz")
        frames = [timeline[int(cams[8 * k + n])][(8 * k + n) % 10] for n in range(8)]
        assert _sources(labels) == [(g, f) for g, f in frames if f != 2]
