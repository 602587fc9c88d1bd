"""How long ``tvstream adapt`` takes on 10 minutes of 720p footage, with its default settings, on this machine.

The footage is made from rendered clips (``--source``, a dataset folder: e.g. a shard of the world; or
``--render SCENARIO``: a venue rendered here over ``--plates``): decoded, scaled to 1280x720 and written as
``--clips`` H.264 clips of ``--seconds`` each, so the teacher, the plates and the scoring see real 720p video of
the intended length. ``--by-camera`` makes every clip one camera's continuous footage (clip k from camera
k mod the rig's cameras, each camera's takes in order), as a venue's fixed cameras record it; without it the
source's clips follow one another in name order (the world's shards change camera every take); ``--edit SECONDS``
makes a multi-camera edit (the cameras in sync, a cut to another camera every 0.5-1.5x SECONDS). Then one
``tvstream adapt`` run with its defaults; the result is its report's time per stage, the frames labeled and the
agreement with the teacher on the held-out tails.

Run: ``python -m benchmarks.adapt_speed --source data/world/studio_photo_0 [--venv .mpvenv]``, or
``python -m benchmarks.adapt_speed --render mixed --plates DIR --by-camera --work runs/adapt_venue_long``.
Results: ``benchmarks/results/adapt_speed.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.provenance import machine, save

RESULTS = Path(__file__).parent / "results"


def make_footage(source: Path, out: Path, clips: int, seconds: float, size: tuple[int, int] = (1280, 720),
                 fps: int = 25, by_camera: bool = False, edit: float | None = None, seed: int = 0) -> Path:
    """``clips`` H.264 clips of ``seconds`` at ``size`` from the videos of ``source`` (once): in name order, or
    ``by_camera``, clip k from camera k mod the cameras, each camera's videos in order (cycled when short); or with
    ``edit`` (seconds), a multi-camera edit: every camera's videos run in sync and the clips cut from one camera to
    another every 0.5-1.5x ``edit`` seconds (drawn with ``seed``), as a broadcaster's edited footage does."""
    from tvstream.video_writer import VideoWriter

    if out.is_dir() and len(list(out.glob("*.mp4"))) == clips:
        write_truth(source, out, clips, seconds, size, fps, by_camera, edit, seed)  # footage made before truth was
        return out
    tmp = out.with_name(out.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    groups = camera_groups(source, by_camera or edit is not None)
    per_clip = int(seconds * fps)
    if edit is None:
        streams = [decoded_frames(videos, size) for videos in groups]
        frames_of = [streams[k % len(streams)] for k in range(clips)]
    else:
        edited = edited_frames(groups, size, shots(clips * per_clip, len(groups), edit * fps, seed))
        frames_of = [edited] * clips
    for k in range(clips):
        with VideoWriter(tmp / f"take_{k:02d}.mp4", size[0], size[1], fps) as writer:
            for _ in range(per_clip):
                writer.write(next(frames_of[k]))
    write_truth(source, tmp, clips, seconds, size, fps, by_camera, edit, seed)
    tmp.rename(out)
    return out


def take_sources(groups: list[list[Path]], counts: dict[Path, int], clips: int, per_clip: int,
                 cameras: np.ndarray | None = None) -> list[list[tuple[Path, int]]]:
    """The source ``(video, frame)`` of every frame of every take, as ``make_footage`` writes them: ``groups``'
    streams (each camera's videos of ``counts`` frames in order, cycled), take k continuing stream k mod the
    streams; or with ``cameras`` (an edit's camera per frame, ``shots``), every stream advancing one frame per
    frame of the edit and the takes cutting it in order."""
    def stream(videos: list[Path]):
        while True:
            for video in videos:
                yield from ((video, f) for f in range(counts[video]))

    streams = [stream(videos) for videos in groups]
    if cameras is None:
        return [[next(streams[k % len(streams)]) for _ in range(per_clip)] for k in range(clips)]
    shown = [[next(s) for s in streams][camera] for camera in cameras]
    return [shown[k * per_clip:(k + 1) * per_clip] for k in range(clips)]


def _camera_at(labels, row: int, scale: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``K, R, t`` of a labeled row (its own where the camera moves), ``K`` scaled by ``scale`` = (sx, sy)."""
    cam = labels.frame_cameras
    K, R, t = (cam.K[row], cam.R[row], cam.t[row]) if cam is not None else (labels.camera.K, labels.camera.R,
                                                                             labels.camera.t)
    return np.diag([scale[0], scale[1], 1.0]).astype(np.float32) @ K, R, t


def write_truth(source: Path, footage: Path, clips: int, seconds: float, size: tuple[int, int], fps: int,
                by_camera: bool, edit: float | None, seed: int) -> None:
    """Beside every take of ``footage``, its own labels (``take_NN.npz``, once) made from ``source``'s: the
    rendered truth of each frame the take shows, scaled to ``size``; a venue's held-out tails can then be scored
    against it (``tvstream adapt`` reports it; ``--teacher labels`` adapts on it). Nothing where the source has
    no labels."""
    from tvstream.labels import CameraParams, VideoLabels, load_labels, save_labels
    from tvstream.manifest import discover
    from train.data.video_reader import probe_video

    labelled = {Path(e.video): Path(e.labels) for e in discover(source) if e.labels}
    if not labelled or all((footage / f"take_{k:02d}.npz").is_file() for k in range(clips)):
        return
    groups = camera_groups(source, by_camera or edit is not None)
    infos = {v: probe_video(v) for videos in groups for v in videos}
    per_clip = int(seconds * fps)
    cameras = None if edit is None else shots(clips * per_clip, len(groups), edit * fps, seed)
    sources = take_sources(groups, {v: i.num_frames for v, i in infos.items()}, clips, per_clip, cameras)
    loaded = {v: load_labels(path) for v, path in labelled.items()}
    rows = {v: {int(f): i for i, f in enumerate(lab.frames)} for v, lab in loaded.items()}
    for k, frames in enumerate(sources):
        picked = [(n, loaded[v], rows[v][f], np.float32([size[0] / infos[v].width, size[1] / infos[v].height]))
                  for n, (v, f) in enumerate(frames) if v in loaded and f in rows[v]]
        if not picked:
            continue
        K, R, t = (np.stack(a) for a in zip(*(_camera_at(lab, i, sc) for _, lab, i, sc in picked)))
        labels = VideoLabels(
            frames=np.array([n for n, _, _, _ in picked], np.int64),
            joints3d=np.stack([lab.joints3d[i] for _, lab, i, _ in picked]),
            joints2d=np.stack([lab.joints2d[i] * sc for _, lab, i, sc in picked]),
            box=np.stack([lab.box[i] * np.tile(sc, 2) for _, lab, i, sc in picked]),
            visible=np.stack([lab.visible[i] for _, lab, i, _ in picked]),
            camera=CameraParams(K=K[0], R=R[0], t=t[0]), sequence=f"take_{k:02d}",
            frame_cameras=CameraParams(K=K, R=R, t=t))
        save_labels(footage / f"take_{k:02d}.npz", labels)


def footage_kind(by_camera: bool, edit: float | None) -> str:
    """How the footage was cut, as the results say it."""
    if edit is not None:
        return f"; a multi-camera edit, a cut to another camera every {edit / 2:g}-{1.5 * edit:g} s"
    return "; every clip one camera, continuous" if by_camera else "; the clips in name order"


def shots(frames: int, cameras: int, mean: float, seed: int) -> np.ndarray:
    """The camera ``(frames,)`` an edit shows at each frame: shots of 0.5-1.5x ``mean`` frames, each from another
    camera than the last (``cameras`` >= 2)."""
    rng = np.random.default_rng(seed)
    camera, out, at = int(rng.integers(cameras)), np.empty(frames, np.int64), 0
    while at < frames:
        length = max(1, int(round(mean * rng.uniform(0.5, 1.5))))
        out[at:at + length] = camera
        at += length
        camera = (camera + int(rng.integers(1, cameras))) % cameras
    return out


def edited_frames(groups: list[list[Path]], size: tuple[int, int], cameras: np.ndarray):
    """The frames of an edit: at frame i the picture of camera ``cameras[i]`` (its stream in sync with the others:
    every camera's videos decoded side by side, only the shown one scaled to ``size`` (W, H), RGB)."""
    streams = [decoded_frames(videos, None) for videos in groups]
    for camera in cameras:
        pictures = [next(s) for s in streams]
        yield pictures[camera].to_ndarray(width=size[0], height=size[1], format="rgb24")


def camera_groups(source: Path, by_camera: bool) -> list[list[Path]]:
    """The videos of ``source`` as the footage's streams: one stream in name order, or one per camera (cameras
    in name order, each camera's videos in the manifest's order)."""
    from tvstream.manifest import discover

    entries = discover(source)
    if not by_camera:
        return [[Path(e.video) for e in entries]]
    groups: dict[str, list[Path]] = {}
    for e in entries:
        groups.setdefault(e.camera, []).append(Path(e.video))
    return [groups[camera] for camera in sorted(groups)]


def decoded_frames(videos: list[Path], size: tuple[int, int] | None):
    """Every frame of ``videos`` in order, scaled to ``size`` (W, H), RGB (None: the decoded ``av.VideoFrame``s,
    unconverted); the list cycled without end."""
    import av

    while True:
        for video in videos:
            with av.open(str(video)) as container:
                for frame in container.decode(video=0):
                    yield frame if size is None else frame.to_ndarray(width=size[0], height=size[1], format="rgb24")


def render_source(out: Path, scenario: str, plates: Path | None, textures: Path | None, subjects: int,
                  takes: int, take_seconds: float) -> Path:
    """A venue rendered at 640x360 (once): ``subjects`` athletes, ``takes`` takes of ``take_seconds`` each,
    over ``plates`` (one venue's photo plate(s); the procedural venue without)."""
    from train.synth.generate import SynthConfig, synthesize_once

    cfg = SynthConfig(scenario=scenario, subjects=subjects, sequences=takes, seconds=take_seconds, width=640,
                      height=360, seed=8008, crf=(16, 28), backgrounds=str(plates) if plates else None,
                      textures=str(textures) if textures else None)
    return synthesize_once(cfg, out)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--source", type=Path, help="a dataset folder whose clips make the footage")
    src.add_argument("--render", metavar="SCENARIO", help="render a venue here (train.synth scenario) as the source")
    ap.add_argument("--plates", type=Path, default=None, help="with --render: the venue's photo plate(s)")
    ap.add_argument("--textures", type=Path, default=None, help="with --render: photos printed on garments")
    ap.add_argument("--subjects", type=int, default=5, help="with --render: athletes")
    ap.add_argument("--takes", type=int, default=3, help="with --render: takes per athlete")
    ap.add_argument("--take-seconds", type=float, default=12.0, help="with --render: seconds per take")
    ap.add_argument("--by-camera", action="store_true", help="every clip one camera's continuous footage")
    ap.add_argument("--edit", type=float, default=None, metavar="SECONDS",
                    help="a multi-camera edit instead: the cameras in sync, a cut to another every ~SECONDS")
    ap.add_argument("--work", type=Path, default=Path("runs/adapt_speed"))
    ap.add_argument("--clips", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--venv", type=Path, default=None, help="the teacher's venv (default: tvstream's teacher home)")
    ap.add_argument("--out", type=Path, default=RESULTS / "adapt_speed")
    args = ap.parse_args(argv)
    tic = time.perf_counter()
    source = args.source or render_source(args.work / "rendered", args.render, args.plates, args.textures,
                                          args.subjects, args.takes, args.take_seconds)
    footage = make_footage(source, args.work / "footage", args.clips, args.seconds, by_camera=args.by_camera,
                           edit=args.edit)
    made_s = time.perf_counter() - tic
    model = args.work / "venue.onnx"
    cmd = [sys.executable, "-m", "tvstream", "-q", "adapt", str(footage), "--out", str(model),
           *(["--venv", str(args.venv)] if args.venv else [])]
    tic = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - tic
    if done.returncode != 0:
        raise SystemExit(f"adapt failed:\n{done.stderr[-3000:]}")
    report = json.loads((args.work / "venue.adapt" / "report.json").read_text())
    record, header = machine()
    minutes = args.clips * args.seconds / 60
    result = {"machine": record, "date": time.strftime("%Y-%m-%d %H:%M"), "footage_minutes": minutes,
              "footage_s": round(made_s, 1), "adapt_wall_s": round(wall, 1), "report": report}
    lines = [f"# `tvstream adapt` on {minutes:.0f} minutes of 1280x720 footage, {header}", "",
             f"{args.clips} clips of {args.seconds:.0f} s made from `{source}` (rendered athletes"
             f"{footage_kind(args.by_camera, args.edit)}), "
             "default settings: "
             f"teacher {report['teacher']} on one frame in {report.get('every', report['config']['every'])} "
             f"({report['labeled_frames']} frames labeled), {report['synth_frames']} frames rendered over "
             f"{report['plates']} plates, {report.get('replay_rows', 0)} rows of a rendered replay world "
             f"(replay: {report['config'].get('replay') or 'none'}), "
             f"{report.get('steps', report['config']['steps'])} fine-tuning steps of "
             f"{'the whole network' if report['config'].get('part') == 'all' else 'the box detector'}.", "",
             f"**Whole run: {wall / 60:.1f} minutes** (target: within 60).", "", "| stage | seconds |", "|---|---:|"]
    lines += [f"| {k} | {v:.0f} |" for k, v in report["seconds"].items()]
    before, after = report["before"], report["after"]
    lines += ["", f"Agreement with the teacher on the held-out tails: before {before['pck']:.3f}, after "
                  f"{after['pck']:.3f} (frames the run did not report count as misses; on the frames it reported: "
                  f"before {before['pck_reported']:.3f}, after {after['pck_reported']:.3f})."]
    if "truth" in after:
        lines += ["", f"Against the takes' own rendered labels on the same tails (every labeled frame): PCK@0.2 "
                      f"before {before['truth']['pck']:.3f}, after {after['truth']['pck']:.3f}; MPJPE before "
                      f"{before['truth']['mpjpe']} mm, after {after['truth']['mpjpe']} mm."]
    save(args.out, result, "\n".join(lines) + "\n")
    return result


if __name__ == "__main__":
    main()
