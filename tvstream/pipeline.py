"""The per-frame pipeline: frames -> batches -> backend -> source pixels, detection, smoothing -> sink.

For models with a ``track`` input (the pose network), at batch 1, each confident frame's joints place the
next frame's crop (:class:`tvstream.tracking.JointTracker`); the detector runs again after a failed frame.
Models that also return the detector's map (``detections``) find every person in such a frame, and the
athlete is chosen and kept among them (:mod:`tvstream.athlete`); every line carries the athlete's track id.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from itertools import islice

import numpy as np

from engines.metadata import DETECTIONS, PERSON, TRACK_COLUMNS, TRACK_INPUT, ModelMetadata
from tvstream.athlete import AthleteTrack, KeepOptions
from tvstream.background import RollingBackground
from tvstream.camera_motion import CameraMotion
from tvstream.candidates import MIN_LOGIT, Candidate, find_people
from tvstream.camera import CameraFile, SceneCamera, scene_camera
from tvstream.labels import box_from_joints
from tvstream.overlay import draw_box, draw_pose3d_inset, draw_skeleton
from tvstream.root_position import KNOWN_STATURE_SCALE_SD, SKELETON_SCALE_SD, RootEstimate, RootTracker
from tvstream.scene_cut import CutDetector
from tvstream.sinks import JsonlSink, pose_line
from tvstream.smoothing import OneEuroFilter
from tvstream.sources import Frame, VideoSource
from tvstream.stature import HEIGHT_RANGE_M, StatureScale
from tvstream.tracking import CORE_INDEX, GravityBoxTracker, JointTracker, core_confidence
from tvstream.video_writer import VideoWriter

Progress = Callable[[int], None]
# the run-time settings a model may carry (engines.metadata.RUN_SETTINGS) where it carries none
MODEL_DEFAULTS = {"track_conf": 0.8, "track_shrink": 0.0}


@dataclass(frozen=True)
class RunOptions:
    """How ``tvstream run`` processes a stream (CLI flags map onto these fields)."""

    batch: int = 1  # consecutive frames per inference call (throughput vs latency)
    smooth: bool = True  # One-Euro filter on every joint coordinate
    min_score: float = 0.05  # foreground evidence in the box below which `detected` is false (fixed cameras)
    # models with per-joint confidence: `detected` also needs the mean confidence of the 12 core joints (hips,
    # knees, ankles, shoulders, elbows, wrists) >= min_conf. 0.15 since 2026-12-02 (was 0.3): on real people the
    # confidence runs low, and at 0.3 the run withheld most of their frames (real dev set through the run: 0.028 ->
    # 0.081; held-out world clips 0.563 -> 0.606; no skeleton on a hidden athlete at either value;
    # benchmarks/results/detected_threshold_notes.md). 0.05 since session 20: the default model's confidence is
    # times its presence classifier, ~0 on an empty crop (it was ~0.25 on a blank frame: "detected" at 0.15), and
    # at 0.15 it withheld seated people it had found (real dev set through the run 0.413 at 0.15, 0.436 at 0.05;
    # held-out world clips 0.618 -> 0.620, no skeleton on a hidden athlete at either)
    min_conf: float = 0.05
    track: bool = True  # models with a track input, at batch 1: the crop follows the last confident frame's joints
    # core-joint mean confidence a detected frame needs for the next crop to follow it (and for the athlete's
    # colours to learn from it). 0.8 since 2026-12-02 (was 0.5): the BlazePose-trunk model's crop, once it followed
    # joints at 0.5-0.7 on real video, stayed on the wrong thing (real dev videos through the run 0.151 at 0.5,
    # 0.523 at 0.8; the sample clip 0.841 -> 0.863; runs chosen on the dev set, not the reference clips).
    # None: the model's own (ModelMetadata.run_settings), else MODEL_DEFAULTS' (for_model)
    track_conf: float | None = None
    # ... and a crop already following keeps following while each read's core confidence stays >= track_keep
    # (capped at track_conf) and nobody else is near the athlete; below it the detector places the next crop.
    # Since session 34 (s34_rule.md, H2): the sample 70 -> 122 frames/s end to end (detector frames 108 -> 24) at
    # the same PCK, the real dev set unchanged; lowering track_conf itself to 0.6 lost the dev set's cyclist
    # (0.784 -> 0.095: the crop started following unsure reads while a van hid him).
    track_keep: float = 0.7
    # a crop placed from a frame's joints (the next frame's, a detector frame's reread) is at least track_shrink
    # times the one placed from the last frame's read, if that was sure (0: no limit): a read of the visible part
    # of a person (the legs hidden by a car) would shrink the crop onto that part (tracking.JointTracker). None: the
    # model's own, else MODEL_DEFAULTS' (benchmarks/results/s56_rule.md)
    track_shrink: float | None = None
    # models with a second person detector (output `person`: MediaPipe's, whose box the graph takes only where its
    # score is >= 0.8), at batch 1 with tracking: a detector frame whose read stays unsure (core confidence under
    # track_conf, after the athlete's re-crop) is read again cropped on that detector's best person when its score
    # is >= second_look and its box is elsewhere, and that read is kept when the head is surer there (and >=
    # SECOND_LOOK_CONF): the head arbitrates between the detectors, as MediaPipe's landmark network confirms its
    # person detector. None: never.
    second_look: float | None = 0.2
    # models with a track input, at batch 1 with tracking: a detector frame (its crop placed by a detector's box,
    # upright unless MediaPipe's detector is sure of the person) is read again on the crop the tracker would place
    # from that first read (turned by its lean for a model whose crop turns with the body), and the second read is
    # kept where the head is surer: the detectors' boxes are loose, the joints' extent is the crop the head learnt.
    # Since session 26, for the installed model through the run: rendered bench 0.730 -> 0.757, sample 0.835 -> 0.868,
    # held-out reference clips 0.520 -> 0.554, real dev set 0.532 -> 0.526; 0.83x the speed (s26_rule.md).
    reread: bool = True
    # models whose crop turns with the body: the reread also tries its crop turned by each of these angles (degrees)
    # beyond the first read's lean, and keeps the surest read. An upside-down diver read on an upright detector
    # crop comes out standing (its lean ~0): the crop turned 180 degrees more stands it up. () reads once.
    reread_turns: tuple[float, ...] = (180.0,)
    # with reread: a detector frame whose read stays unsure (core confidence under track_conf) after the second look
    # and the reread is also read on the crop the last frame's joints place (if that frame was detected, however
    # unsure), and that read is kept where the head is surer: a box detector's peak can lie on part of a person
    # the last read saw whole (benchmarks/results/s31_rule.md, C)
    hold_read: bool = True
    render: str | None = None  # overlay video path
    scenario: str = "studio"  # "dive": gravity-aware box tracking (boxes not made from joints), the floor gives
    # height only; "ski": no foreground score (moving camera)
    max_frames: int | None = None  # stop after this many frames (None: the whole source)
    camera: CameraFile | None = None  # --camera: the source's K (and floor) for the root position
    fov: float | None = None  # --fov: horizontal field of view (degrees) when there is no camera file
    keep: KeepOptions = KeepOptions()  # which person is the athlete, and how long its track survives unseen
    # --height: the athlete's height (m). The 3D is scaled to it (tvstream.stature) and the root's distance follows;
    # None: the head's own size (a crop shows proportions, not size)
    height_m: float | None = None
    # a new shot (a cut between cameras, tvstream.scene_cut) starts the run's tracking afresh: the athlete's track
    # (a new id), the crop's joints, the rolling background, the camera's motion and the filters. Without it the
    # last shot's athlete was held for keep.hold_s and nothing was reported while the athlete stood elsewhere
    cuts: bool = True

    def __post_init__(self) -> None:
        if self.batch < 1:
            raise ValueError(f"batch must be >= 1, got {self.batch}")
        if not (0 <= self.min_conf <= 1 and (self.track_conf is None or 0 <= self.track_conf <= 1)):
            raise ValueError(f"min_conf and track_conf must be in [0, 1], got {self.min_conf}, {self.track_conf}")
        if not 0 <= self.track_keep <= 1 or not (self.track_shrink is None or 0 <= self.track_shrink <= 1):
            raise ValueError(f"track_keep and track_shrink must be in [0, 1], got {self.track_keep}, "
                             f"{self.track_shrink}")
        if self.second_look is not None and not 0 <= self.second_look <= 1:
            raise ValueError(f"second_look must be in [0, 1] or None, got {self.second_look}")
        if self.height_m is not None and not HEIGHT_RANGE_M[0] <= self.height_m <= HEIGHT_RANGE_M[1]:
            raise ValueError(f"height_m must be in {HEIGHT_RANGE_M} (metres) or None, got {self.height_m}")

    def for_model(self, metadata) -> RunOptions:
        """These options with the settings left at None (``engines.metadata.RUN_SETTINGS``) taken from the model
        (``metadata.run_settings``), else from the runtime's defaults."""
        own = metadata.run_settings
        return replace(self, **{k: own.get(k, MODEL_DEFAULTS[k]) for k in MODEL_DEFAULTS if getattr(self, k) is None})


@dataclass
class RunStats:
    frames: int = 0
    dropped: int = 0
    errors: int = 0
    stopped: bool = False  # ended by a stop request (SIGINT/SIGTERM), not by the source
    detected: int = 0  # frames with the athlete reported


def _batches(frames: Iterator[Frame], size: int) -> Iterator[list[Frame]]:
    while batch := list(islice(frames, size)):
        yield batch


@dataclass(frozen=True)
class PoseRecord:
    """One frame's result: box / pose2d in source pixels, pose3d root-relative mm (raw arrays)."""

    frame: int
    t: float
    detected: bool
    score: float
    box: np.ndarray  # (4,) x0, y0, x1, y1
    pose3d: np.ndarray  # (K, 3)
    pose2d: np.ndarray  # (K, 2)
    latency_ms: float  # inference of its batch + post-processing
    tc: str | None = None
    dropped: int = 0
    conf: np.ndarray | None = None  # (K,) per-joint confidence in [0, 1]; None for models without it
    track: int | None = None  # the athlete's track id (None while no athlete is held)
    root: RootEstimate | None = None  # root position (mm), speed, height (tvstream.root_position)
    shot: int = 0  # the shot the frame is in: 0 at the start, one more at each cut the run finds (tvstream.scene_cut)
    # (4,) the box the model's crop was placed on (a detector's or the tracker's), source pixels; not written out:
    # ``box`` is the athlete's (from the joints, :func:`pose_box`) where the model localises joints
    crop: np.ndarray | None = None

    def written(self) -> dict:
        """The fields a sink writes (every one but ``crop``), as keyword arguments of ``pose_line``."""
        return {k: v for k, v in self.__dict__.items() if k != "crop"}

    def to_dict(self) -> dict:
        """The JSON line of this frame (``type: pose``; pose fields None when nothing was detected)."""
        return pose_line(**self.written())


# the core confidence a second look's read needs to replace the first: someone is clearly there (on real video
# the head's confidence runs low, and between two reads under 0.5 it chose noise: dev videos 0.277 -> 0.202)
SECOND_LOOK_CONF = 0.5
# the core confidence the last frame's read needs for a detector frame to be read again on its crop (it was on
# someone); below it the held read cost calls for nothing (s31_rule.md, C2)
HELD_READ_CONF = 0.5
# the whole frame's person score under which the second look also searches a landscape picture in squares
TILE_SEARCH_BELOW = 0.5
# ... at most once in this many frames (each search costs two passes of the person detector)
TILE_SEARCH_EVERY = 4

MOVING_CAMERA = ("ski: the camera pans and zooms, so a rolling background does not hold; every frame counts as "
                 "detected (score 1)")


def foreground_scored(options: RunOptions) -> bool:
    """Is ``detected`` decided by the rolling-background foreground score? Not for a moving camera (ski)."""
    return options.scenario != "ski"


def follows_joints(options: RunOptions, meta: ModelMetadata) -> bool:
    """Does the crop follow the last frame's joints? With a model that takes a track input, at batch 1 only
    (within a batch, frame t + 1 is inferred before frame t's joints exist)."""
    return options.track and options.batch == 1 and TRACK_INPUT in meta.inputs


def keeps_athlete(options: RunOptions, meta: ModelMetadata) -> bool:
    """Does the run choose the athlete among the detector's people? When the crop follows joints and the model
    returns the detector's map."""
    return follows_joints(options, meta) and DETECTIONS in meta.outputs


def normalised_box(box: np.ndarray, size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A model-pixel box ``[x0, y0, x1, y1]`` in a frame of ``size = (W, H)`` -> normalised ``centre (2,)``,
    ``half (2,)`` (the track row's units)."""
    lo, hi = box[:2], box[2:]
    return (lo + hi) / size - 1, (hi - lo) / size


def skeleton_box(pose2d: np.ndarray, size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The normalised ``centre``, ``half`` of the extent of a skeleton's core joints (``pose2d (K, 2)`` model
    pixels) in a frame of ``size = (W, H)``."""
    core = pose2d[CORE_INDEX]
    return normalised_box(np.concatenate([core.min(axis=0), core.max(axis=0)]), size)


def joints_centre(pose2d: np.ndarray, size: np.ndarray) -> np.ndarray:
    """The normalised centre ``(2,)`` of the extent of a skeleton's joints (``pose2d (K, 2)``, model pixels, in a
    frame of ``size = (W, H)``): where a sure read puts the athlete. A box detector's peak can span the athlete and
    something beside it (``benchmarks/results/s31_rule.md``); a sure skeleton is on the athlete alone."""
    return (pose2d.min(axis=0) + pose2d.max(axis=0)) / size - 1


def pose_box(pose2d: np.ndarray, picture: np.ndarray) -> np.ndarray:
    """The reported box ``[x0, y0, x1, y1]`` of a frame whose model localises joints: the extent of its 2D joints
    (``pose2d (K, 2)``, source pixels) grown per side as the labeled boxes reach past their joints
    (``JOINT_BOX_MARGIN``: the silhouette's feet, hands and hair), inside the picture (``picture`` =
    ``[W, H, W, H]`` of the source). It describes the athlete, where the crop's box (a detector's or the tracker's
    placement, grown for the head) described the crop: on the rendered bench its IoU with the labeled boxes was
    higher in every group (session 30)."""
    box = box_from_joints(pose2d)
    return np.clip(box, 0.0, picture, out=box)


def is_detected(score: float, conf: np.ndarray | None, options: RunOptions) -> bool:
    """Foreground ``score`` >= ``min_score`` and, for models with ``conf (K,)``, core-joint mean >= ``min_conf``."""
    return score >= options.min_score and (conf is None or core_confidence(conf) >= options.min_conf)


def estimate(source: VideoSource, backend, options: RunOptions, stop: threading.Event | None = None,
             camera: SceneCamera | None = None, finder=None) -> Iterator[PoseRecord]:
    """Poses of ``source``'s frames in order, until the source ends or ``stop`` is set (between batches).

    With ``options.render`` the overlay video is finished when the generator ends or is closed early,
    and removed if the pipeline fails.
    ``camera``: the intrinsics for the root position (default: from ``options.camera`` / ``options.fov``).
    ``finder``: the person finder of ``backend``'s model (``tvstream.detector_view.finder_for``) for a landscape
    source: where the second look's person is weak, it searches the picture in squares as tall as it
    (:func:`_find_in_tiles`, at most once in ``TILE_SEARCH_EVERY`` frames).
    """
    options = options.for_model(backend.metadata)
    model_size, fit = backend.metadata.input_size, source.fit
    background = RollingBackground() if foreground_scored(options) else None
    # pose3d (mm), pose2d (px). The 2D filter follows fast motion (a panning camera moves the athlete across the
    # frame): at 1 Hz / beta 0.05 it cost 0.044 PCK@0.2 on held-out training-world clips, at 3 Hz / 0.3 nothing
    filters = (OneEuroFilter(), OneEuroFilter(min_cutoff=3.0, beta=0.3))
    # a diver is in the air: the floor's scale (the lower ankle on it) would push the root too far away
    statures = None if options.height_m is None else StatureScale(1000 * options.height_m)
    roots = RootTracker(camera or scene_camera(source.width, source.height, options.camera, options.fov),
                        options.smooth, use_floor=options.scenario != "dive",
                        skeleton_sd=SKELETON_SCALE_SD if statures is None else KNOWN_STATURE_SCALE_SD)
    # a localising model's written box is the athlete's, made from its joints (pose_box), not the crop's
    boxes_from_joints = "conf" in backend.metadata.outputs
    picture = np.array([source.width, source.height] * 2, np.float32)  # pose_box's bounds
    # the diver's box through the flight, for the other models: fitting the joints' box to a parabola with a
    # 15-frame median size lagged the diver's changing shape (rendered dive bench box IoU 0.455 without, 0.383 with)
    tracker = GravityBoxTracker() if options.scenario == "dive" and not boxes_from_joints else None
    joints = JointTracker(model_size, options.track_conf, keep_conf=min(options.track_keep, options.track_conf),
                          turn=backend.metadata.track_columns > TRACK_COLUMNS, shrink=options.track_shrink) \
        if follows_joints(options, backend.metadata) else None
    # a detector frame may be read again on the crop its own joints place
    rereads = joints is not None and options.reread and "conf" in backend.metadata.outputs
    # ... and an unsure detector frame also on the crop the last frame's joints place, sure or not
    holds = rereads and options.hold_read
    athlete = AthleteTrack(model_size, options.keep, fixed_camera=foreground_scored(options))
    keeps = keeps_athlete(options, backend.metadata)
    # an unsure detector frame may be read again on a second detector's person (batch 1, tracking)
    looks_twice = (joints is not None and options.second_look is not None and PERSON in backend.metadata.outputs
                   and "conf" in backend.metadata.outputs)
    # ... and on a landscape picture the finder's person detector searches it in squares where that person is weak
    tiles = fit.tile_rows() if looks_twice and finder is not None else None
    tiles = tiles if tiles is not None and len(tiles) > 1 else None
    searched = -TILE_SEARCH_EVERY  # the frame index of the last search
    # crossings are judged while the camera holds still (a panning camera sweeps still things across the image)
    motion = CameraMotion(picture=fit.picture) if keeps and foreground_scored(options) else None
    shots = CutDetector(picture=fit.picture) if options.cuts else None

    def new_shot() -> None:  # nothing the run learnt of the last shot holds in this one
        athlete.forget()
        if joints is not None:
            joints.forget()
        for state in (background, motion, *filters, roots, tracker):
            if state is not None:
                state.reset()

    frame_wh = np.array(model_size[::-1], np.float64)  # (W, H) of the model's frame, for normalised boxes
    # detector frames' track rows: where a person detector looks (made once; a batch takes a slice)
    views = fit.view_rows(options.batch) if TRACK_INPUT in backend.metadata.inputs else None
    even_w, even_h = source.width // 2 * 2, source.height // 2 * 2  # H.264 needs even sizes
    writer = VideoWriter(options.render, even_w, even_h, source.fps or 25.0) if options.render else None
    failed = False
    try:
        for batch in _batches(islice(source.frames(stop), options.max_frames), options.batch):
            tic = time.perf_counter()
            images = batch[0].image[None] if len(batch) == 1 else np.stack([f.image for f in batch])  # (N, H, W, 3)
            if shots is not None and shots.observe(batch[0].image):
                new_shot()  # before the crop is placed: the detector finds the athlete in the new shot
            # -> dict of (N, ...); only a tracking run passes track, so frames-only backends keep infer(frames)
            row = None if joints is None else joints.track()
            if keeps:
                row = athlete.limit(row, batch[0].t)
            track = None if row is None else row[None]
            if views is not None and (row is None or row[0] < 0.5):  # the detector places the crop
                track = views[:len(batch)]
            out = backend.infer(images) if track is None else backend.infer(images, track=track)
            person = out[PERSON][0] if looks_twice and row[0] < 0.5 else None  # the graph ran its person detector
            for i, frame in enumerate(batch):
                vetoed, seen, clear = False, None, False
                if i and shots is not None and shots.observe(frame.image):
                    new_shot()
                if motion is not None:
                    athlete.fixed_camera = not motion.observe(frame.image)
                if keeps:  # batch 1: is the crop on the athlete, among the people the detector sees?
                    out, vetoed, seen, clear = _crop_on_athlete(backend, out, row, athlete, frame, frame_wh, joints)
                box_model = out["box"][i]
                conf = out["conf"][i] if "conf" in out else None
                core = None if conf is None else core_confidence(conf)
                if (person is not None and core < options.track_conf and not vetoed
                        and not (keeps and athlete.ambiguous)):
                    if (tiles is not None and person[0] < TILE_SEARCH_BELOW
                            and frame.index - searched >= TILE_SEARCH_EVERY):
                        person, searched = _find_in_tiles(finder, frame, tiles, person), frame.index
                    again = _second_look(backend, person, frame, options, core, normalised_box(box_model, frame_wh),
                                         athlete if keeps else None)
                    if again is not None:
                        out, seen = again, None
                        box_model, conf = out["box"][i], out["conf"][i]
                        core = core_confidence(conf)
                if rereads and row[0] < 0.5 and not vetoed and not (keeps and athlete.ambiguous):
                    again, sure = _reread(backend, joints, frame, out["pose2d"][i], conf, core,
                                          options.reread_turns, options.track_conf)
                    if again is not None:
                        out, core = again, sure
                        box_model, conf = out["box"][i], out["conf"][i]
                if (holds and row[0] < 0.5 and joints.last_core >= HELD_READ_CONF and core < options.track_conf
                        and not vetoed and not (keeps and athlete.ambiguous)
                        and (held := joints.last_row()) is not None):
                    again = _held_read(backend, frame, athlete.limit(held, frame.t) if keeps else held, core,
                                       normalised_box(box_model, frame_wh))
                    if again is not None:
                        out, seen = again, None
                        box_model, conf = out["box"][i], out["conf"][i]
                        core = core_confidence(conf)
                score = 1.0 if background is None else background.observe(frame.image, box_model)
                detected = is_detected(score, conf, options) and not vetoed
                # colours only serve choosing among people, and only from the athlete alone
                learn = keeps and seen is not None and clear
                sure = core is None or core >= options.track_conf  # sure enough to follow
                confident = learn and sure
                # the athlete's place: the detector's person when it saw one (centred on a sure skeleton: the peak may
                # span the athlete and something beside it; one place for every sure read, or the velocity learns the
                # gap between a peak's centre and a skeleton's), else the crop's box, centred on the skeleton where
                # someone is clearly there (the crop's own centre kept the next read where predicted on the same
                # crop while the athlete walked out of it, s59_rule24.md)
                if seen is not None:
                    where = joints_centre(out["pose2d"][i], frame_wh) if sure else seen.centre, seen.half
                else:
                    where = normalised_box(box_model, frame_wh)
                    if core is not None and core >= SECOND_LOOK_CONF:
                        where = joints_centre(out["pose2d"][i], frame_wh), where[1]
                skeleton = skeleton_box(out["pose2d"][i], frame_wh)[1] if confident else None
                alone = not keeps or clear  # nobody near the athlete (a run that keeps none: always)
                # a fairly sure read on the athlete's own peak, nobody near it, moves its place however far
                own = seen is not None and clear and core is not None and core >= SECOND_LOOK_CONF
                # ... and so does a fairly sure skeleton the athlete owns in front of someone (s60_rule30.md)
                owned = keeps and athlete.ambiguous and core is not None and core >= SECOND_LOOK_CONF
                # ... and an own read's skeleton, the crop it places, lets the athlete's crops grow (s60_rule34.md)
                placed = joints.place(out["pose2d"][i], conf) if own and detected and joints is not None else None
                # ... and its size, when larger (s61_rule37.md)
                body = normalised_box(box_from_joints(out["pose2d"][i]), frame_wh) if own and detected and not sure \
                    else None
                track_id = athlete.update(*where, frame.t, detected, confident, frame.image if learn else None,
                                          skeleton, alone=alone, steady=sure, own=own, owned=owned,
                                          reach=None if placed is None else placed[3:5], body=body)
                if joints is not None:
                    joints.update(out["pose2d"][i], conf, detected, alone=alone)
                box = crop = fit.to_source(box_model.reshape(2, 2), edges=True).reshape(4)  # edges at integers
                pose3d, pose2d = out["pose3d"][i], fit.to_source(out["pose2d"][i])
                if options.smooth and detected:
                    pose3d, pose2d = filters[0](pose3d, frame.t), filters[1](pose2d, frame.t)
                elif not detected:
                    for f in filters:
                        f.reset()
                if statures is not None and detected:
                    pose3d = statures(pose3d, track_id, core)
                if detected and boxes_from_joints:
                    box = pose_box(pose2d, picture)
                if tracker is not None and detected:
                    box = tracker(box, frame.t)
                if writer is not None and frame.display is not None:
                    img = np.ascontiguousarray(frame.display[:even_h, :even_w])
                    if detected:
                        draw_box(img, box)
                        draw_skeleton(img, pose2d, conf=conf)
                        draw_pose3d_inset(img, pose3d)
                    writer.write(img)
                root = roots(pose3d, pose2d, conf, frame.t, detected)
                yield PoseRecord(frame.index, frame.t, bool(detected), float(score), box, pose3d, pose2d,
                                 1000 * (time.perf_counter() - tic), frame.tc, frame.dropped, conf, track_id, root=root,
                                 shot=0 if shots is None else shots.cuts, crop=crop)
            if stop is not None and stop.is_set():
                break
    except Exception:
        failed = True
        raise
    finally:  # also when the consumer stops early (GeneratorExit) or on Ctrl-C: the video so far is kept
        if writer is not None:
            writer.abort() if failed else writer.close()


def _find_in_tiles(finder, frame: Frame, tiles: np.ndarray, person: np.ndarray) -> np.ndarray:
    """The surest of ``person`` (the whole frame's best, ``[score, cx, cy, hx, hy]``) and the people ``finder``'s
    person detector sees in each square of ``tiles`` (``FrameFit.tile_rows``; one batch, the box in the frame's
    normalised units): a person small in a wide picture reaches the detector larger in a square as tall as it."""
    found = finder.infer(np.repeat(frame.image[None], len(tiles), 0), track=tiles)[PERSON]  # (n, 5)
    best = found[int(np.argmax(found[:, 0]))]
    return best if best[0] > person[0] else person


def _second_look(backend, person: np.ndarray, frame: Frame, options: RunOptions, core: float,
                 place: tuple[np.ndarray, np.ndarray], athlete: AthleteTrack | None) -> dict[str, np.ndarray] | None:
    """A batch-1 frame whose detector-placed crop (at ``place``, its core joints' mean confidence ``core``) is
    unsure: the outputs of a second read cropped on the second detector's best ``person`` (the graph's ``person``
    row ``[score, cx, cy, hx, hy]``) when it scores >= ``options.second_look``, lies elsewhere (box IoU < 0.5),
    may be the ``athlete`` (someone crossing is not read instead of it) and the head is surer there; else None.
    The head arbitrates between the detectors, as MediaPipe's landmark network confirms its person detector."""
    if person[0] < options.second_look:
        return None
    box = Candidate(person[1:3], person[3:5], float(person[0]))
    if box.iou(*place) >= 0.5 or (athlete is not None and not athlete.may_be(box.centre, frame.t)):
        return None
    again = backend.infer(frame.image[None], track=box.track_row()[None])
    sure = core_confidence(again["conf"][0])
    return again if sure >= SECOND_LOOK_CONF and sure > core else None


def _reread(backend, joints: JointTracker, frame: Frame, pose2d: np.ndarray, conf: np.ndarray,
            core: float, turns: tuple[float, ...] = (), enough: float = 1.0
            ) -> tuple[dict[str, np.ndarray] | None, float]:
    """A batch-1 detector frame, its first read ``pose2d`` (model pixels), ``conf``, core confidence ``core``:
    ``(outputs, their core confidence)`` of the surest second read on the crop ``joints`` would place from it (the
    next frame's crop, were the read sure; turned by its lean for a turned model, and for such a model also by each
    of ``turns`` degrees more, until a read's core confidence reaches ``enough``) if the head is surer there than
    on the first; else ``(None, core)``. A detector's box is looser than the joints' extent the head learnt to read
    (``benchmarks/results/s26_rule.md``)."""
    row = joints.place(pose2d, conf)
    if row is None:
        return None, core
    best = None
    for turn in (0.0, *turns) if joints.turn else (0.0,):
        turned = row.copy()
        if turn:  # the angle, last in a turned row, kept in (-pi, pi]
            turned[-1] = math.remainder(row[-1] + math.radians(turn), 2 * math.pi)
        again = backend.infer(frame.image[None], track=turned[None])
        sure = core_confidence(again["conf"][0])
        if sure > core:
            best, core = again, sure
        if core >= enough:
            break
    return best, core


def _held_read(backend, frame: Frame, row: np.ndarray, core: float,
               place: tuple[np.ndarray, np.ndarray]) -> dict[str, np.ndarray] | None:
    """A batch-1 detector frame whose kept read (cropped at ``place``) is unsure (core confidence ``core``): the
    outputs of a read on ``row``, the crop the last frame's joints place (the tracker's, sure or not), where that
    crop lies elsewhere (box IoU < 0.5) and the head is surer there; else None. A box detector's peak can lie on
    part of the person (a walker coming towards the camera: its legs) where the last read saw all of it
    (``benchmarks/results/s31_rule.md``, C2)."""
    if Candidate(row[1:3], row[3:5], 0.0).iou(*place) >= 0.5:
        return None
    again = backend.infer(frame.image[None], track=row[None])
    return again if core_confidence(again["conf"][0]) > core else None


def _start_on_someone_seen(backend, out: dict[str, np.ndarray], pick: Candidate, people: list[Candidate],
                           athlete: AthleteTrack, frame: Frame, frame_wh: np.ndarray, others: int = 2
                           ) -> tuple[dict[str, np.ndarray], Candidate] | None:
    """A batch-1 detector frame that starts the athlete's track on ``pick`` (read as ``out``): up to ``others`` more
    of the detector's ``people`` (strongest first, logit >= ``MIN_LOGIT``) are read. Where the head is unsure on
    ``pick`` (core confidence under ``SECOND_LOOK_CONF``) the track starts on the first the head sees surely (a false
    peak bigger than the athlete took the track under ``--select largest`` and vetoed the athlete's reads for a whole
    clip, s31_rule.md, E); where it is sure, on the one the ``select`` policy takes among the sure reads' skeletons (a
    person's whole box beat another's half-body peaks, s59_rule27.md). Returns ``(its outputs, it)`` (``pick``
    becomes someone else's track), or None where the track stays on ``pick``."""
    sure = core_confidence(out["conf"][0])
    reads = [(out, pick)]
    for person in [p for p in people if p is not pick and p.score >= MIN_LOGIT][:others]:
        again = backend.infer(frame.image[None], track=person.track_row()[None])
        if core_confidence(again["conf"][0]) < SECOND_LOOK_CONF:
            continue
        if sure < SECOND_LOOK_CONF:  # the first the head sees surely
            athlete.start_on(person, pick, frame.t)
            return again, person
        reads.append((again, person))
    if sure < SECOND_LOOK_CONF or len(reads) == 1:
        return None
    skeletons = [Candidate(*skeleton_box(read["pose2d"][0], frame_wh), 0.0) for read, _ in reads]
    chosen = athlete.select(skeletons)
    again, person = next(r for r, s in zip(reads, skeletons) if s is chosen)
    if person is pick:
        return None
    athlete.start_on(person, pick, frame.t)
    return again, person


def _last_joints_read(backend, frame: Frame, athlete: AthleteTrack, joints: JointTracker
                      ) -> dict[str, np.ndarray] | None:
    """Batch-1 outputs of ``frame`` read on the crop the last frame's joints place (capped at the athlete's size, as
    every athlete crop is), where that read was at least ``HELD_READ_CONF`` sure; else None."""
    if joints.last_core < HELD_READ_CONF or (row := joints.last_row()) is None:
        return None
    return backend.infer(frame.image[None], track=athlete.limit(row, frame.t)[None])


def _read_on(backend, frame: Frame, athlete: AthleteTrack, person: Candidate) -> dict[str, np.ndarray]:
    """Batch-1 outputs of ``frame`` read again, cropped on ``person`` as every athlete crop is (``athlete.limit``)."""
    return backend.infer(frame.image[None], track=athlete.limit(person.track_row(), frame.t)[None])


def _crop_on_athlete(backend, out: dict[str, np.ndarray], row: np.ndarray, athlete: AthleteTrack, frame: Frame,
                     frame_wh: np.ndarray, joints: JointTracker | None = None
                     ) -> tuple[dict[str, np.ndarray], bool, Candidate | None, bool]:
    """One batch-1 frame: ``(outputs, vetoed, the athlete among the detector's people or None, clear)``.

    When the athlete is somewhere else than the crop (the detector's soft-argmax landed between two people, or
    the joints the crop followed moved onto someone crossing), the frame is inferred again around the athlete; where
    the followed crop is on nobody the detector sees and the athlete's own peak is elsewhere, the read there is kept
    if the head is surer of it. Where nobody the detector sees may be the held athlete, the frame is read where the
    athlete is predicted, and if unsure there, also on the crop ``joints`` (the run's tracker) place from the last
    frame's read.
    ``vetoed``: the crop is on someone who is not the athlete (or, for a detector-placed crop, nobody is and the
    read where the held athlete is predicted is unsure or not its either).
    ``clear``: nobody else is near the athlete (its colours may be learnt)."""
    people = find_people(out[DETECTIONS][0])
    starts = not athlete.held(frame.t)  # this frame may start the athlete's track
    pick = athlete.choose(people, frame.t, frame.image)
    clear = pick is not None and athlete.clear(pick, people)
    px = frame_wh / 2
    centre, _ = normalised_box(out["box"][0], frame_wh)

    def off(p: Candidate) -> float:  # the crop's centre from a person's, in that person's half-sizes
        return float(np.linalg.norm((p.centre - centre) * px)) / float(np.max(p.half * px))

    if athlete.ambiguous:  # someone overlaps the athlete: crop where it is predicted, keep only its own skeleton
        predicted = athlete.predicted(frame.t)
        if off(predicted) > 0.25:
            out = _read_on(backend, frame, athlete, predicted)
        return out, not athlete.owns(*skeleton_box(out["pose2d"][0], frame_wh), frame.t, frame.image), None, False

    if row[0] == 0:  # the detector placed the crop
        if pick is None:  # nobody it sees may be the athlete: read where the athlete is predicted, if one is held
            # (and the model says how sure its read is)
            if not (athlete.options.read_predicted and athlete.held(frame.t) and "conf" in out):
                return out, True, None, False
            out = _read_on(backend, frame, athlete, athlete.predicted(frame.t))
            if core_confidence(out["conf"][0]) < SECOND_LOOK_CONF and joints is not None:
                # unsure there: the last frame's sure skeleton is a nearer guess than the track's prediction, whose
                # velocity only the surest reads teach (s59_rule23.md)
                again = _last_joints_read(backend, frame, athlete, joints)
                if again is not None and core_confidence(again["conf"][0]) > core_confidence(out["conf"][0]):
                    out = again
            # someone clearly there (an unsure read of the place an athlete left would hold its track for ever)
            if (core_confidence(out["conf"][0]) < SECOND_LOOK_CONF
                    or not athlete.may_be(joints_centre(out["pose2d"][0], frame_wh), frame.t)):
                return out, True, None, False
            athlete.read_where_predicted()  # a false peak appearing as its own vanished is not a jump cut
            return out, False, None, False
        if off(pick) > (0.5 if clear else 0.1):  # with someone near, a crop between the two reads either
            out = _read_on(backend, frame, athlete, pick)
        if starts and len(people) > 1 and "conf" in out:  # (the head says whom it sees surely)
            seen = _start_on_someone_seen(backend, out, pick, people, athlete, frame, frame_wh)
            if seen is not None:
                out, pick = seen
                clear = athlete.clear(pick, people)
        return out, False, pick, clear
    # the crop followed the joints: is it on someone who is not the athlete, or pulled towards someone near it?
    owner = min(people, key=off, default=None)
    on_nobody = owner is None or off(owner) > 1.0  # (the athlete's pick, if any, is at least as far)
    if on_nobody and pick is not None and clear and pick.score >= MIN_LOGIT and "conf" in out:
        # on nobody the detector sees, the athlete's own peak elsewhere: the read the head is surer of (the crop may
        # have followed someone the detector misses from a start on them, s58_rule20.md)
        again = _read_on(backend, frame, athlete, pick)
        surer = core_confidence(again["conf"][0]) > core_confidence(out["conf"][0])
        return again if surer else out, False, pick, clear
    if on_nobody or (owner is pick and (clear or off(pick) <= 0.5)):
        return out, False, pick, clear
    if pick is None:  # the athlete has no peak: the read is its own where its joints lie nearer its prediction
        return out, not athlete.may_be(joints_centre(out["pose2d"][0], frame_wh), frame.t), None, False
    return _read_on(backend, frame, athlete, pick), False, pick, clear


def run_stream(source: VideoSource, backend, sink: JsonlSink, options: RunOptions, model_info: dict,
               progress: Progress | None = None, stop: threading.Event | None = None, finder=None) -> RunStats:
    """Process ``source`` to the end (or until it fails or ``stop`` is set), one line per frame to ``sink``
    (``finder``: :func:`estimate`'s)."""
    foreground = None if foreground_scored(options) else {"scored": False, "reason": MOVING_CAMERA}
    camera = scene_camera(source.width, source.height, options.camera, options.fov)
    athlete = None if options.height_m is None else {"height_m": options.height_m}
    sink.header(model_info, source.uri, source.width, source.height, source.fps, foreground, camera.to_dict(),
                athlete)
    stats = RunStats()
    for record in estimate(source, backend, options, stop, camera, finder):
        sink.pose(**record.written())
        stats.frames += 1
        stats.detected += record.detected
        stats.dropped += record.dropped
        if progress is not None:
            progress(stats.frames)
    stats.stopped = stop is not None and stop.is_set()
    return stats
