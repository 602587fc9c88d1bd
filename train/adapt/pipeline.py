"""``tvstream adapt``: a venue's unlabeled footage in, a pose model fitted to that venue out.

The stages, each kept in the work folder and skipped when already done (a stop loses at most the stage it
was in; the fine-tuning resumes from its last checkpoint):

1. ``clips``: the readable clips (the others are named in the report);
2. ``teacher``: a pre-trained 2D model's pseudo-labels on every ``every``-th frame (``tvstream.teacher``:
   MediaPipe Pose in its own venv; cached per clip hash and teacher version, resumable inside a clip);
3. ``plates``: background plates of the venue from its own footage, the people the teacher found left out
   (``venue.py``);
4. ``real``: the labeled frames before each clip's held-out tail, as a dataset folder (links to the clips and
   their 2D-only labels); the tail's labels score the agreement;
5. ``synth``: synthetic athletes rendered over the venue's plates (3D labels for this venue); ``replay``: a
   world of other athletes rendered in the procedural venues (``config.REPLAY_WORLD``);
6. ``cache`` and ``fit``: the pose network fine-tuned from the default model on the teacher's 2D, weighted by
   its confidence (the paper's weak-2D term), the rendered 2D and 3D, and 2000 rows of the replay world (or of
   the pose cache the model was trained on), so that the head learns the venue's people without losing the 3D of
   people the venue did not show. The venue's teacher rows are kept to a quarter of the training rows (the
   rendered rows drawn more often, ``rendered_draws``): on 10 minutes of long takes, where they were three
   quarters, the head drifted from the teacher on held-out footage (``benchmarks/results/s35_rule.md``).
   The venue's rows also keep the start model's 3D of them with weight ``hold3d`` (0.5 for the whole network
   from a start model; ``--hold-3d``): the teacher gives 2D alone, and following it drifted the 3D
   (``benchmarks/results/s44_rule.md``). ``part="detector"`` trains the box detector alone (the default
   until session 35). A start whose head reads MediaPipe's landmarks (``real-full-landmarks-joints``) has no
   heatmaps for that fit: ``train.landmark_tune``'s recipe fine-tunes it on the same folders instead, in
   ``work/landmark_tune`` (the venue's renders, replay world and teacher-labeled frames cropped, the real ones
   distilled to the start's head; the plates the pose flag's person-free squares; the start's detectors and
   ``track_conf`` kept), and the options that make no sense for it are refused before any stage runs;
7. ``export`` to ONNX, and the report: agreement with the teacher on every clip's held-out tail before and
   after adaptation (PCK@0.2 of the core joints, 0.2 x the teacher's torso diagonal), the speed of both, and where
   the clips have their own labels (a rendered venue), PCK@0.2 and MPJPE against those on the same tails. The
   scores are kept (``work/scores``) while the model, the clips and the tails' labels stay the same.

The paper's self-supervised terms (reconstruction, DSL) train the SSL model of ``tvstream train ssl``, not
this pose network; ``adapt`` does not use them (see the closing notes of issue 21).
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from train.adapt.config import AdaptConfig
from train.adapt.venue import Clip, find_clips, synth_size, venue_plates
from tvstream.errors import CheckpointError, TvstreamError
from tvstream.json_documents import write_text_atomic

if TYPE_CHECKING:
    from train.landmark_tune.config import LandmarkTuneConfig

log = logging.getLogger(__name__)

Say = Callable[[str], None]
Progress = Callable[[str, int, "int | None"], None]  # (stage, done, total)


GAP_SECONDS = 1.0  # labeled frames this close before a clip's held-out tail are not trained on (near copies)
WARM_SECONDS = 2.0  # the scoring run starts this long before a held-out tail (whole clips: three scorings of 10
# minutes of 720p through the Full default took 21 of adapt's 57 minutes; session 49: the same scores, a third the time)
PARTS = {"all": "the whole network", "detector": "the box detector"}  # AdaptConfig.part, as the report says it
RUN_ONLY = ("device", "threads")  # settings that change how a run goes, not what it makes: free on a rerun
# what a folder made before a setting existed ran with, where that is not the setting's default now (hold3d:
# session 44's folders ran without holding the 3D; the recipe holds it since session 45)
FOLDER_DEFAULTS = {"hold3d": 0.0}


def _write_json(path: Path, doc: dict) -> None:
    """Write ``doc`` atomically; a file that already holds it is left alone (its time stamp feeds caches)."""
    text = json.dumps(doc, indent=1) + "\n"
    if not (path.is_file() and path.read_text() == text):
        write_text_atomic(path, text)


def check_work(work: Path, cfg: AdaptConfig, venue: Path) -> None:
    """Create ``work`` for ``cfg`` on ``venue``, or refuse one holding another venue's or recipe's stages."""
    work.mkdir(parents=True, exist_ok=True)
    stored = work / "adapt_config.json"
    wanted = {"venue": str(venue.resolve()), **cfg.to_dict()}
    if stored.is_file():
        try:
            before = json.loads(stored.read_text())
        except json.JSONDecodeError as exc:
            raise CheckpointError(f"{stored} is damaged ({exc}); delete {work} to start again") from None
        # a setting newer than the folder ran as FOLDER_DEFAULTS says, or as its default; both sides compared with
        # the part's recipe filled in (a setting given as its recipe's value makes the same stages)
        fields = AdaptConfig().to_dict()
        try:
            made = AdaptConfig.from_dict({k: before.get(k, FOLDER_DEFAULTS.get(k, v)) for k, v in fields.items()})
        except (TypeError, ValueError) as exc:
            raise CheckpointError(f"{stored} is damaged ({exc}); delete {work} to start again") from None
        there = {"venue": before.get("venue"), **made.resolved()}
        here = {"venue": wanted["venue"], **cfg.resolved()}
        changed = [f"{k}: {there[k]} there, {here[k]} here" for k in here
                   if k not in RUN_ONLY and there[k] != here[k]]
        if changed:
            raise CheckpointError(f"{work} holds an adaptation with other settings ({'; '.join(changed)}); "
                                  "use another --work folder or delete it")
    _write_json(stored, wanted)


def labels_changed(work: Path) -> bool:
    """Whether the training labels (``work/real``) differ from those the stored fine-tuning was made from; a
    change clears the real frames' cache, the run and the model."""
    record = work / "trained_labels.json"
    now = label_hashes(work / "real" / "clips")
    before = json.loads(record.read_text()) if record.is_file() else None
    if before == now:
        return False
    for stale in ("cache", "run", LANDMARK_WORK):
        shutil.rmtree(work / stale, ignore_errors=True)
    for stale in ("model.onnx", "model.pt"):
        (work / stale).unlink(missing_ok=True)
    _write_json(record, now)
    return before is not None


def file_digest(path: Path) -> str:
    """The sha256 of a file's bytes."""
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def label_hashes(folder: Path) -> dict[str, str]:
    """``{name: sha256}`` of the label files (``*.json``) in ``folder``."""
    return {p.name: file_digest(p) for p in sorted(folder.glob("*.json"))}


def clips_changed(work: Path, clips: list[Clip]) -> bool:
    """Whether the labeled clips differ (names or contents) from those the stored synth/fit/model were made
    from; a change clears those stages, which are then made again."""
    from tvstream.teacher.labeling import video_hash

    record = work / "trained_clips.json"
    now = {c.name: video_hash(c.path) for c in clips}
    before = json.loads(record.read_text()) if record.is_file() else None
    if before == now:
        return False
    for stale in ("synth", "synth.partial", "replay", "replay_cache", "cache", "run", LANDMARK_WORK):
        shutil.rmtree(work / stale, ignore_errors=True)
    for stale in ("model.onnx", "model.pt"):
        (work / stale).unlink(missing_ok=True)
    _write_json(record, now)
    return before is not None


# ---- 2. plates ---------------------------------------------------------------------------------------------


def people_boxes(work: Path, clip: Clip) -> dict[int, list[float] | None]:
    """Frame -> the teacher's box of the person there (None: it found nobody)."""
    doc = json.loads((work / "teacher" / f"{clip.name}.json").read_text())
    return {int(f["frame"]): (f.get("box") if f.get("found") else None) for f in doc["frames"]}


def make_plates(clips: list[Clip], work: Path, cfg: AdaptConfig, progress: Progress) -> dict[str, bool]:
    """Plates of every clip into ``work/plates``, the teacher's people left out; returns ``{clip: camera
    moves}`` (cached in plates.json)."""
    import cv2

    from tvstream.teacher.labeling import video_hash

    folder = work / "plates"
    index = work / "plates.json"
    done = json.loads(index.read_text()) if index.is_file() else {}
    folder.mkdir(parents=True, exist_ok=True)
    for n, clip in enumerate(clips):
        digest = video_hash(clip.path)
        if done.get(clip.name, {}).get("hash") != digest:
            for old in folder.glob(f"{clip.name}_*.png"):
                old.unlink()
            try:
                plates, moving = venue_plates(clip, cfg.plates_per_clip, cfg.camera, people_boxes(work, clip))
            except TvstreamError as exc:
                log.warning("%s: no plate (%s)", clip.path, exc)
                continue
            for k, plate in enumerate(plates):
                cv2.imwrite(str(folder / f"{clip.name}_{k}.png"), cv2.cvtColor(plate, cv2.COLOR_RGB2BGR))
            done[clip.name] = {"moving": moving, "hash": digest}
            _write_json(index, done)
        progress("plates", n + 1, len(clips))
    return {c.name: done[c.name]["moving"] for c in clips if c.name in done}


# ---- 3. teacher --------------------------------------------------------------------------------------------


def labels_as_teacher(clip: Clip, out: Path, every: int) -> None:
    """The clip's own label file (beside it, or named by the venue's manifest) in the teacher's format, 2D
    only and fully trusted: the oracle teacher of the synthetic-venue benchmark (``--teacher labels``)."""
    from tvstream.labels import load_any_labels

    if clip.labels is None:
        raise TvstreamError(f"{clip.path}: --teacher labels needs a label file for the clip")
    labels = load_any_labels(clip.labels)
    by_frame = {int(f): i for i, f in enumerate(labels.frames)}
    frames = []
    for f in range(0, clip.frames, every):
        i = by_frame.get(f)
        if i is None or not np.isfinite(labels.joints2d[i]).all():
            frames.append({"frame": f, "found": False})
            continue
        frames.append({"frame": f, "found": True, "joints2d": labels.joints2d[i].round(2).tolist(),
                       "confidence": [1.0] * labels.joints2d.shape[1], "visible": labels.visible[i].tolist(),
                       "box": labels.box[i].round(2).tolist()})
    from tvstream.labels import HANDLABELS_SCHEMA
    from tvstream.skeleton import H36M_17

    _write_json(out, {"schema": HANDLABELS_SCHEMA, "video": clip.path.name, "sequence": clip.name,
                      "joints": list(H36M_17.names), "teacher": {"name": "labels", "version": "labels/1"},
                      "every": every, "frames": frames})


def teach(clips: list[Clip], work: Path, cfg: AdaptConfig, teacher, progress: Progress
          ) -> tuple[list[Clip], dict[str, str], dict[str, dict]]:
    """Teacher labels for every clip in ``work/teacher``; returns (clips labeled, {clip: why not}, timing)."""
    from tvstream.teacher.labeling import LabelConfig, label_clip

    folder = work / "teacher"
    folder.mkdir(parents=True, exist_ok=True)
    timing_path = work / "teacher_timing.json"
    timing = json.loads(timing_path.read_text()) if timing_path.is_file() else {}
    kept, skipped = [], {}
    for n, clip in enumerate(clips):
        out = folder / f"{clip.name}.json"
        tic = time.perf_counter()
        try:
            if teacher is None:
                if not out.is_file():
                    labels_as_teacher(clip, out, cfg.label_every)
            else:
                result = label_clip(clip.path, teacher, out, LabelConfig(every=cfg.label_every),
                                    progress=lambda _c, done, total: progress(f"teacher {clip.name}", done, total))
                if not result.cached:
                    timing[clip.name] = {"frames": result.frames - (result.resumed_from or 0), "seconds": round(time.perf_counter() - tic, 2),
                                         "source_frames": clip.frames}
                    _write_json(timing_path, timing)
        except TvstreamError as exc:
            skipped[str(clip.path)] = f"teacher failed: {exc}"
            continue
        doc = json.loads(out.read_text())
        if not any(plausible(f, clip.width, clip.height) for f in doc["frames"]):
            skipped[str(clip.path)] = "the teacher found nobody in it (no frame with 6 core joints seen in the image)"
            continue
        kept.append(clip)
        progress("teacher", n + 1, len(clips))
    return kept, skipped, timing


# ---- 4. the real frames, split into training head and held-out tail ---------------------------------------


MIN_SEEN_JOINTS = 6  # a teacher's frame is used when this many core joints are in the image and visible


def plausible(frame: dict, width: int, height: int) -> bool:
    """Whether a teacher's ``found`` frame shows someone: at least ``MIN_SEEN_JOINTS`` of the 12 core joints
    visible and inside the image. (MediaPipe's tracker can hold on to a pose it has lost, placed hundreds of
    pixels outside the frame with a low visibility: such frames taught and scored nonsense.)"""
    from tvstream.skeleton import CORE_JOINTS

    if not frame.get("found"):
        return False
    uv = np.asarray(frame["joints2d"], float)[list(CORE_JOINTS)]
    seen = np.asarray(frame.get("visible", [True] * 17), bool)[list(CORE_JOINTS)]
    inside = (uv[:, 0] >= 0) & (uv[:, 0] < width) & (uv[:, 1] >= 0) & (uv[:, 1] < height)
    return int((seen & inside).sum()) >= MIN_SEEN_JOINTS


def trust_core_only(frame: dict) -> dict:
    """A teacher's frame with no trust in the joints it does not have as such (pelvis, spine, thorax, neck,
    head: MediaPipe's are made from other landmarks, ``tvstream/teacher/mapping.py``, and follow another
    convention than the rendered skeleton's; they train from the rendered athletes only), and its box made
    from the joints it sees (``box_from_joints``, as hand labels without a box) rather than from all 33
    landmarks, guessed ones included."""
    from tvstream.skeleton import CORE_JOINTS

    conf = [c if j in CORE_JOINTS else 0.0 for j, c in enumerate(frame.get("confidence") or [1.0] * 17)]
    return {k: v for k, v in frame.items() if k != "box"} | {"confidence": conf}


def split_labels(clips: list[Clip], work: Path, cfg: AdaptConfig) -> dict[str, dict[str, int]]:
    """``work/real``: a link to each clip and its labeled frames before the tail (less ``GAP_SECONDS``);
    ``work/holdout``: the tail's labels (found frames only); each a dataset with a manifest (clips and labels
    in its ``clips/``). Returns per clip the frames in each."""
    from tvstream.manifest import VideoEntry, write_manifest

    counts, entries = {}, {"real": [], "holdout": []}
    for part in ("real", "holdout"):
        (work / part / "clips").mkdir(parents=True, exist_ok=True)
    for clip in clips:
        doc = json.loads((work / "teacher" / f"{clip.name}.json").read_text())
        split = clip.split(cfg.holdout)
        last = split - int(round(GAP_SECONDS * clip.fps))
        found = [f for f in doc["frames"] if plausible(f, clip.width, clip.height)]
        head = [trust_core_only(f) if cfg.teacher != "labels" else f for f in found if f["frame"] < last]
        tail = [f for f in found if f["frame"] >= split]
        for part, frames in (("real", head), ("holdout", tail)):
            link = work / part / "clips" / f"{clip.name}{clip.path.suffix.lower()}"
            if link.is_symlink() and link.resolve() != clip.path:  # the footage moved since the last run
                link.unlink()
            if not link.is_symlink():
                os.symlink(clip.path, link)
            _write_json(link.with_suffix(".json"), {**doc, "frames": frames})
            if frames:
                entries[part].append(VideoEntry(video=link, labels=link.with_suffix(".json"), subject=clip.name,
                                                sequence=clip.name))
        counts[clip.name] = {"train": len(head), "holdout": len(tail)}
    for part, items in entries.items():
        write_manifest(work / part / "manifest.json", items)
    return counts


# ---- 5. synthetic athletes over the venue's plates --------------------------------------------------------


def render_synth(work: Path, cfg: AdaptConfig, size: tuple[int, int], progress: Progress) -> Path:
    """Render ``cfg.synth_subjects`` athletes of ``size = (W, H)`` over ``work/plates`` into ``work/synth`` (once)."""
    from train.synth.generate import SynthConfig, synthesize_once

    scfg = SynthConfig(scenario="varied", subjects=cfg.synth_subjects, sequences=cfg.synth_sequences,
                       seconds=cfg.synth_seconds, width=size[0], height=size[1],
                       seed=cfg.seed, crf=(16, 34), test_fraction=0.0, labeled_fraction=1.0,
                       backgrounds=str(work / "plates"))
    return synthesize_once(scfg, work / "synth", lambda done, total: progress("synth", done, total))


def render_replay(work: Path, cfg: AdaptConfig, size: tuple[int, int], progress: Progress) -> None:
    """With ``cfg.replay == "render"``: the replay world (``config.REPLAY_WORLD``'s scenarios in their procedural
    venues, one take of ``cfg.replay_seconds`` per athlete) rendered into ``work/replay/<scenario>_<i>`` (once)."""
    from train.synth.generate import SynthConfig, synthesize_once

    if cfg.replay != "render":
        return
    for i, (scenario, n) in enumerate(cfg.replay_shards):
        scfg = SynthConfig(scenario=scenario, subjects=n, sequences=1, seconds=cfg.replay_seconds, width=size[0],
                           height=size[1], seed=cfg.seed + 100 + i, crf=(16, 34), test_fraction=0.0,
                           labeled_fraction=1.0)
        synthesize_once(scfg, work / "replay" / f"{scenario}_{i}",
                        lambda done, total, s=scenario: progress(f"replay world ({s})", done, total))


# ---- 6. fine-tuning ----------------------------------------------------------------------------------------


def start_model(cfg: AdaptConfig) -> str | None:
    """The model adapt starts from, as given: a posenet checkpoint (.pt) or an exported model (the shipped one by
    default); None from scratch."""
    if cfg.init is None or cfg.init.endswith(".pt"):
        return cfg.init
    from tvstream.api import resolve_model

    return str(resolve_model(None if cfg.init == "default" else cfg.init))


def initial_weights(work: Path, cfg: AdaptConfig) -> str | None:
    """The checkpoint the fine-tuning starts from (the shipped model, recovered from its ONNX, by default)."""
    start = start_model(cfg)
    if start is None or start.endswith(".pt"):
        return start
    from train.posenet.from_onnx import write_checkpoint

    target = work / "init.pt"
    if not target.is_file():
        write_checkpoint(start, target)
    return str(target)


def stored_config(model: str) -> dict:
    """The config ``model`` stores: a posenet checkpoint's (.pt), or an exported model's metadata (read without
    recovering its weights)."""
    if model.endswith(".pt"):
        from train.checkpoint import load_checkpoint

        return load_checkpoint(model)["config"]
    import onnx

    from engines.metadata import ModelMetadata

    return ModelMetadata.from_props({p.key: p.value for p in onnx.load(model).metadata_props}, model).config


def model_size(init: str | None) -> str:
    """The size (``train.posenet.config.SIZES``) of the checkpoint or exported model ``init``: the one whose
    weights it holds, its run-time settings aside (``PoseNetConfig.same_weights``: the shipped model reads each
    crop mirrored, its size does not), "full" for a run from scratch. The default model's size changed twice
    (full, real-lite, real-lite-mpdet): fine-tuning it as another size would start a fresh head behind its
    detector."""
    from train.posenet.config import SIZES, PoseNetConfig

    if init is None:
        return "full"
    config = stored_config(init)
    cfg = PoseNetConfig.from_dict(config["model"])
    named = config.get("fit", {}).get("model")
    sizes = ([named] if named in SIZES else []) + list(SIZES)
    for size in sizes:
        if SIZES[size].same_weights(cfg):
            return size
    raise ValueError(f"{init}: its model is none of the sizes ({', '.join(SIZES)}); adapt cannot continue it")


def size_and_start(init: str | None, cfg: AdaptConfig) -> tuple[str, str | None]:
    """The size fine-tuning trains and the checkpoint it starts from, given ``init`` (the one
    :func:`initial_weights` made): ``init``'s own size unless ``cfg.size`` names another; another size than the
    shipped model's (``cfg.init`` "default") starts from scratch."""
    own = model_size(init)
    if cfg.size is None or cfg.size == own:
        return own, init
    return cfg.size, None if cfg.init == "default" else init


def fine_tune(work: Path, cfg: AdaptConfig, progress: Progress) -> Path:
    """Cache the real and the rendered frames and fine-tune the pose network on both (resumable); a landmark
    start is fine-tuned by ``train.landmark_tune``'s recipe instead (:func:`tune_landmarks`)."""
    from train.posenet.cache import CACHE_SIDE, build_cache, sample_cache
    from train.posenet.config import SIZES
    from train.posenet.fit import FitConfig, LossWeights, fit

    size, init = size_and_start(initial_weights(work, cfg), cfg)
    if SIZES[size].head_read == "landmarks":  # no heatmaps for train.posenet.fit to train
        return tune_landmarks(work, cfg, landmark_start(cfg), init, progress)
    if cfg.hold3d and init is None:
        raise TvstreamError(f"--hold-3d keeps the 3D of the model adapt starts from, and a {size} network starts "
                            "from scratch here: leave out --hold-3d or --size")
    hold = cfg.hold_weight if init is not None else 0.0  # the recipe holds to a start model where there is one
    small = SIZES[size].detector_size
    for part in ("real", "synth"):
        build_cache(work / part, work / "cache" / part, CACHE_SIDE, small)
    if cfg.replay == "render":
        build_cache(work / "replay", work / "replay_cache", CACHE_SIDE, small)
    if cfg.replay:
        source = work / "replay_cache" if cfg.replay == "render" else Path(cfg.replay)
        sample_cache(source, work / "cache" / "replay", cfg.replay_rows, CACHE_SIDE, small, cfg.seed)
    run = work / "run"
    rows = {name: json.loads((work / "cache" / name / "cache.json").read_text())["frames"]
            for name in ("real", "synth", "replay") if (work / "cache" / name / "cache.json").is_file()}
    times = rendered_draws(rows.get("real", 0), rows.get("synth", 0) + rows.get("replay", 0), cfg.venue_share)
    fcfg = FitConfig(model=size, cache=str(work / "cache"), steps=cfg.fit_steps, batch=cfg.batch,
                     repeat={name: times for name in rows if name != "real" and times > 1},
                     lr=cfg.step_size, warmup=min(100, cfg.fit_steps // 10), seed=cfg.seed, threads=cfg.threads,
                     device=cfg.device, init=init, eval_every=cfg.fit_steps, checkpoint_every=50,
                     val_every=10**9,  # every real clip trains (the held-out tails score the result)
                     freeze_bn=cfg.freeze_bn, part=cfg.part, weights=LossWeights(hold3d=hold))
    ckpt = run / "last.pt"
    from train.checkpoint import load_checkpoint

    if not (ckpt.is_file() and load_checkpoint(ckpt)["step"] >= cfg.fit_steps):
        fit(fcfg, run, resume=ckpt.is_file(), progress=lambda step, total, _stats: progress("fit", step, total))
    return runs_as(ckpt, init, run / "adapted.pt")


# ---- 6b. fine-tuning a landmark model (train.landmark_tune) ------------------------------------------------


LANDMARK_WORK = "landmark_tune"  # the recipe's work folder inside adapt's


def landmark_start(cfg: AdaptConfig) -> str | None:
    """The size of the model adapt starts from where its head reads MediaPipe's landmarks (fine-tuned by
    ``train.landmark_tune``'s recipe; None: a heatmap network, ``train.posenet.fit``'s), read without writing
    anything, so that the options that make no sense for it are refused before any stage has run: another
    ``size`` (but a heatmap size from the shipped model, which starts from scratch as ever), a landmark ``size``
    without a start of that size, ``part`` "detector", ``hold3d`` above 0 (the recipe holds the start's 2D and
    3D on the venue's frames by distilling to it) and a replay cache (the recipe crops rendered clips)."""
    from train.posenet.config import SIZES

    start = start_model(cfg)
    own = model_size(start)
    landmarks = start is not None and SIZES[own].head_read == "landmarks"
    if cfg.size is not None and SIZES[cfg.size].head_read == "landmarks" and (not landmarks or cfg.size != own):
        raise TvstreamError(f"--size {cfg.size}: a landmark network is adapted from a model of its size (--init), "
                            f"not from {'a ' + own + ' model' if start is not None else 'scratch'} (python -m "
                            "train.landmark_tune makes one from MediaPipe's)")
    if not landmarks:
        return None
    if cfg.size not in (None, own):
        if cfg.init == "default":
            return None  # another size than the shipped model's starts from scratch (size_and_start)
        raise TvstreamError(f"--size {cfg.size}: {cfg.init} is a {own} model, adapted as its own size; leave out "
                            "--size")
    refused = {"--part detector": cfg.part == "detector", "--hold-3d": bool(cfg.hold3d),
               "--replay CACHE": cfg.replay not in (None, "render")}
    named = [option for option, given in refused.items() if given]
    if named:
        raise TvstreamError(f"{', '.join(named)}: not for a {own} model, whose whole landmark network adapt "
                            "fine-tunes by train.landmark_tune's recipe (distilled to the start on the venue's "
                            "frames, rendered clips beside them); leave it out")
    landmark_tune_size(own)  # refused where the recipe makes no model of it
    return own


def landmark_tune_size(own: str) -> str:
    """The size ``train.landmark_tune`` makes of a start of size ``own``: ``own`` where its head reads the 3D with a
    convolution of its own, else the size that does behind the same detectors (the recipe's readout stage makes
    that convolution from the world landmarks'); refused where there is none."""
    from dataclasses import replace

    from train.posenet.config import SIZES

    same = [k for k, v in SIZES.items() if v == replace(SIZES[own], landmark_3d="joints")]
    if not same:
        raise TvstreamError(f"a {own} model cannot be adapted: no size reads its landmarks with a 3D convolution "
                            "of its own, which train.landmark_tune's recipe makes")
    return own if own in same else same[0]


def landmark_config(work: Path, cfg: AdaptConfig, own: str, init: str) -> LandmarkTuneConfig:
    """``train.landmark_tune``'s recipe (a ``LandmarkTuneConfig``) on the venue, from the landmark model ``init``
    (of size ``own``): the rendered athletes (``work/synth``, and the replay world where rendered) and the
    teacher-labeled clips (``work/real``) cropped, the plates (``work/plates``) the pose flag's person-free squares;
    the head, pose flag, 3D convolution and detectors ``init``'s, its ``track_conf`` kept."""
    from train.landmark_tune.config import LandmarkTuneConfig
    from train.posenet.config import SIZES

    recipe = LandmarkTuneConfig()
    start = str(Path(init).absolute())
    renders = [work / "synth"] + ([work / "replay"] if cfg.replay == "render" else [])
    # adapt's steps: 800 by default for the whole network (PART_RECIPES), about 6 minutes on 2 CPU cores at 0.45 s a
    # step for a Lite start (the recipe's 1500 took 11); a Full start (the default since session 47) takes about
    # 0.68 s a step on a 2-core AMD EPYC (session 48: 1500 steps from the default in 17 minutes), 800 steps about 9
    # minutes; the recipe warms up over its first fifth (300 of 1500 steps)
    steps = cfg.fit_steps
    return LandmarkTuneConfig(
        renders=tuple(str(p.absolute()) for p in renders), real=str((work / "real").absolute()),
        plates=str((work / "plates").absolute()),
        skip_clips=0,  # the venue's renders hold no design set: the held-out tails of its footage score the result
        # the venue's labeled frames about render_every frames apart, as the renders' (neighbours are near copies;
        # a 10-minute venue labeled on every frame gives about 5000 crops, 1 GB)
        real_every=max(1, recipe.render_every // cfg.label_every),
        trunk=SIZES[own].head_trunk, head_init=start, steps=steps, warmup=min(recipe.warmup, steps // 5),
        lr=cfg.lr if cfg.lr is not None else recipe.lr,  # PART_RECIPES' 1e-4 is a heatmap network's
        size=landmark_tune_size(own), init=start,
        # the start's track_conf kept: the default tuned 1500 steps further (session 48) at its 0.98 lost the dev set's
        # street clip through the run (0.118) while its unsure reads moved the athlete's track; since session 49 they
        # do not (0.867 at 0.98, 0.876 at 0.995, 0.278 at 0.9; the default 0.876, 0.871, 0.120)
        track_conf=stored_config(init).get("run", {}).get("track_conf", recipe.track_conf),
        seed=cfg.seed, threads=cfg.threads, device=cfg.device)


def tune_landmarks(work: Path, cfg: AdaptConfig, own: str, init: str, progress: Progress) -> Path:
    """Fine-tune the landmark model ``init`` (of size ``own``) on the venue by ``train.landmark_tune``'s recipe
    (:func:`landmark_config`) in ``work/landmark_tune``, resumable; returns its whole network, run as ``init``
    runs (:func:`runs_as`)."""
    from train.landmark_tune.pipeline import run

    lcfg = landmark_config(work, cfg, own, init)
    folder = work / LANDMARK_WORK
    # the recipe's own export (and its .pt twin) beside its work; adapt's export stage writes the venue's model
    run(lcfg, folder, folder / "recipe.onnx", lambda step, _stats: progress("fit", step, lcfg.steps))
    return runs_as(folder / "export" / "model.pt", init, folder / "adapted.pt")


def rendered_draws(venue_rows: int, rendered_rows: int, share: float | None) -> int:
    """How many times each rendered row is drawn so that the venue's teacher rows are at most ``share`` of the
    training rows: the smallest whole number (1 when they already are, or ``share`` is None)."""
    if share is None or rendered_rows == 0 or venue_rows <= share * (venue_rows + rendered_rows):
        return 1
    return math.ceil(venue_rows * (1 - share) / (share * rendered_rows))


def runs_as(ckpt: Path, init: str | None, out: Path) -> Path:
    """``ckpt`` (a fine-tuning run, trained with its size's run-time settings) with the run-time settings of the
    checkpoint it started from (``init``: the shipped model reads each crop mirrored), written to ``out`` where
    they differ; else ``ckpt`` itself. An adapted model runs as the model it was adapted from."""
    from train.checkpoint import load_checkpoint
    from train.posenet.config import RUN_TIME_SETTINGS, PoseNetConfig
    from train.posenet.reconfigure import reconfigure

    if init is None:
        return ckpt
    start = PoseNetConfig.from_dict(load_checkpoint(init)["config"]["model"])
    trained = PoseNetConfig.from_dict(load_checkpoint(ckpt)["config"]["model"])
    changes = {k: getattr(start, k) for k in RUN_TIME_SETTINGS if getattr(start, k) != getattr(trained, k)}
    if not changes:
        return ckpt
    if not out.is_file() or out.stat().st_mtime < ckpt.stat().st_mtime:
        reconfigure(ckpt, out, **changes)
    return out


# ---- 7. export and report ----------------------------------------------------------------------------------


def tail_hits(pred: np.ndarray, joints2d: np.ndarray, visible: np.ndarray) -> tuple[np.ndarray, ...]:
    """PCK@0.2 hits and counted joints ``(N, J)`` of the run's 2D ``pred (N, K, 2)`` (NaN where a frame was not
    reported: every joint of it a miss) against the teacher's, and which frames were reported ``(N,)``."""
    from train.metrics.keypoints import pck_hits

    reported = ~np.isnan(pred).any(axis=(1, 2))
    hits, counted = pck_hits(np.nan_to_num(pred, nan=-1e6), joints2d, visible)
    return hits, counted, reported


def truth_scores(out: dict[str, np.ndarray], labels_path: Path, first: int) -> dict[str, float]:
    """The run's outputs ``out`` against a clip's own labels (a rendered venue's truth) on its frames from
    ``first`` (the held-out tail), as ``train.posenet.evaluate.score_clip`` scores them: totals ``hits``,
    ``counted`` (PCK@0.2 of the core joints, every labeled frame, unreported ones as misses), ``error_mm`` and
    ``errors`` (root-relative 3D error summed over the frames both have, and how many)."""
    from train.posenet.evaluate import score_clip

    part = score_clip(out, labels_path, first)
    errors = part.get("mpjpe", np.zeros(0))
    return {"hits": float(part["hits"].sum()), "counted": float(part["counted"].sum()),
            "error_mm": float(errors.sum()), "errors": float(len(errors))}


def _truth_row(totals: dict[str, float]) -> dict:
    """``truth_scores``' totals as the report shows them."""
    return {"frames_3d": int(totals["errors"]), "pck": _share(totals["hits"], totals["counted"]),
            "mpjpe": round(totals["error_mm"] / totals["errors"], 1) if totals["errors"] else None}


def _share(hits, counted) -> float:
    """PCK from hit and counted joint totals, rounded as the report shows it (0 where nothing was counted)."""
    return round(float(hits) / max(float(counted), 1.0), 4)


def agreement(model: Path | None, clips: list[Clip], work: Path, moving: dict[str, bool],
              decode: bool = False, holdout: float | None = None, options=None) -> dict:
    """The runtime (``tvstream run``'s pipeline; a moving camera runs as ``--scenario ski``, without the
    rolling background) against the teacher on each clip's held-out tail, the run started ``WARM_SECONDS`` before
    it; ``fps``: those runs end to end (decoding included), ``ms_per_frame``: the model alone at batch 1; with
    ``decode``, ``decode_fps``: decoding alone (the first clip's first 1500 frames at the model's input size), the
    most frames/s any model runs here.
    With ``holdout`` (the tail's share), clips with their own labels (a rendered venue) are also scored against
    those on the tail (``truth``: PCK@0.2 and MPJPE, per clip and pooled): agreement with the teacher is not
    accuracy (``benchmarks/results/s41_rule.md``, ``s42_rule.md``). ``options``: the run's ``RunOptions`` (None:
    ``tvstream run``'s defaults)."""
    from engines.backends import load_backend
    from train.posenet.evaluate import latency_ms, pipeline_outputs
    from tvstream.api import resolve_model
    from tvstream.bench import time_decode
    from tvstream.labels import load_any_labels

    backend = load_backend(resolve_model(model), "onnxruntime", threads=1)
    per_clip, hits, counted, shown, seen, frames, seconds = {}, 0, 0, 0, 0, 0, 0.0
    truth = {"hits": 0.0, "counted": 0.0, "error_mm": 0.0, "errors": 0.0}
    for clip in clips:
        labels = load_any_labels(work / "holdout" / "clips" / f"{clip.name}.json")
        if len(labels.frames) == 0:
            continue
        rows = np.asarray(labels.frames, int)
        # the run starts WARM_SECONDS before the tail (its athlete found, its crop following), not at the clip's start
        first = max(0, int(rows.min()) - round(WARM_SECONDS * (clip.fps or 25.0)))
        timing: dict = {}
        out, _ = pipeline_outputs(backend, clip.path, "ski" if moving.get(clip.name) else "studio", options,
                                  first=first, timing=timing)
        seconds, frames = seconds + timing["run_s"], frames + timing["frames"]
        keep = rows < len(out["pose2d"])
        h, c, reported = tail_hits(out["pose2d"][rows[keep]], labels.joints2d[keep], labels.visible[keep])
        per_clip[clip.name] = {"frames": int(keep.sum()), "pck": _share(h.sum(), c.sum()),
                               "reported": int(reported.sum()),
                               "pck_reported": _share(h[reported].sum(), c[reported].sum())}
        if holdout is not None and clip.labels is not None:
            scored = truth_scores(out, clip.labels, clip.split(holdout))
            truth = {k: truth[k] + v for k, v in scored.items()}
            if scored["counted"]:  # a tail its labels do not reach has no truth to show
                per_clip[clip.name]["truth"] = _truth_row(scored)
        hits, counted = hits + int(h.sum()), counted + int(c.sum())
        shown, seen = shown + int(h[reported].sum()), seen + int(c[reported].sum())
    scores = {"model": str(resolve_model(model)), "pck": _share(hits, counted),
              "pck_reported": _share(shown, seen), "clips": per_clip,
              "ms_per_frame": round(latency_ms(backend), 2), "fps": round(frames / max(seconds, 1e-9), 1)}
    if truth["counted"]:
        scores["truth"] = _truth_row(truth)
    if decode:
        scores["decode_fps"] = round(time_decode(str(clips[0].path), backend.metadata.input_size, 1500)[0].fps, 1)
    return scores


def kept_score(work: Path, name: str, model: Path | None, clips: list[Clip], holdout: float,
               score: Callable[[], dict]) -> dict:
    """``score()`` of ``model`` (None: the shipped one) on ``clips``' held-out tails, kept in ``work/scores/NAME.json``:
    a rerun (after a stop in a later stage, or of a finished run) reads it back while the model, the clips, their
    tails' labels, their own labels (the truth) and ``holdout`` are the same, instead of scoring again (minutes on
    long footage)."""
    from tvstream.api import resolve_model
    from tvstream.teacher.labeling import video_hash

    key = {"model": file_digest(resolve_model(model)), "holdout": holdout,
           "clips": {c.name: video_hash(c.path) for c in clips}, "tails": label_hashes(work / "holdout" / "clips"),
           "truth": {c.name: file_digest(c.labels) for c in clips if c.labels is not None}}
    path = work / "scores" / f"{name}.json"
    try:
        kept = json.loads(path.read_text())
        if kept["key"] == key:
            return kept["scores"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError):
        pass  # none yet, or damaged: scored again
    scores = score()
    path.parent.mkdir(exist_ok=True)
    _write_json(path, {"key": key, "scores": scores})
    return scores


# ``tvstream run``'s faster options, as (the options, the RunOptions they set beside ``--fast``'s read-once twin):
# the adapted model through each on the same tails (session 43: on the long venue 86 -> 127 -> 155 frames/s at
# agreement 0.880 -> 0.868 -> 0.865; benchmarks/results/s43_rule.md)
FASTER_MODES = (("--fast", {}), ("--fast --no-second-look", {"second_look": None, "reread": False}))


def faster_modes(model: Path, clips: list[Clip], work: Path, moving: dict[str, bool], holdout: float) -> dict:
    """The adapted ``model`` through ``tvstream run``'s faster options (:data:`FASTER_MODES`) on the held-out tails,
    as :func:`agreement` scores them (agreement, truth, frames/s end to end), so that a venue can choose its speed
    knowing what it costs. ``--fast`` runs the model's twin that reads each crop once; for a model that reads each
    crop once already (or where the twin cannot be written) it changes nothing, and that row is left out."""
    from engines.backends import load_backend
    from tvstream.detector_view import model_for_source
    from tvstream.frame_fit import FrameFit
    from tvstream.pipeline import RunOptions

    meta = load_backend(model, "onnxruntime", threads=1).metadata
    twin = model_for_source(model, meta, FrameFit.of(meta.input_size, meta.input_size), fast=True)
    return {name: agreement(twin or model, clips, work, moving, holdout=holdout, options=RunOptions(**settings))
            for name, settings in FASTER_MODES if twin is not None or settings}


def modes_markdown(report: dict) -> list[str]:
    """The report's lines for :func:`faster_modes`: each option's agreement (truth) and speed beside the default's."""
    truth = "truth" in report["after"]
    teacher = report.get("teacher_fps")
    lines = ["", f"Faster ways to run the adapted model (`tvstream run --model {Path(report['out']).name} ...`), on "
                 "the same held-out tails:", "",
             "| options | agreement with the teacher | " + ("truth PCK@0.2 | truth MPJPE mm | " if truth else "")
             + "frames/s end to end |" + (" x the teacher |" if teacher else ""),
             "|---" * (3 + 2 * truth + bool(teacher)) + "|"]
    for name, row in {"(default)": report["after"], **report["modes"]}.items():
        cells = [name, f"{row['pck']:.3f}"]
        if truth:
            t = row.get("truth") or {}
            cells += [f"{t['pck']:.3f}" if t else "-", f"{t['mpjpe']:.1f}" if t.get("mpjpe") is not None else "-"]
        cells.append(f"{row['fps']:.0f}")
        if teacher:
            cells.append(f"{row['fps'] / teacher:.1f}")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def report_markdown(report: dict) -> str:
    lines = [f"# tvstream adapt: {report['venue']}", "",
             f"Teacher: {report['teacher']}; {report['labeled_frames']} frames labeled "
             f"(one in {report['every']}), {report['synth_frames']} rendered over "
             f"{report['plates']} venue plates; {report.get('replay_rows', 0)} rows of other athletes beside them "
             f"(replay: {report['config'].get('replay') or 'none'}); "
             f"{PARTS[report['config']['part']]} fine-tuned {report['steps']} steps at {report['lr']:g}"
             + (f", the venue's frames keeping the start model's 3D (hold3d {report['hold3d']:g})"
                if report.get("hold3d") else "")
             + "".join(f"; the {k} rows drawn {v}x" for k, v in report.get("drawn", {}).items()) + ".", "",
             "| model | agreement with the teacher, held-out tails (PCK@0.2) | on the frames it reported | "
             "ms/frame (model, batch 1) | frames/s end to end |", "|---|---|---|---|---|"]
    for key in ("before", "after"):
        row = report[key]
        lines.append(f"| {key}: `{Path(row['model']).name}` | {row['pck']:.3f} | {row['pck_reported']:.3f} | "
                     f"{row['ms_per_frame']:.2f} | {row['fps']:.0f} |")
    if report.get("teacher_fps"):
        lines.append(f"\nTeacher: {report['teacher_fps']:.1f} labeled frames/s (its process start and the decoding "
                     f"of every frame included); the adapted model runs {report['after']['fps']:.0f} frames/s end "
                     f"to end, {report['after']['fps'] / report['teacher_fps']:.0f}x.")
    if report["after"].get("decode_fps"):
        times = (f" ({report['after']['decode_fps'] / report['teacher_fps']:.1f}x the teacher)"
                 if report.get("teacher_fps") else "")
        lines.append(f"\nDecoding alone runs {report['after']['decode_fps']:.0f} frames/s here{times}: no model runs "
                     "faster end to end on this footage and machine.")
    if report.get("modes"):
        lines += modes_markdown(report)
    lines += ["", "A frame the run does not report (nobody sure enough, or the athlete held while out of sight: "
                  "`--hold`) counts as a miss; the last columns say how many frames the adapted model reported "
                  "and its agreement on those.", "",
              "| clip | held-out frames | before | after | reported after | after, on reported frames |",
              "|---|---|---|---|---|---|"]
    for name, row in report["after"]["clips"].items():
        lines.append(f"| {name} | {row['frames']} | {report['before']['clips'][name]['pck']:.3f} | {row['pck']:.3f} "
                     f"| {row['reported']} | {row['pck_reported']:.3f} |")
    if "truth" in report["after"]:
        lines += truth_markdown(report)
    if report["skipped"]:
        lines += ["", "Skipped:"] + [f"- `{path}`: {why}" for path, why in report["skipped"].items()]
    stages = ", ".join(f"{k} {v:.0f} s" for k, v in report["seconds"].items())
    lines += ["", f"Time per stage (this run): {stages}."]
    return "\n".join(lines) + "\n"


def adapt(venue: Path, out: Path, cfg: AdaptConfig, work: Path, teacher, say: Say, progress: Progress) -> dict:
    """Every stage (see the module docstring); returns the report, also ``work/report.json`` and ``.md``."""
    from engines.export import export_onnx
    from train.checkpoint import load_checkpoint

    clips, skipped = find_clips(venue, exclude=work)  # before the work folder: a wrong VENUE leaves nothing
    landmark_start(cfg)  # as are options that make no sense for a landmark model
    check_work(work, cfg, venue)
    seconds: dict[str, float] = {}

    def stage(name: str, fn, *args):
        tic = time.perf_counter()
        result = fn(*args)
        seconds[name] = round(time.perf_counter() - tic, 1)
        return result

    say(f"{len(clips)} clips ({sum(c.frames for c in clips)} frames); {len(skipped)} unreadable")
    taught, why, timing = stage("teacher", teach, clips, work, cfg, teacher, progress)
    skipped |= why
    if not taught:
        named = "; ".join(f"{Path(p).name}: {r}" for p, r in list((why or skipped).items())[:3])
        raise TvstreamError(f"{venue}: no clip could be labeled by the teacher ({len(skipped)} skipped; {named})")
    moving = stage("plates", make_plates, taught, work, cfg, progress)
    skipped |= {str(c.path): "no background plate could be made" for c in taught if c.name not in moving}
    taught = [c for c in taught if c.name in moving]
    if clips_changed(work, taught):
        say("the labeled clips changed since the last run: rendering and training again")
    counts = split_labels(taught, work, cfg)
    if labels_changed(work):
        say("the training labels changed since the last run: training again")
    say(f"teacher labels: {sum(c['train'] for c in counts.values())} training frames, "
        f"{sum(c['holdout'] for c in counts.values())} held out, in {len(taught)} clips")
    synth = stage("synth", render_synth, work, cfg, cfg.synth_size or synth_size(clips), progress)
    stage("replay", render_replay, work, cfg, cfg.synth_size or synth_size(clips), progress)
    ckpt = stage("fit", fine_tune, work, cfg, progress)
    model = work / "model.onnx"
    if not model.is_file() or model.stat().st_mtime < ckpt.stat().st_mtime:
        card = {"trained_on": f"the default model fine-tuned on {venue} by tvstream adapt: the teacher "
                              f"{cfg.teacher}'s 2D labels of {len(taught)} clips and athletes rendered over its plates"}
        stage("export", export_onnx, ckpt, model, None, False, card)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    shutil.copyfile(model, tmp)
    tmp.replace(out)
    start = Path(cfg.init) if cfg.init and cfg.init.endswith(".onnx") else None  # else: the shipped model
    before = stage("score before", kept_score, work, "before", start, taught, cfg.holdout,
                   lambda: agreement(start, taught, work, moving, False, cfg.holdout))
    after = stage("score after", kept_score, work, "after", out, taught, cfg.holdout,
                  lambda: agreement(out, taught, work, moving, True, cfg.holdout))  # decoding timed once
    modes = stage("score faster modes", kept_score, work, "modes", out, taught, cfg.holdout,
                  lambda: faster_modes(out, taught, work, moving, cfg.holdout))
    labeled = sum(t["frames"] for t in timing.values())
    teach_s = sum(t["seconds"] for t in timing.values())
    fitted = load_checkpoint(ckpt)["config"]["fit"]  # train.posenet.fit's, or train.landmark_tune's
    report = {"venue": str(venue), "out": str(out), "teacher": cfg.teacher, "config": cfg.to_dict(),
              "clips": {c.name: {"path": str(c.path), "frames": c.frames, "camera_moves": moving.get(c.name),
                                 **counts.get(c.name, {})} for c in clips},
              "skipped": skipped, "labeled_frames": sum(len(json.loads((work / "teacher" / f"{c.name}.json")
                                                                        .read_text())["frames"]) for c in taught),
              "every": cfg.label_every, "steps": cfg.fit_steps, "lr": fitted["lr"],
              "synth_frames": _rendered_frames(synth), "replay_rows": _replay_rows(work, cfg),
              "drawn": fitted.get("repeat", {}),  # fine_tune's
              "hold3d": fitted.get("weights", {}).get("hold3d", 0.0),
              "recipe": fitted.get("recipe", "train.posenet.fit"),  # a landmark start: train.landmark_tune
              "plates": len(list((work / "plates").glob("*.png"))),
              "teacher_fps": round(labeled / teach_s, 2) if teach_s else None,
              "before": before, "after": after, "modes": modes, "seconds": seconds}
    _write_json(work / "report.json", report)
    (work / "report.md").write_text(report_markdown(report))
    return report


def truth_markdown(report: dict) -> list[str]:
    """The report's lines for a venue whose clips have their own labels: before and after against them."""
    def cells(row: dict | None) -> str:
        if row is None:
            return "- | -"
        return f"{row['pck']:.3f} | " + (f"{row['mpjpe']:.1f}" if row["mpjpe"] is not None else "-")

    before, after = report["before"], report["after"]
    lines = ["", "The clips have their own labels (a rendered venue): against those on the held-out tails (every "
                 "labeled frame; PCK@0.2 of the core joints, MPJPE root-relative of the 17 joints on the frames "
                 "reported), the truth that the agreement with the teacher stands in for.", "",
             "| clip | before PCK@0.2 | before MPJPE mm | after PCK@0.2 | after MPJPE mm |", "|---|---|---|---|---|"]
    for name, row in after["clips"].items():
        lines.append(f"| {name} | {cells(before['clips'].get(name, {}).get('truth'))} | {cells(row.get('truth'))} |")
    lines.append(f"| **all** | {cells(before.get('truth'))} | {cells(after['truth'])} |")
    return lines


def _replay_rows(work: Path, cfg: AdaptConfig) -> int:
    """The rows of other athletes trained beside the venue's: the replay cache's (``train.posenet.fit``), or the
    rendered replay world's labeled frames (``train.landmark_tune`` crops them as it does the venue's renders)."""
    cache = work / "cache" / "replay" / "cache.json"
    if cache.is_file():
        return json.loads(cache.read_text())["frames"]
    return sum(_rendered_frames(p.parent) for p in (work / "replay").glob("*/manifest.json")) \
        if cfg.replay == "render" else 0


def _rendered_frames(synth: Path) -> int:
    """Labeled frames of the rendered dataset."""
    from tvstream.labels import load_labels
    from tvstream.manifest import discover

    return sum(len(load_labels(e.labels).frames) for e in discover(synth) if e.labels is not None)
