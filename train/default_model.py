"""The recipe of the model shipped inside the package (``tvstream/models/default.onnx``).

Since 2026-12-01 the default model is the localising pose network (``train/posenet``): a box detector on the
4x-downsampled 512x288 frame, a square crop, and heatmap 2D / location-map 3D / confidence heads, trained
supervised on the labeled synthetic world (photo-plate and procedural backgrounds, studio / ski / dive
athletes). The self-supervised ``Ours`` model it replaces read pose barely better than the mean pose
(PCK@0.2 0.004 on the sample clip).

Run (CPU: each step ~0.15-0.18 s at batch 32 with ``--cpu-amp`` on a 2-core AMD EPYC with AVX512-BF16; ~0.8 s in
float32 on one without, where ``--cpu-amp`` is 10x slower)::

    python -m train.synth.photo_plates --out data/plates
    python -m train.synth.world train --out data/world --plates data/plates
    python -m train.synth.world bench --out data/bench --plates data/plates
    tvstream train posenet --data data/world --out runs/default --size full --steps 7000 --cpu-amp
    # the shipped model then continued on more of the world:  --init runs/default/last.pt --lr 5e-4
    #   --set weights.box_centre_ce=0.5 (9000 steps with the mixed shards, 4000 with the varied ones, lr 3e-4)
    # when the run is gone (a fresh checkout), start from the shipped model itself; its folded batch norms are
    # calibrated again on the training data (train/posenet/from_onnx.py, fit.calibrate_norms):
    #   python -m train.posenet.from_onnx tvstream/models/default.onnx runs/shipped.pt; then --init runs/shipped.pt
    python -m train.default_model build runs/default --bench data/bench

Since 2026-12-02 (session 19) the shipped model's pose head is the ``real-lite`` size (MediaPipe BlazePose Lite's
trunk, ``train/pretrained``) trained alone behind a full-size detector; its recipe is in :data:`TRAINED_ON` and
the README ("Real people"). ``build`` exports the run, scores it and the current default on the bench set and the sample clip, and
replaces the packaged model only when the new one is better on the bench set (``--force`` overrides).
``reexport RUN_DIR`` writes the installed model again from its own checkpoint with today's graph code (same
weights and card; installed only when every output agrees on the sample clip).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

from engines.weight_storage import EMBEDDED_MAX_BYTES
from tvstream.errors import LabelError
from tvstream.json_documents import write_text_atomic
from tvstream.sysinfo import cpu_model

PACKAGE_MODEL = Path(__file__).parent.parent / "tvstream" / "models" / "default.onnx"
MAX_BYTES = EMBEDDED_MAX_BYTES
TRAINED_ON = ("The box detector: tvstream's synthetic world (train/synth/world.py; 31 shards as rendered on 2026-12-01, 206k "
              "labeled frames of 510 anny bodies, studio / ski / dive / drawn cameras, photo plates from Debian "
              "wallpaper packages; the default model of 2026-12-01, 9057928b), then 1500 steps of the detector alone "
              "on 11 of those shards rendered again plus real people: 55 photographed cut-outs of about 20 people "
              "(Debian's scratch package, CC-BY-SA-3.0) pasted moving over real background photos, labeled in 2D by "
              "MediaPipe Pose Heavy (train.cutouts; session 18's I4). The pose head: the trunk of MediaPipe Pose's "
              "landmark network Lite (pose_landmark_lite.tflite, Apache-2.0, trained by Google on real people; read "
              "by train.pretrained at a 192 px crop), its heatmap layer mapped to the 17 H36M joints, and new "
              "location-map (3D) and confidence layers; trained 1500 + 1200 steps (--part head, lr 1e-3 then 3e-4, "
              "the trunk at 0.1x) on the same 11 shards and the cut-outs (drawn 3x / 2x): rendered 2D and 3D labels, "
              "the teacher's 2D on the real cut-outs, on a 2-core CPU. Then the confidence alone (session 20, --part "
              "confidence, 400 steps, lr 1e-3; 2D and 3D unchanged bit for bit): MediaPipe's pose-flag branch as a "
              "presence classifier multiplying every joint's confidence, trained with the confidence layer on the "
              "same data plus 8 person-free crops a batch (flat fills, squares of the training wallpaper plates). "
              "Then (session 21, no training) MediaPipe Pose's person detector (pose_detection.tflite, Apache-2.0, "
              "trained by Google on real people; train.posenet.person_detector) beside the box detector: its box (a "
              "square around the hip point, 0.8 of its whole-body circle's radius) where its score reaches 0.8, the "
              "box detector's elsewhere; in the exported graph it runs only on frames the runtime does not track. "
              "Then (session 28, no training; the weights of ac6930c4 recovered from its ONNX) every crop is read "
              "both ways: as it is and mirrored, one batch of two through the head, the mirrored read mirrored back "
              "(left and right joints swapped, x negated) and the two averaged (mirror_read, the flip test). "
              "No footage of the reference or dev clips.")


def landmark_tune_trained_on(fit: dict, run: dict | None = None) -> str:
    """The card's ``trained_on`` for a model made by ``train.landmark_tune`` (session 46), from its fit record (the
    recipe's config) and the run settings it carries (``run``; ``train.posenet.reconfigure`` may have changed the
    recipe's): what the run read is the run's, not a fixed text."""
    def short(folder: str | None) -> str:  # the card names folders, not this machine's paths
        return "/".join(Path(folder).parts[-2:]) if folder else "none"

    renders = tuple(fit.get("renders", ()))
    shards = ", ".join(Path(r).name for r in renders) or "none"
    try:  # the shards themselves, where the folders are still here (the world's shard names say what they are)
        from train.landmark_tune.crops import render_shards
        from train.synth.crossing import shard_kind

        if renders:
            found = [(s.name, shard_kind(s)) for s in render_shards(renders)]
            crossing = [f"{name} (a passer-by {'in front of' if kind == 'front' else 'behind'} the athlete, labeled "
                        "only on the frames where the two overlap)" for name, kind in found if kind]
            shards = f"{shards}: shards {', '.join(name for name, _ in found)}" + (
                f"; crossing shards {', '.join(crossing)}" if crossing else "")
    except (LabelError, OSError):
        pass
    init = fit.get("init", "default")
    init = "the embedded default model it was built beside" if init == "default" else init
    turned = f", {fit['turn_p']:.0%} of them turned with the body" if fit.get("turn_p") else ""
    turned += (f", {fit['render_degrade_p']:.0%} of them blurred and given sensor noise"
               if fit.get("render_degrade_p") else "")
    drawn = {"shard": ", each folder drawn as often", "scenario": ", each scenario drawn as often"}.get(
        fit.get("render_draw", "crop"), "")
    start = fit.get("head_init") or "MediaPipe Pose's Full landmark network as it comes"
    blend = fit.get("blend", 1.0)
    early = blend if fit.get("early_blend") is None else fit["early_blend"]
    where = (f" ({early} x in its early layers, those reading the crop at 1/1 to 1/8 of its size)"
             if early != blend else "")
    blended = (f"; the head kept is the start's weights + {blend} x the tune's change{where} (a weight-space "
               "ensemble of the start and its tune, which reads real people more as the start does)"
               if min(blend, early) < 1 else "")
    held = ("kept as they came" if fit.get("freeze_early") else
            f"at {fit['early_lr']} x the others' learning rate" if fit.get("early_lr", 1) != 1 else "",
            f"their map (the one its 1/16 stage reads) held on the real people's crops to the start's at weight "
            f"{fit['early_distill']}" if fit.get("early_distill") else "")
    frozen = (f" (its early layers, those reading the crop at 1/1 to 1/8 of its size, "
              f"{' and '.join(h for h in held if h)})" if any(held) else "")
    crops = "its real people's" if fit.get("occlude_rows") == "real" else "all its"
    occluded = (f"; {fit['occlude_p']:.0%} of {crops} crops with an occluder pasted (a rectangle of a person-free "
                "plate, half of them across the crop's bottom), the labels kept and the real ones distilled to the "
                "start's reading of the crop without it" if fit.get("occlude_p") else "")
    draws = len(fit.get("soup") or ())
    souped = (f"; this tune averaged weight for weight with {draws} other draw{'s' if draws > 1 else ''} of it "
              "(another seed each: a model soup)" if draws else "")
    soup = fit.get("interpolated") or {}
    sibling = soup.get("sibling")  # train.posenet.interpolate --toward: a soup with another tune of the same start
    mixed = (f"; then its trunk, landmark and 3D layers taken {soup['alpha']:g} x its own + {1 - soup['alpha']:g} x "
             f"those of a sibling tune of the same start ({sibling['steps']} steps at lr {sibling['lr']} on the "
             f"folders {', '.join(sibling['renders'])}"
             + (f", {sibling['occlude_p']:.0%} of its real crops occluded" if sibling.get("occlude_p") else "")
             + (f", {sibling['soup'] + 1} seeds averaged" if sibling.get("soup") else "")
             + "; train.posenet.interpolate --toward), its pose flag its own: a soup of two recipes"
             if sibling else "")
    track_conf = (run or {}).get("track_conf", fit.get("track_conf"))
    changed = (f"; the recipe's {fit.get('track_conf')}, changed by train.posenet.reconfigure"
               if track_conf != fit.get("track_conf") else "")
    return (f"The box detector and MediaPipe Pose's person detector: those of {init}. The pose "
            f"head: MediaPipe Pose's {fit.get('trunk', 'blazepose_full')} landmark network (Apache-2.0, trained by "
            "Google on real people) read as MediaPipe reads it (its landmark regression at a 256 px crop; each H36M "
            "joint its recipe of the 33 landmarks, tvstream.teacher.mapping), started from "
            f"{start} and fine-tuned by train.landmark_tune on a CPU{frozen}: {fit.get('steps')} steps on 256 px crops "
            f"of rendered athletes (folders {shards}, their first {fit.get('skip_clips')} clips left out{drawn}; 2D "
            f"and 3D labels{turned}) and of the real people in {short(fit.get('real'))} (a teacher's 2D, and a "
            f"distillation term holding the start's reading of them){occluded}, its 3D learnt by its last "
            f"convolution alone{souped}{blended}; then its pose flag alone on people against person-free crops of "
            f"{short(fit.get('plates'))}; then its 3D read by a "
            f"convolution of its own fitted by ridge regression to the rendered crops' 3D{mixed}. Its least harmful "
            "weights "
            f"are stored as int8 to fit the 10 MB file (train.landmark_tune.quantize). It runs with track_conf "
            f"{track_conf} (its own setting{changed})"
            + (f" and track_shrink {run['track_shrink']}" if (run or {}).get("track_shrink") else "") + ".")




def people_note(model: dict) -> str:
    """The card's sentence on the persons of MediaPipe's detector the run chooses its athlete among (a model
    config's ``detector_people``, ``train.posenet.reconfigure``); '' for its best person alone."""
    people = int(model.get("detector_people", 1))
    if people <= 1:
        return ""
    return (f" Its graph gives the run MediaPipe's {people} best persons as people to choose the athlete among (its "
            f"weighted non-maximum suppression taken {people} rounds; the next ones where it scores them >= "
            f"{model.get('detector_others_min_score')}; detector_people, set by train.posenet.reconfigure), not its "
            "best alone: with two real people in view, the box detector finds one of them.")


def score(model: Path, bench: Path) -> dict:
    """Bench-set and sample-clip scores of an exported model."""
    from train.posenet.evaluate import bench_model, clip_groups

    return bench_model(str(model), clip_groups(bench, sample=True))


def better(new: dict, old: dict) -> bool:
    """Is ``new`` better on the bench set: higher PCK@0.2 and lower MPJPE over all bench clips?"""
    a, b = new["groups"]["bench (all)"], old["groups"].get("bench (all)")
    return b is None or (a["pck"] >= b["pck"] and a.get("mpjpe", 0) <= b.get("mpjpe", float("inf")))


def build_default_model(run_dir: Path, bench: Path, out: Path = PACKAGE_MODEL, force: bool = False) -> dict:
    """Export ``run_dir/last.pt`` (or the checkpoint ``run_dir`` names), score it, and install it as ``out`` when
    better; returns the card."""
    from engines.export import export_onnx
    from train.checkpoint import load_checkpoint

    ckpt = run_dir if run_dir.is_file() else run_dir / "last.pt"
    state = load_checkpoint(ckpt)
    fit = state["config"].get("fit", {})
    candidate = ckpt.with_name("candidate.onnx")
    export_onnx(ckpt, candidate)
    new = score(candidate, bench)
    old = score(out, bench) if out.is_file() else None
    groups = new["groups"]
    trained_on = (landmark_tune_trained_on(fit, state["config"].get("run")) if fit.get("recipe") == "train.landmark_tune"
                  else TRAINED_ON) + people_note(state["config"]["model"])
    card = {"trained_on": trained_on, "kind": "posenet",
            "model": {"size": fit.get("model", fit.get("size")), "steps": state["step"],
                      "config": state["config"]["model"], **({"run": state["config"]["run"]}
                                                             if state["config"].get("run") else {})},
            "bench": {k: {m: round(v, 3) if isinstance(v, float) else v for m, v in g.items()}
                      for k, g in groups.items() if k != "sample_ski"},
            "sample_ski": {m: round(v, 3) if isinstance(v, float) else v for m, v in groups["sample_ski"].items()},
            "ms_per_frame": round(new["ms_per_frame"], 2),
            "replaced": old["hash"] if old else None,  # by its weights' hash (its path would be this machine's)
            "replaced_scores": ({"bench (all)": old["groups"].get("bench (all)"), "sample_ski": old["groups"]["sample_ski"]}
                                if old else None),
            "built": {"date": time.strftime("%Y-%m-%d"), "machine": f"{cpu_model()} ({os.cpu_count()} cores)"}}
    if old is not None and not better(new, old) and not force:
        raise SystemExit(f"not installed: the candidate is not better on the bench set than {out} "
                         f"(new {groups['bench (all)']}, old {old['groups'].get('bench (all)')}); --force overrides")
    export_onnx(ckpt, candidate, card=card)  # again, with its card in the metadata
    size = candidate.stat().st_size
    if size > MAX_BYTES:
        raise SystemExit(f"{candidate} is {size:,} bytes, over the {MAX_BYTES:,} of the embedded model")
    from engines.backends import load_backend

    card["file"] = {"bytes": size, "hash": load_backend(candidate, "onnxruntime").metadata.model_hash,
                    "input_size": list(state["config"]["model"]["frame_size"])}
    install(candidate, out, card)
    return card


def install(candidate: Path, out: Path, card: dict) -> None:
    """Copy ``candidate`` over ``out`` (through a temp name: a crash leaves the old model whole) and write its card."""
    shutil.copyfile(candidate, out.with_name(out.name + ".tmp"))
    os.replace(out.with_name(out.name + ".tmp"), out)
    write_text_atomic(out.with_suffix(".json"), json.dumps(card, indent=1) + "\n")


REEXPORT_TOLERANCE_MM = 0.5  # worst 3D joint disagreement allowed between the installed graph and its re-export
REEXPORT_TOLERANCE_PX = 0.05  # worst 2D joint / box coordinate disagreement, model-input pixels


def reexport_default_model(run_dir: Path, out: Path = PACKAGE_MODEL, clip: Path | None = None,
                           changes: str | None = None) -> dict:
    """Export the installed model's own checkpoint again with today's graph code (a faster graph, the same weights).

    The card is kept. Installs only when the weights hash equals the installed model's and the outputs agree on
    every frame of ``clip`` (default: the sample clip; 3D within :data:`REEXPORT_TOLERANCE_MM`, 2D and box within
    :data:`REEXPORT_TOLERANCE_PX`); returns the parity report. ``changes``: the graph reads the same weights
    differently on purpose (measured elsewhere): the outputs may differ, and this sentence is added to the card's
    ``trained_on``.
    """
    import numpy as np

    from engines.backends import load_backend
    from engines.export import export_onnx
    from engines.parity import compare_outputs, refuse_precision
    from train.posenet.evaluate import SAMPLE
    from tvstream.sources import VideoSource

    card = json.loads(out.with_suffix(".json").read_text())
    if changes:  # the card (and the metadata it is exported with) says how the graph now reads
        from train.checkpoint import load_checkpoint

        config = load_checkpoint(run_dir / "last.pt")["config"]["model"]
        card = {**card, "trained_on": f"{card['trained_on']} {changes}", "model": {**card.get("model", {}), "config": config}}
    installed = load_backend(out, "onnxruntime")
    candidate = run_dir / "candidate.onnx"
    export_onnx(run_dir / "last.pt", candidate, card={k: v for k, v in card.items() if k != "file"})
    fresh = load_backend(candidate, "onnxruntime")
    if fresh.metadata.model_hash != installed.metadata.model_hash:
        raise SystemExit(f"not installed: {run_dir / 'last.pt'} holds other weights ({fresh.metadata.model_hash}) "
                         f"than {out} ({installed.metadata.model_hash})")
    with VideoSource(str(clip or SAMPLE), installed.metadata.input_size) as source:
        images = np.stack([f.image for f in source.frames()])
    reference = [installed.infer(images[i:i + 8]) for i in range(0, len(images), 8)]
    new = [fresh.infer(images[i:i + 8]) for i in range(0, len(images), 8)]
    report = compare_outputs(*({k: np.concatenate([o[k] for o in outs]) for k in ("pose3d", "box", "pose2d")}
                               for outs in (reference, new)))
    refusal = refuse_precision(report, REEXPORT_TOLERANCE_MM, "re-export")
    worst_px = max(report["pose2d_max_px"], report["box_max_px"])
    if worst_px > REEXPORT_TOLERANCE_PX:
        refusal = f"re-export 2D error {worst_px:.3f} px > {REEXPORT_TOLERANCE_PX} px tolerance"
    if refusal and not changes:
        raise SystemExit(f"not installed: {refusal}")
    card["file"] = {**card["file"], "bytes": candidate.stat().st_size}
    install(candidate, out, card)
    return report


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="stage", required=True)
    build = sub.add_parser("build", help="export, score against the current default, install when better")
    build.add_argument("run_dir", type=Path, help="a finished `tvstream train posenet` run, or a posenet checkpoint "
                                                  "(train.landmark_tune's WORK/export/model.pt)")
    build.add_argument("--bench", type=Path, required=True, help="the bench world")
    build.add_argument("--out", type=Path, default=PACKAGE_MODEL)
    build.add_argument("--force", action="store_true", help="install even when not better on the bench set")
    again = sub.add_parser("reexport", help="export the installed model's checkpoint with today's graph code "
                                            "(same weights, same card), install when the outputs agree")
    again.add_argument("run_dir", type=Path, help="the run whose last.pt the installed model was built from")
    again.add_argument("--out", type=Path, default=PACKAGE_MODEL)
    again.add_argument("--changes", default=None, metavar="SENTENCE",
                       help="the graph reads the same weights differently on purpose (measured and shipped by a rule): "
                            "install although the outputs differ, and add SENTENCE to the card's trained_on")
    args = ap.parse_args(argv)
    if args.stage == "reexport":
        print(json.dumps(reexport_default_model(args.run_dir, args.out, changes=args.changes), indent=1))
    else:
        print(json.dumps(build_default_model(args.run_dir, args.bench, args.out, args.force), indent=1))


if __name__ == "__main__":
    main()
