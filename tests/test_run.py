"""`tvstream run` end to end on real files: JSON lines that validate, overlays, stdin, bad input."""

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from tvstream.background import RollingBackground
from tvstream.errors import ExitStatus
from tvstream.output_schema import output_schema
from tvstream.frame_fit import FrameFit

SAMPLE = Path(__file__).parent.parent / "examples" / "sample_ski.mp4"


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from tiny_model import export_tiny_model

    return export_tiny_model(tmp_path_factory.mktemp("run"))


@pytest.fixture(scope="module")
def posenet(tmp_path_factory):
    """A tiny pose network (frames + track in, conf out, 72 x 128) and a 40-frame clip at its size."""
    from tiny_model import export_tiny_posenet
    from train.data.pattern_video import write_pattern_video

    root = tmp_path_factory.mktemp("posenet")
    return export_tiny_posenet(root), write_pattern_video(root / "clip.mp4", 40, width=128, height=72)


def tvstream(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "tvstream", *map(str, args)], input=stdin, capture_output=True,
                          timeout=300)


def test_run_writes_one_valid_line_per_frame_and_an_overlay(model, tmp_path):
    out = tvstream("run", SAMPLE, "--model", model, "--out", tmp_path / "poses.jsonl", "--batch", "4",
                   "--render", tmp_path / "overlay.mp4")
    assert out.returncode == 0, out.stderr.decode()
    lines = [json.loads(line) for line in (tmp_path / "poses.jsonl").read_text().splitlines()]
    validator = jsonschema.Draft202012Validator(output_schema())
    for line in lines:
        validator.validate(line)
    header, poses, end = lines[0], lines[1:-1], lines[-1]
    assert header["source"] == {"uri": str(SAMPLE), "width": 640, "height": 360, "fps": 25.0}
    assert [p["frame"] for p in poses] == list(range(250)) and end == {"type": "end", "frames": 250,
                                                                       "dropped": 0, "errors": 0}
    assert np.all(np.diff([p["t"] for p in poses]) > 0) and poses[-1]["t"] == pytest.approx(9.96)
    from train.data.video_reader import probe_video

    overlay = probe_video(tmp_path / "overlay.mp4")
    assert (overlay.num_frames, overlay.width, overlay.height) == (250, 640, 360)
    # the closing line says how often the athlete was reported (the count of detected pose lines) and how fast
    said = " ".join((out.stdout + out.stderr).decode().split())  # rich wraps long lines
    assert f"250 frames -> {tmp_path / 'poses.jsonl'}" in said
    assert f"(athlete in {sum(p['detected'] for p in poses)}, " in said and " frames/s)" in said


def test_min_conf_decides_which_frames_of_the_default_model_are_reported(tmp_path):
    """The shipped model on the sample clip: nearly every frame at the default threshold, none at 1 (no joint is
    ever that sure), and an out-of-range value is a usage error."""
    counts = {}
    for extra in ((), ("--min-conf", "1")):
        out = tvstream("run", SAMPLE, "--out", tmp_path / "p.jsonl", "--scenario", "ski", *extra)
        assert out.returncode == 0, out.stderr.decode()
        poses = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()][1:-1]
        counts[extra] = sum(p["detected"] for p in poses)
    assert counts[()] >= 200 and counts[("--min-conf", "1")] == 0, counts
    out = tvstream("run", SAMPLE, "--min-conf", "1.5")
    assert out.returncode == ExitStatus.USAGE and "--min-conf" in out.stderr.decode()


def test_second_look_flags_are_checked_before_the_model_loads():
    out = tvstream("run", SAMPLE, "--second-look", "0.5", "--no-second-look")
    assert out.returncode == ExitStatus.USAGE and "--no-second-look" in out.stderr.decode()
    out = tvstream("run", SAMPLE, "--second-look", "2")
    assert out.returncode == ExitStatus.USAGE and "--second-look" in out.stderr.decode()


def test_run_reads_a_stream_from_stdin_to_stdout(model, tmp_path):
    from train.data.pattern_video import write_pattern_video

    clip = write_pattern_video(tmp_path / "clip.ts", 30, width=96, height=64)
    out = tvstream("run", "-", "--model", model, stdin=clip.read_bytes())
    assert out.returncode == 0, out.stderr.decode()
    lines = [json.loads(line) for line in out.stdout.decode().splitlines()]  # stdout: JSON lines only
    assert lines[0]["type"] == "header" and lines[-1]["type"] == "end" and len(lines) == 32


def test_bad_input_is_one_line_and_an_exit_code(model, tmp_path):
    (tmp_path / "junk.mp4").write_bytes(b"junk" * 100)
    for args, code, text in (
        (("run", tmp_path / "junk.mp4", "--model", model), ExitStatus.SOURCE, "cannot open video"),
        (("run", tmp_path / "absent.mp4", "--model", model), ExitStatus.SOURCE, "no such video file"),
        (("run", SAMPLE, "--model", tmp_path / "absent.onnx"), ExitStatus.CHECKPOINT, "no such model file"),
        (("run", SAMPLE, "--model", tmp_path / "junk.mp4"), ExitStatus.CHECKPOINT, "cannot load the model"),
    ):
        out = tvstream(*args)
        err = out.stderr.decode()
        assert out.returncode == code and text in err, err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_model_pixels_map_to_source_pixels():
    # a 36x64 model input of a 360x640 source (same aspect, no bars): pixel centre 31.5 -> 319.5 (x), 17.5 -> 179.5
    fit = FrameFit.of((360, 640), (36, 64))
    assert fit.fills and fit.offset == (0, 0)
    np.testing.assert_allclose(fit.to_source(np.array([[31.5, 17.5], [-0.5, -0.5]])), [[319.5, 179.5], [-0.5, -0.5]])


def test_a_portrait_source_keeps_its_aspect_between_black_bars():
    # 1080x1920 portrait into 288x512: scale 0.15, content 162x288 starting at x = 175
    fit = FrameFit.of((1920, 1080), (288, 512))
    assert fit.content == (288, 162) and fit.offset == (175, 0) and not fit.fills
    np.testing.assert_allclose(fit.scale, [1080 / 162, 1920 / 288])
    # the content's corners (edges) are the source's corners; pixel centres map back and forth
    np.testing.assert_allclose(fit.to_source(np.array([[175.0, 0.0], [337.0, 288.0]]), edges=True),
                               [[0, 0], [1080, 1920]])
    # pixel centres: source pixel 0 spans model x 175 .. 175.15, its centre at 175.075, i.e. 174.575 with centres at
    # integers; a box's edges at source 0 and 1080 are the content's edges
    np.testing.assert_allclose(fit.to_model(np.array([[0.0, 0.0]])), [[174.575, -0.425]])
    np.testing.assert_allclose(fit.to_source(np.array([[174.575, -0.425]])), [[0.0, 0.0]], atol=1e-9)
    np.testing.assert_allclose(fit.to_model(np.array([[0.0, 0.0], [1080.0, 1920.0]]), edges=True),
                               [[175.0, 0.0], [337.0, 288.0]])
    frame = fit.place(np.full((288, 162, 3), 200, np.uint8))
    assert frame.shape == (288, 512, 3)
    assert frame[:, 175:337].min() == 200 and frame[:, :175].max() == 0 and frame[:, 337:].max() == 0
    # a 4:3 source gets bars at the sides; a 21:9 one above and below
    assert FrameFit.of((480, 640), (288, 512)).offset == (64, 0)
    assert FrameFit.of((800, 2100), (288, 512)).offset == (0, 46)


def test_rolling_background_scores_the_box_with_the_athlete():
    from train.data.pattern_video import render_pattern_frame, square_box

    bg = RollingBackground(history=9, refresh=3, width=64)
    for t in range(40):
        img = render_pattern_frame(t, 160, 120)
        box = square_box(t, 160, 120)
        bg.update(img, box)
    img, box = render_pattern_frame(40, 160, 120), square_box(40, 160, 120)
    empty = np.array([5.0, 100, 20, 115])  # a corner the square never visits
    assert bg.score(img, box) > 0.5 and bg.score(img, empty) < 0.05


def test_an_athlete_standing_still_stays_detected_when_its_box_grows():
    """Pixels the box has covered in every frame have no background; they count as the athlete, not as unknown."""
    bg = RollingBackground(history=9, refresh=3, width=64)
    img = np.full((64, 64, 3), 200.0, np.float32)
    img[20:40, 30:34] = 40.0  # a thin, still diver
    box = np.array([29.0, 18, 35, 42])
    for _ in range(12):
        bg.update(img, box)
    taller = np.array([29.0, 12, 35, 42])  # arms up: the box grows over sky the background knows
    assert bg.score(img, taller) == pytest.approx(24 / 30)  # 24 of 30 rows never seen without the diver
    assert bg.score(img, np.array([2.0, 2, 10, 10])) == 0.0  # empty sky


def test_run_uses_the_embedded_default_model(tmp_path):
    out = tvstream("run", SAMPLE, "--out", tmp_path / "poses.jsonl", "--batch", "8")
    assert out.returncode == 0, out.stderr.decode()
    lines = [json.loads(line) for line in (tmp_path / "poses.jsonl").read_text().splitlines()]
    header, poses = lines[0], lines[1:-1]
    assert header["model"]["trained"] is True and len(header["model"]["hash"]) == 16
    assert len(poses) == 250 and lines[-1]["frames"] == 250
    detected = [p for p in poses if p["detected"]]
    assert len(detected) > 200  # the skier is in every frame
    hips = np.array([p["pose2d"][0] for p in detected])
    assert (hips[:, 0] > 0).all() and (hips[:, 0] < 640).all() and (hips[:, 1] > 0).all() and (hips[:, 1] < 360).all()


def test_ski_runs_without_a_foreground_score_and_says_why(model, tmp_path):
    """The ski camera pans and zooms: a rolling background cannot score frames, so the header says so and
    every frame is reported (where the studio default decides per frame)."""
    out = tvstream("run", SAMPLE, "--model", model, "--out", tmp_path / "ski.jsonl", "--scenario", "ski")
    assert out.returncode == 0, out.stderr.decode()
    lines = [json.loads(line) for line in (tmp_path / "ski.jsonl").read_text().splitlines()]
    validator = jsonschema.Draft202012Validator(output_schema())
    for line in lines:
        validator.validate(line)
    header, poses = lines[0], lines[1:-1]
    assert header["foreground"]["scored"] is False and "camera" in header["foreground"]["reason"]
    assert len(poses) == 250 and all(p["detected"] and p["score"] == 1.0 and p["box"] for p in poses)
    studio = tvstream("run", SAMPLE, "--model", model, "--out", tmp_path / "studio.jsonl")
    assert studio.returncode == 0
    studio_header = json.loads((tmp_path / "studio.jsonl").read_text().splitlines()[0])
    assert "foreground" not in studio_header  # scored against the rolling background


def _core_mean(conf):
    from tvstream.tracking import CORE_JOINTS

    return float(np.mean(np.asarray(conf)[list(CORE_JOINTS)]))


@pytest.mark.parametrize("flags", [(), ("--no-track",)])
def test_run_with_a_confidence_model_writes_conf_and_detects_by_it(posenet, tmp_path, flags):
    model, clip = posenet
    out = tvstream("run", clip, "--model", model, "--out", tmp_path / "poses.jsonl", "--scenario", "ski", *flags)
    assert out.returncode == 0, out.stderr.decode()
    lines = [json.loads(line) for line in (tmp_path / "poses.jsonl").read_text().splitlines()]
    validator = jsonschema.Draft202012Validator(output_schema())
    for line in lines:
        validator.validate(line)
    poses = lines[1:-1]
    assert lines[0]["schema"] == "tvstream.pose/4" and len(poses) == 40
    for p in poses:  # ski: no foreground score, so conf alone decides
        assert (p["conf"] is not None) == p["detected"] == (_core_mean(p["conf"] or [0] * 17) >= 0.3 - 1e-3)
    assert all(len(p["conf"]) == 17 for p in poses if p["detected"])


def test_stream_yields_conf_and_the_crop_follows_the_joints_through_onnxruntime(posenet):
    """With track_conf 0 every frame's joints place the next crop: the model's box at t + 1 is the tracker's."""
    from tvstream.api import open_model, stream
    from tvstream.pipeline import RunOptions, estimate, pose_box
    from tvstream.sources import VideoSource
    from tvstream.tracking import JointTracker

    model, clip = posenet
    poses = list(stream(clip, model, scenario="ski"))
    assert len(poses) == 40 and all("conf" in p for p in poses)
    assert any(p["detected"] and len(p["conf"]) == 17 for p in poses)
    engine, _ = open_model(model, "onnxruntime")
    options = RunOptions(smooth=False, scenario="ski", min_conf=0.0, track_conf=0.0)
    with VideoSource(str(clip), engine.metadata.input_size) as src:  # source pixels = model pixels (128 x 72)
        records = list(estimate(src, engine, options))
    tracker = JointTracker((72, 128), min_conf=0.0)
    picture = np.array([128, 72, 128, 72], np.float32)  # the source's [W, H, W, H]
    for prev, record in zip(records, records[1:]):
        tracker.update(prev.pose2d, prev.conf, prev.detected)
        use, cx, cy, hx, hy = tracker.track()
        assert use == 1
        np.testing.assert_allclose(record.crop, [(cx - hx + 1) * 64, (cy - hy + 1) * 36, (cx + hx + 1) * 64,
                                                (cy + hy + 1) * 36], atol=1e-3)
        if record.detected:  # the written box is the athlete's: its joints grown as the labels, in the picture
            np.testing.assert_allclose(record.box, pose_box(record.pose2d, picture), atol=1e-4)
            assert record.to_dict()["box"] == pytest.approx(record.box.tolist(), abs=0.06)
            assert "crop" not in record.to_dict()
    # a diver's box too is its joints' (the gravity filter is for boxes not made from joints)
    diving = RunOptions(smooth=False, scenario="dive", min_conf=0.0, min_score=0.0)
    with VideoSource(str(clip), engine.metadata.input_size) as src:
        dives = [r for r in estimate(src, engine, diving) if r.detected]
    assert len(dives) >= 10
    for record in dives:
        np.testing.assert_allclose(record.box, pose_box(record.pose2d, picture), atol=1e-4)


class _CarryingSettings:
    """``engine`` as a model that carries the run-time settings ``run`` (``ModelMetadata.run_settings``)."""

    def __init__(self, engine, run: dict) -> None:
        from dataclasses import replace

        self._engine = engine
        self.metadata = replace(engine.metadata, config={**engine.metadata.config, "run": run})
        self.metadata.check()

    def __getattr__(self, name):
        return getattr(self._engine, name)


def test_a_model_s_own_track_conf_places_the_crops_unless_the_options_name_one(posenet):
    """A model carrying ``track_conf`` runs with it where ``RunOptions.track_conf`` is None (the CLI's default) and
    with the options' where they name one; a model carrying none runs at 0.8. The crops show which: at 0 every
    frame's joints place the next crop, at 1 the detector does."""
    from engines.metadata import RUN_SETTINGS
    from tvstream.api import open_model
    from tvstream.pipeline import MODEL_DEFAULTS, RunOptions, estimate
    from tvstream.sources import VideoSource

    assert tuple(MODEL_DEFAULTS) == RUN_SETTINGS and MODEL_DEFAULTS == {"track_conf": 0.8, "track_shrink": 0.0}
    model, clip = posenet
    engine, _ = open_model(model, "onnxruntime")

    def crops(backend, **options):
        with VideoSource(str(clip), engine.metadata.input_size) as src:
            return np.array([r.crop for r in estimate(src, backend, RunOptions(smooth=False, scenario="ski",
                                                                             min_conf=0.0, **options))])

    follows, detects = crops(engine, track_conf=0.0), crops(engine, track_conf=1.0)
    assert np.abs(follows - detects).max() > 1.0  # the two settings place other crops
    np.testing.assert_array_equal(crops(_CarryingSettings(engine, {"track_conf": 0.0})), follows)
    np.testing.assert_array_equal(crops(_CarryingSettings(engine, {"track_conf": 0.0}), track_conf=1.0), detects)
    np.testing.assert_array_equal(crops(engine), crops(engine, track_conf=0.8))
    assert RunOptions().for_model(_CarryingSettings(engine, {"track_conf": 0.95}).metadata).track_conf == 0.95
    assert RunOptions().for_model(engine.metadata).track_conf == 0.8
    carrying = _CarryingSettings(engine, {"track_conf": 0.95, "track_shrink": 0.9}).metadata
    assert RunOptions().for_model(carrying).track_shrink == 0.9
    assert RunOptions(track_shrink=0.5).for_model(carrying).track_shrink == 0.5
    assert RunOptions().for_model(engine.metadata).track_shrink == 0.0


def test_a_checkpoint_s_run_settings_go_into_the_exported_model_s_metadata():
    from engines.posenet_graph import build_posenet_graph
    from tvstream.errors import CheckpointError
    from train.posenet.config import SIZES
    from train.posenet.model import PoseNet

    cfg = SIZES["tiny"]
    state = {"model": PoseNet(cfg).state_dict(), "config": {"kind": "posenet", "model": cfg.to_dict(), "fit": {}}}
    assert build_posenet_graph(state)[1].run_settings == {}
    state["config"]["run"] = {"track_conf": 0.95}
    assert build_posenet_graph(state)[1].run_settings == {"track_conf": 0.95}
    state["config"]["run"] = {"track_conf": 95}
    with pytest.raises(CheckpointError, match="run-time settings"):
        build_posenet_graph(state)


@pytest.mark.parametrize("run", [{"track_conf": 1.5}, {"track_conf": True}, {"min_score": 0.5}, [0.9],
                                 {"track_shrink": -0.1}])
def test_a_model_with_unknown_or_bad_run_settings_is_refused(posenet, run):
    from dataclasses import replace

    from tvstream.api import open_model
    from tvstream.errors import CheckpointError

    engine, _ = open_model(posenet[0], "onnxruntime")
    with pytest.raises(CheckpointError, match="run-time settings"):
        replace(engine.metadata, config={**engine.metadata.config, "run": run}).check("m.onnx")


def test_the_reported_box_is_the_joints_extent_grown_as_the_labeled_boxes_and_inside_the_picture():
    from tvstream.pipeline import pose_box

    pose = np.array([[10.0, 20.0], [30.0, 120.0], [50.0, 60.0]])  # extent x 10..50, y 20..120
    # grown per side by 0.13 x 40 = 5.2 px in x and 0.04 x 100 = 4 px in y (tvstream.labels.JOINT_BOX_MARGIN)
    wide, small = np.array([640, 360, 640, 360], np.float32), np.array([40, 100, 40, 100], np.float32)
    np.testing.assert_allclose(pose_box(pose, wide), [4.8, 16.0, 55.2, 124.0], atol=1e-4)
    np.testing.assert_allclose(pose_box(pose - [8.0, 0.0], small), [0.0, 16.0, 40.0, 100.0], atol=1e-4)


def test_a_run_that_finds_nobody_says_so_in_one_warning(tmp_path):
    """An empty portrait scene through the embedded model: every frame is written (not detected), the aspect is
    kept, and a warning says the athlete was hardly ever reported, with what to do about it."""
    import av

    clip = tmp_path / "empty.mp4"
    with av.open(str(clip), mode="w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 90, 160, "yuv420p"
        for i in range(30):
            image = np.full((160, 90, 3), 90 + i, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    out = tvstream("run", clip, "--out", tmp_path / "poses.jsonl")
    err = " ".join(out.stderr.decode().split())  # the log wraps long lines
    assert out.returncode == 0, err
    lines = [json.loads(line) for line in (tmp_path / "poses.jsonl").read_text().splitlines()]
    assert lines[0]["source"]["width"] == 90 and len(lines) == 32
    assert lines[0]["model"]["person_view"] == "square"  # upright: the detector read the picture's own square
    assert not any(line.get("detected") for line in lines[1:-1])
    assert "reported in only 0 of 30 frames" in err and "tvstream adapt" in err


def test_a_labeled_box_reads_as_the_cache_reads_it_between_bars():
    # a 1080x1920 portrait in 288x512: content 162 columns from 175; a box over the left half of the source
    fit = FrameFit.of((1920, 1080), (288, 512))
    cx, cy, hx, hy = fit.normalised_boxes(np.array([0.0, 0.0, 540.0, 1920.0]))
    # columns 175 .. 256 of 512 -> -1 + 175/256 .. 0; rows all -> -1 .. 1
    np.testing.assert_allclose([cx, cy, hx, hy], [(175 / 256 - 1) / 2, 0.0, (1 - 175 / 256) / 2, 1.0], atol=1e-9)
    assert fit.normalised_boxes(np.zeros((3, 2, 4))).shape == (3, 2, 4)  # any leading shape


def _sample_start(clip: Path, width: int, height: int, frames: int = 12) -> Path:
    """The sample clip's first ``frames`` frames at ``width`` x ``height``, written to ``clip``."""
    import av

    with av.open(str(SAMPLE)) as src, av.open(str(clip), mode="w") as dst:
        stream = dst.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i, frame in enumerate(src.decode(video=0)):
            if i == frames:
                break
            for packet in stream.encode(frame.reformat(width=width, height=height, format="yuv420p")):
                dst.mux(packet)
        for packet in stream.encode():
            dst.mux(packet)
    return clip


def _plain_and(clip: Path, flag: str, tmp_path: Path) -> dict[str, list[dict]]:
    """``tvstream run`` on ``clip`` without and with ``flag``: each run's JSON lines ("plain" and the flag's name),
    every line of the flagged run valid against the output schema."""
    runs = {}
    for name, flags in (("plain", []), (flag.lstrip("-"), [flag])):
        out = tvstream("run", clip, "--out", tmp_path / f"{name}.jsonl", *flags)
        assert out.returncode == 0, out.stderr.decode()
        runs[name] = [json.loads(line) for line in (tmp_path / f"{name}.jsonl").read_text().splitlines()]
    validator = jsonschema.Draft202012Validator(output_schema())
    for line in runs[flag.lstrip("-")]:
        validator.validate(line)
    return runs


def _joint_gaps(runs: dict[str, list[dict]], name: str) -> np.ndarray:
    """Per frame both runs reported (at least 10): the median distance (px) between the plain run's joints and
    run ``name``'s."""
    both = [(a, b) for a, b in zip(runs["plain"][1:-1], runs[name][1:-1]) if a["detected"] and b["detected"]]
    assert len(both) >= 10
    return np.array([np.median(np.linalg.norm(np.subtract(a["pose2d"], b["pose2d"]), axis=1)) for a, b in both])


def test_sharp_runs_a_large_source_on_a_frame_twice_as_large_and_reports_source_pixels(tmp_path):
    """``--sharp``: a 1280x720 source (the sample clip's first frames, upscaled) runs the embedded model's twin on a
    1024x576 frame (the header says so); its joints come back in the source's pixels, where the plain run puts
    them (the same weights, the skier in the same place)."""
    runs = _plain_and(_sample_start(tmp_path / "big.mp4", 1280, 720), "--sharp", tmp_path)
    assert "frame_scale" not in runs["plain"][0]["model"] and runs["sharp"][0]["model"]["frame_scale"] == 2
    gaps = _joint_gaps(runs, "sharp")
    assert np.median(gaps) < 20  # px of 1280: the skier is ~250 px tall; a frame-scale slip would move it by 100s


def test_fast_on_a_model_that_reads_each_crop_once_runs_it_as_it_is(tmp_path):
    """``--fast`` asks for a twin that reads each crop once; the embedded model (since session 47, MediaPipe Full's
    landmark network) already does, so the run is the plain one: no twin in the header, every line valid, the same
    joints on every frame. (Which twin a model that reads mirrored gets: ``tests/test_detector_view.py``.)"""
    from engines.backends import load_backend
    from tvstream.api import DEFAULT_MODEL

    assert not load_backend(DEFAULT_MODEL, "onnxruntime").metadata.config["model"].get("mirror_read", False)
    runs = _plain_and(_sample_start(tmp_path / "short.mp4", 640, 360), "--fast", tmp_path)
    assert "mirror_read" not in runs["plain"][0]["model"] and "mirror_read" not in runs["fast"][0]["model"]
    assert np.all(_joint_gaps(runs, "fast") == 0)
