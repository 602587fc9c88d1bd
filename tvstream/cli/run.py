"""``tvstream run``: video in, one JSON line of 3D pose per frame out."""

from __future__ import annotations

import logging
import signal
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from tvstream.athlete import SELECT_POLICIES, KeepOptions
from tvstream.cli.context import AppContext, pass_app
from tvstream.stature import HEIGHT_RANGE_M

if TYPE_CHECKING:
    from tvstream.sinks import JsonlSink

log = logging.getLogger(__name__)
FEW_DETECTED_FRAMES = 25  # a run of at least this many frames ...
FEW_DETECTED_SHARE = 0.1  # ... that reports the athlete in fewer than this share of them ends with a warning


@click.command()
@click.argument("source", metavar="INPUT")
@click.option("--model", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="An exported model (.onnx; see `tvstream export`). Default: the embedded model.")
@click.option("--out", "out", default="-", show_default=True,
              help="Where the JSON lines go: a file, - for stdout, tcp://HOST:PORT (a peer, re-connected), "
                   "tcp-listen://[HOST]:PORT or ws://[HOST]:PORT (serve any number of TCP or WebSocket clients; "
                   "wss:// needs a TLS proxy in front).")
@click.option("--wait-client", is_flag=True,
              help="With a tcp-listen:// or ws:// output: read INPUT only once the first client is connected, so "
                   "it misses nothing.")
@click.option("--realtime", is_flag=True,
              help="Deliver a file's frames at their own timestamps, as ffmpeg -re does, not as fast as possible "
                   "(cameras and URLs are real time already).")
@click.option("--backend", type=click.Choice(("auto", "tensorrt", "onnxruntime", "torch")), default="auto",
              show_default=True, help="auto: TensorRT with a GPU, else ONNX Runtime.")
@click.option("--batch", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Frames per inference call (files: more throughput; live: more latency).")
@click.option("--threads", type=click.IntRange(0, 256), default=0,
              help="ONNX Runtime threads (0: all cores but one, which decodes).")
@click.option("--no-smooth", is_flag=True, help="Write raw per-frame poses (no One-Euro filter).")
@click.option("--no-track", is_flag=True,
              help="Detect the athlete in every frame (models with a track input otherwise crop around the last "
                   "confident frame's joints at --batch 1).")
@click.option("--min-conf", type=click.FloatRange(0, 1), default=None, metavar="CONF",
              help="A frame is reported (detected) when its 12 core joints' mean confidence reaches CONF (default "
                   "0.05; the default model's confidence includes its presence classifier, ~0 on an empty frame). "
                   "Higher is stricter: 0.3 withholds most frames of real people.")
@click.option("--track-conf", type=click.FloatRange(0, 1), default=None, metavar="CONF",
              help="The crop follows the athlete's joints from a frame whose 12 core joints' mean confidence reaches "
                   "CONF (default: the model's own setting, shown by `tvstream info`; 0.8 for models without one). "
                   "Lower follows unsure reads (and may follow the wrong person); higher runs the detector more.")
@click.option("--track-shrink", type=click.FloatRange(0, 1), default=None, metavar="RATIO",
              help="A crop placed from a frame's joints (the next frame's, or a detector frame's second read) is "
                   "at least RATIO times the one placed from the last frame's read (its longer side): a read of the "
                   "visible part of a person (legs hidden by a car) does not shrink the crop onto that part "
                   "(default: the model's own setting, else 0: no limit).")
@click.option("--second-look", type=click.FloatRange(0, 1), default=None, metavar="SCORE",
              help="Models with a second person detector (the default model: MediaPipe's): a frame whose crop is "
                   "unsure is read again on that detector's person when it scores at least SCORE, and kept where the "
                   "pose is surer (default 0.2; at --batch 1 with tracking).")
@click.option("--no-second-look", is_flag=True,
              help="Never read a frame a second time: not on the second detector's person, on the crop its own "
                   "first read's joints place, or on the crop the last frame's joints place (one inference a "
                   "frame). For a clean feed on a slow CPU: 1.77x the speed on the sample clip at the same "
                   "accuracy, but harder footage reads worse (session 51: real photos of people 0.627 -> 0.581, "
                   "people crossing taken for the athlete).")
@click.option("--sharp", is_flag=True,
              help="A source at least 1.5x the model's frame (768 px wide for 16:9) runs on a frame twice as large "
                   "(the same weights; written once into the model cache, needs torch): the head reads small people "
                   "from twice the detail, at about 0.8x the speed. Experimental: through the run its gain on small "
                   "people was not steady, and on the held-out real reference clips it scored lower (0.552 -> 0.519).")
@click.option("--fast", is_flag=True,
              help="A model that reads each crop twice, as it is and mirrored (the default model until session "
                   "47; the default now reads once, and runs as it is), reads it once (the same weights; written "
                   "once into the model cache, needs torch): about 1.4x the frames a second, a little less accurate "
                   "(session 34's default: rendered bench PCK@0.2 0.784 -> 0.775, MPJPE 135 -> 141 mm; "
                   "benchmarks/results/s34_rule.md). For live use on a slow CPU.")
@click.option("--select", type=click.Choice(SELECT_POLICIES), default="largest", show_default=True,
              help="Which person is the athlete at the start (and after it was gone longer than --hold): the "
                   "largest, the one nearest the centre, or the first the detector finds (judged on the skeletons "
                   "the model reads where it reads several people surely). Others who cross later do not take over "
                   "(models with a detections output, at --batch 1).")
@click.option("--hold", type=click.FloatRange(0, 60), default=KeepOptions.hold_s, show_default=True, metavar="SECONDS",
              help="How long the athlete's track id survives unseen (an occlusion); a later person starts a new id.")
@click.option("--no-cuts", is_flag=True,
              help="Do not look for cuts between shots. By default a new shot (edited footage, a broadcast's camera "
                   "change) starts tracking afresh: the athlete is found again at once, with a new track id, and "
                   "the pose lines' shot counts up.")
@click.option("--scenario", type=click.Choice(("studio", "dive", "ski")), default="studio", show_default=True,
              help="dive: gravity-aware box tracking (models whose box is not made from joints), and the floor "
                   "(--camera) gives height only, not the root's scale (the diver is in the air); ski: no foreground "
                   "score (moving camera), all frames detected.")
@click.option("--render", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write an overlay video with the box and skeleton drawn.")
@click.option("--deinterlace", is_flag=True, help="Deinterlace (bwdif) first: 1080i / 576i broadcast feeds.")
@click.option("--hwaccel", type=click.Choice(("cuda",)), default=None,
              help="Decode on the GPU (falls back to the CPU with a warning where it cannot).")
@click.option("--camera", type=click.Path(dir_okay=False, path_type=Path), default=None, metavar="FILE",
              help="The camera's intrinsics, for each pose's root position: JSON with K (3x3, source pixels) and "
                   "optionally the width/height it was calibrated at and the floor (ground: normal, point in camera "
                   "mm; or the labels' R, t), which adds each root's height. Default: --fov, else an assumed 60 "
                   "degrees (the header says which).")
@click.option("--fov", type=click.FloatRange(1, 179), default=None, metavar="DEG",
              help="The source's horizontal field of view, when there is no camera file (a wrong one scales the "
                   "root's depth, not its direction).")
@click.option("--height", "height_m", type=click.FloatRange(*HEIGHT_RANGE_M), default=None, metavar="METRES",
              help="(Experimental) The athlete's height: the 3D is scaled so the skeleton stands this tall, and "
                   "the root's distance and speed follow (the network sees proportions, not size). On the rendered "
                   "bench: 3D error 135.5 -> 126.7 mm, the root's distance error halved; where the pose is read badly "
                   "the 3D error can rise a little.")
@click.option("--live/--no-live", default=None,
              help="Newest frame wins when processing lags (default: on for cameras and network URLs, off for "
                   "files and stdin, which process every frame).")
@pass_app
def run(app: AppContext, source: str, model: Path | None, out: str, backend: str, batch: int, threads: int,
        no_smooth: bool, no_track: bool, scenario: str, render: Path | None, deinterlace: bool, hwaccel: str | None,
        live: bool | None, wait_client: bool, realtime: bool, camera: Path | None, fov: float | None, select: str,
        hold: float, min_conf: float | None, track_conf: float | None, track_shrink: float | None,
        second_look: float | None, no_second_look: bool, sharp: bool, fast: bool, height_m: float | None,
        no_cuts: bool) -> None:
    """Estimate 3D poses in INPUT: a video file, - for stdin, a camera (camera:0, /dev/video0) or a URL
    (rtsp, rtmp, srt, http, tcp, udp; re-connected with back-off when the stream drops).

    \b
    Example:
      tvstream run camera.mp4 --out poses.jsonl
      tvstream run rtsp://cam/live --model venue.onnx --out tcp-listen://:9000
      tvstream run replay.mp4 --realtime --out ws://:9000 --wait-client
      ffmpeg -i feed.ts -f mpegts - | tvstream run - --out - | jq .pose3d

    Ctrl-C (or SIGTERM) finishes the current frame, writes the `end` line and exits (130 / 0).
    """
    from tvstream.api import open_finder, open_model, open_model_for_source
    from tvstream.camera import load_camera_file
    from tvstream.pipeline import RunOptions, RunStats, run_stream
    from tvstream.sinks import JsonlSink, is_listener
    from tvstream.sources import VideoSource

    if wait_client and not is_listener(out):
        raise click.UsageError(f"--wait-client needs a tcp-listen:// or ws:// output, not --out {out}")
    if camera is not None and fov is not None:
        raise click.UsageError("give --camera or --fov, not both")
    if second_look is not None and no_second_look:
        raise click.UsageError("give --second-look or --no-second-look, not both")
    camera_file = load_camera_file(camera) if camera is not None else None  # a bad file fails first
    engine, info = open_model(model, backend, threads)
    opts = RunOptions(batch=batch, smooth=not no_smooth, track=not no_track, render=str(render) if render else None,
                      scenario=scenario, camera=camera_file, fov=fov, keep=KeepOptions(select=select, hold_s=hold),
                      height_m=height_m, cuts=not no_cuts, track_conf=track_conf, track_shrink=track_shrink,
                      **({} if min_conf is None else {"min_conf": min_conf}),
                      **({"second_look": None, "reread": False} if no_second_look else {} if second_look is None
                         else {"second_look": second_look}))
    with VideoSource(source, engine.metadata.input_size, keep_aspect=engine.metadata.keeps_aspect,
                     display=render is not None, deinterlace=deinterlace,
                     hwaccel=hwaccel, live=live, realtime=realtime) as src, \
            JsonlSink(out) as sink, StopOnSignal() as stop:
        # an upright source, --sharp, --fast: a twin
        engine, info = open_model_for_source(model, engine, info, src, backend, threads, sharp, fast)
        # the second look's search in squares: batch 1 with tracking, where the second look runs
        searches = opts.second_look is not None and opts.batch == 1 and opts.track
        finder = open_finder(model, engine, src.fit, backend, threads) if searches else None
        waited = not wait_client or _wait_for_client(app, sink, stop.event)
        quiet = app.quiet or out == "-"
        with Progress(TextColumn("[bold]run[/]"), BarColumn(), MofNCompleteColumn(), TextColumn("frames"),
                      TimeRemainingColumn(), console=app.console, disable=quiet, transient=True) as bar:
            task = bar.add_task("run", total=src.num_frames)
            tic = time.perf_counter()
            stats = (run_stream(src, engine, sink, opts, info, lambda n: bar.update(task, completed=n), stop.event,
                                finder) if waited else RunStats(stopped=True))
        seconds = time.perf_counter() - tic
        reason = f"stopped by {stop.signal_name}" if stats.stopped else None
        sink.end(frames=stats.frames, dropped=stats.dropped + src.dropped, errors=stats.errors + src.errors,
                 reason=reason)
    engine.close()
    if finder is not None:
        finder.close()
    rate = f", {stats.frames / seconds:.0f} frames/s" if stats.frames and seconds > 0 else ""
    app.say(f"{stats.frames} frames -> {out}" + (f", overlay {render}" if render else "")
            + f" (athlete in {stats.detected}{rate}" + (f"; {reason})" if reason else ")"))
    if stats.frames >= FEW_DETECTED_FRAMES and stats.detected < FEW_DETECTED_SHARE * stats.frames:
        log.warning("the athlete was reported in only %d of %d frames (%.0f%%): is the whole body in view? The "
                    "default model's head learnt from rendered people and a few photos; on a venue's own footage, "
                    "fit it to the venue first (tvstream adapt, see the README)", stats.detected, stats.frames,
                    100 * stats.detected / stats.frames)
    if stop.signal_name == "SIGINT":
        raise SystemExit(130)  # the shell's convention for Ctrl-C; SIGTERM is a requested, clean stop (0)


def _wait_for_client(app: AppContext, sink: JsonlSink, stop: threading.Event) -> bool:
    """Hold the run until ``sink``'s first client has joined; False when a signal came first."""
    app.say(f"waiting for a client on {escape(sink.address)}")
    while not sink.wait_for_client(timeout=0.1):
        if stop.is_set():
            return False
    return True


class StopOnSignal:
    """While active, SIGINT/SIGTERM set ``event`` (the pipeline finishes its batch and writes ``end``).

    A second signal restores the default handlers' behaviour (KeyboardInterrupt), for a stuck source.
    """

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal_name: str | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: object) -> None:
        if self.event.is_set():
            raise KeyboardInterrupt
        self.signal_name = signal.Signals(signum).name
        self.event.set()

    def __enter__(self) -> StopOnSignal:
        if threading.current_thread() is threading.main_thread():  # handlers can only be set there
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
