"""``tvstream adapt`` on a synthetic venue where the true labels exist: teacher labels against true labels.

A venue is rendered (``--scenario``, photo plates from ``--plates`` when given, its own seed); its first
subjects' clips are the venue footage ``adapt`` sees (no labels read, except by the oracle run), the last
subjects' clips are held out and scored against their true labels. On those held-out clips: the shipped
default model (before adaptation) and one model per recipe (``--recipes``: teacher, what learns, replay), all
with the same steps and settings. Every model is scored twice: through ``tvstream run``'s path (frames it does
not report count as misses) and the model alone on every frame (the detector's box; ``model``), plus the pose
head on the labeled box (``labeled-box``: what the head alone can do). Also each adaptation's own report
(agreement with its teacher on held-out tails, teacher and student speed).

Run: ``python -m benchmarks.adapt_venue [--steps 400] [--subjects 6] [--work runs/adapt_venue]``
(resumable: every adaptation keeps its work folder). Results: ``benchmarks/results/adapt_venue.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.provenance import machine, save

RESULTS = Path(__file__).parent / "results"


def render_venue(out: Path, scenario: str, subjects: int, seconds: float, plates: Path | None,
                 textures: Path | None) -> Path:
    """The venue's clips with their labels beside them (``out/footage``) and the held-out subjects'
    (``out/heldout``): the split is by subject, the last ``subjects // 3`` (at least 1) held out."""
    from train.synth.generate import SynthConfig, synthesize_once
    from tvstream.manifest import discover

    if (out / "footage").is_dir() and (out / "heldout").is_dir():
        return out
    cfg = SynthConfig(scenario=scenario, subjects=subjects, sequences=1, seconds=seconds, width=640, height=360,
                      seed=7007, crf=(16, 34), backgrounds=str(plates) if plates else None,
                      textures=str(textures) if textures else None)
    rendered = synthesize_once(cfg, out / "rendered")
    entries = discover(rendered)
    names = sorted({e.subject for e in entries})
    held = set(names[-max(1, len(names) // 3):])
    for part in ("footage", "heldout"):
        (out / f"{part}.tmp").mkdir(parents=True, exist_ok=True)
    for e in entries:
        part = "heldout" if e.subject in held else "footage"
        video = Path(e.video)
        shutil.copy(video, out / f"{part}.tmp" / video.name)
        shutil.copy(e.labels, out / f"{part}.tmp" / video.with_suffix(".npz").name)
    for part in ("footage", "heldout"):
        (out / f"{part}.tmp").rename(out / part)
    return out


RECIPES = "mediapipe-heavy:detector,labels:detector,mediapipe-heavy:all,labels:all"
REPLAYS = ("render", "none", "cache")  # adapt's --replay; "cache": the world's pose cache given as --replay
PART_DEFAULT = "adapt's default for the part"


def parse_recipe(text: str) -> tuple[str, str, str | None]:
    """``teacher:part[+replay]`` -> (teacher, part, replay or None: adapt's default for the part)."""
    teacher, _, rest = text.partition(":")
    part, _, extra = (rest or "all").partition("+")
    if part not in ("detector", "all") or extra not in ("", *REPLAYS):
        raise SystemExit(f"{text!r}: a recipe is teacher:detector|all[+{'|'.join(REPLAYS)}]")
    return teacher, part, extra or None


def adapt(venue: Path, out: Path, recipe: str, steps: int | None, every: int | None, venv: Path | None,
          replay: Path | None) -> dict:
    """One ``tvstream adapt`` run (resumes when its work folder is there); its report."""
    teacher, part, with_replay = parse_recipe(recipe)
    if with_replay == "cache" and replay is None:
        raise SystemExit(f"{recipe}: needs --replay CACHE")
    cmd = [sys.executable, "-m", "tvstream", "-q", "adapt", str(venue), "--out", str(out), "--teacher", teacher,
           *(["--steps", str(steps)] if steps else []), *(["--every", str(every)] if every else []), "--part", part,
           *(["--venv", str(venv)] if venv else []),
           *(["--replay", str(replay) if with_replay == "cache" else with_replay] if with_replay else [])]
    tic = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"adapt ({recipe}) failed:\n{done.stderr[-3000:]}")
    report = json.loads((out.with_name(out.stem + ".adapt") / "report.json").read_text())
    report["wall_s"] = round(time.perf_counter() - tic, 1)
    return report


def scores(model: str, held: dict) -> dict:
    """The model on the held-out clips in every mode of ``bench_model``: {mode: {pck, box_iou, mpjpe, ...}}."""
    from train.posenet.evaluate import MODES, bench_model

    return {mode: bench_model(model, held, mode=mode)["groups"]["heldout"] for mode in MODES}


def main(argv: list[str] | None = None) -> dict:
    from tvstream.api import DEFAULT_MODEL
    from tvstream.manifest import discover

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("runs/adapt_venue"))
    ap.add_argument("--scenario", default="studio")
    ap.add_argument("--subjects", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--plates", type=Path, default=None, help="a folder with the venue's photo plate(s)")
    ap.add_argument("--textures", type=Path, default=None, help="photos printed on garments (data/plates/bench)")
    ap.add_argument("--steps", type=int, default=None, help="fine-tuning steps (default: adapt's for the part)")
    ap.add_argument("--every", type=int, default=None, help="the teacher's frames (default: adapt's for the part)")
    ap.add_argument("--venv", type=Path, default=None, help="the teacher's venv (default: tvstream's teacher home)")
    ap.add_argument("--out", type=Path, default=RESULTS / "adapt_venue")
    ap.add_argument("--recipes", default=RECIPES,
                    help=f"teacher:detector|all[+{'|'.join(REPLAYS)}], comma-separated (no +: adapt's default)")
    ap.add_argument("--replay", type=Path, default=None, help="the world's pose cache, for +cache recipes")
    args = ap.parse_args(argv)
    venue = render_venue(args.work / "venue", args.scenario, args.subjects, args.seconds, args.plates, args.textures)
    recipes = args.recipes.split(",")
    reports = {r: adapt(venue / "footage", args.work / f"{r.replace(':', '_').replace('+', '_')}.onnx", r,
                        args.steps, args.every, args.venv, args.replay) for r in recipes}
    held = {"heldout": [(Path(e.video), Path(e.labels)) for e in discover(venue / "heldout")]}
    table = {"default (before)": scores(str(DEFAULT_MODEL), held),
             **{f"adapted, {r}": scores(reports[r]["out"], held) for r in recipes}}
    record, header = machine()
    result = {"machine": record, "date": time.strftime("%Y-%m-%d %H:%M"), "args": {k: str(v) for k, v in
                                                                                   vars(args).items()},
              "scores": table, "reports": reports}
    lines = [f"# tvstream adapt on a synthetic venue ({args.scenario}), {header}", "",
             f"{args.subjects} subjects rendered over {'photo plates' if args.plates else 'the procedural venue'}; "
             f"{len(held['heldout'])} clips of the last subjects held out and scored against their true labels. "
             f"Fine-tuning steps: {args.steps or PART_DEFAULT}; teacher on one frame in {args.every or PART_DEFAULT}. "
             "A recipe is teacher : what learns (+ replay: other people's rows beside the venue's; none given: "
             "adapt's default, the rendered world for the whole network).", "",
             "| model | PCK@0.2 through run | PCK@0.2 model alone | box IoU (alone) | MPJPE mm (alone) | "
             "P-MPJPE mm (alone) | PCK@0.2 on the labeled box |", "|---|---:|---:|---:|---:|---:|---:|"]
    for name, s in table.items():
        run, alone, boxed = s["pipeline"], s["model"], s["labeled-box"]
        lines.append(f"| {name} | {run['pck']:.3f} | {alone['pck']:.3f} | {alone['box_iou']:.3f} | "
                     f"{alone['mpjpe']:.1f} | {alone['p_mpjpe']:.1f} | {boxed['pck']:.3f} |")
    lines += ["", "| adaptation | agreement with its teacher before / after | every | steps | labeled frames | "
              "teacher frames/s | student ms/frame | wall s |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r, rep in reports.items():
        fps = f"{rep['teacher_fps']:.1f}" if rep.get("teacher_fps") else "-"
        every, steps = rep.get("every", rep["config"]["every"]), rep.get("steps", rep["config"]["steps"])
        lines.append(f"| {r} | {rep['before']['pck']:.3f} / {rep['after']['pck']:.3f} | {every} | {steps} | "
                     f"{rep['labeled_frames']} | {fps} | {rep['after']['ms_per_frame']:.2f} | {rep['wall_s']:.0f} |")
    save(args.out, result, "\n".join(lines) + "\n")
    return result


if __name__ == "__main__":
    main()
