"""``python -m train.landmark_tune``: the landmark network's fine-tuning, stage by stage in a work folder.

Every failure is one line on stderr (``error: ...``) and a named exit code (``tvstream.errors.ExitStatus``);
``--traceback`` re-raises instead. Progress goes to stderr; the result's path to stdout as one JSON line.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import replace
from pathlib import Path

from train.landmark_tune.config import OCCLUDE_ROWS, RENDER_DRAWS, TRUNKS, LandmarkTuneConfig
from tvstream.errors import CheckpointError, ExitStatus, LabelError, TvstreamError

EPILOG = """stages (each skipped when its output is in WORK; a stopped run goes on where it stopped):
  crops      WORK/crops/{render,real}.npz  256 px crops of the labeled boxes (jittered) and their targets
  tune       WORK/tune/last.pt             the whole network fine-tuned (resumed from its last checkpoint)
  presence   WORK/presence/head.pt         its pose flag retrained on people vs person-free plate squares
  readout3d  WORK/readout3d/head.pt        its own 3D convolution fitted by ridge regression
  export     WORK/export/model.pt, OUT     the head behind the init's detectors, exported to ONNX

WORK keeps its config (landmark_tune.json): a run with other settings there is refused, naming them.
Defaults are session 45's recipe (benchmarks/results/s45_rule.md: LFT6 + LFT6P + the ridge readout)."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    d = LandmarkTuneConfig()
    ap = argparse.ArgumentParser(prog="python -m train.landmark_tune", epilog=EPILOG,
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 description="Fine-tune MediaPipe's landmark network on rendered and real people's "
                                             "crops, retrain its pose flag, refit its 3D readout and export it.")
    ap.add_argument("--renders", nargs="+", required=True, metavar="DIR",
                    help="rendered shards (a folder with a manifest.json, or a folder of such folders); each "
                         f"shard's first {d.skip_clips} clips are left out (its design set)")
    ap.add_argument("--real", required=True, metavar="DIR", help="real people's clips with 2D labels (the cut-outs)")
    ap.add_argument("--plates", required=True, metavar="DIR", help="person-free photos (the pose flag's negatives)")
    ap.add_argument("--work", required=True, type=Path, metavar="WORK", help="the work folder (created)")
    ap.add_argument("--out", required=True, type=Path, metavar="OUT", help="the model to write (.onnx)")
    ap.add_argument("--config", type=Path, metavar="FILE",
                    help="a JSON file of settings (LandmarkTuneConfig fields); the flags below override it")
    ap.add_argument("--trunk", choices=TRUNKS, help=f"the landmark network (default {d.trunk})")
    ap.add_argument("--head-init", metavar="MODEL",
                    help="start from this model's head (a .onnx, a posenet .pt or 'default') instead of MediaPipe's")
    ap.add_argument("--steps", type=int, metavar="N", help=f"fine-tuning steps (default {d.steps})")
    ap.add_argument("--lr", type=float, help=f"fine-tuning learning rate (default {d.lr})")
    ap.add_argument("--blend", type=float, metavar="B",
                    help=f"keep the start's weights + B x the tune's change (default {d.blend}: the tuned network; "
                         "0.5 halfway back to MediaPipe's, which reads real people better)")
    ap.add_argument("--early-blend", type=float, metavar="B",
                    help=f"the same for the early layers alone, those reading the crop at 1/1 to 1/8 of its size "
                         "(default: --blend's; 0.5: session 52's)")
    ap.add_argument("--soup", nargs="+", metavar="WORK",
                    help="average the tune, weight for weight, with these other draws of it (work folders or their "
                         "tune/last.pt: the same settings but --seed) before the blends (default: none)")
    ap.add_argument("--freeze-early", action="store_true", default=None,
                    help="tune every layer but the early ones (those --early-blend names): they stay the start's")
    ap.add_argument("--early-lr", type=float, metavar="S",
                    help=f"the early layers' learning rate as this share of --lr (default {d.early_lr}; "
                         "--freeze-early is 0)")
    ap.add_argument("--early-distill", type=float, metavar="W",
                    help=f"hold the early layers' map on real people's crops to the start network's, at this "
                         f"weight (default {d.early_distill}: not held)")
    ap.add_argument("--render-degrade", type=float, metavar="P",
                    help=f"blur and noise this share of the rendered crops (default {d.render_degrade_p})")
    ap.add_argument("--occlude", type=float, metavar="P",
                    help=f"paste an occluder (a rectangle of a plate photo) on this share of the crops, the labels "
                         f"kept: people partly hidden, read whole (default {d.occlude_p})")
    ap.add_argument("--occlude-rows", choices=OCCLUDE_ROWS,
                    help=f"which crops --occlude may cover: rendered and real, or the real alone "
                         f"(default {d.occlude_rows})")
    ap.add_argument("--render-draw", choices=RENDER_DRAWS,
                    help=f"draw the rendered crops per crop, per shard or per scenario, each as often as each other "
                         f"(default {d.render_draw})")
    ap.add_argument("--presence-steps", type=int, metavar="N", help=f"pose-flag steps (default {d.presence_steps})")
    ap.add_argument("--seed", type=int, help=f"crops' jitter, batches, fresh weights (default {d.seed})")
    ap.add_argument("--threads", type=int, help=f"torch threads (default {d.threads})")
    ap.add_argument("--device", help=f"cpu or cuda (default {d.device})")
    ap.add_argument("--traceback", action="store_true", help="re-raise errors instead of one line")
    return ap.parse_args(argv)


def make_config(args: argparse.Namespace) -> LandmarkTuneConfig:
    """The run's config: ``--config``'s file, then the flags; the folders checked and made absolute."""
    for flag, folder in [("--renders", r) for r in args.renders] + [("--real", args.real), ("--plates", args.plates)]:
        if not Path(folder).is_dir():
            raise LabelError(f"{flag} {folder}: no such folder")
    base = {}
    if args.config is not None:
        try:
            base = json.loads(args.config.read_text())
        except (OSError, ValueError) as exc:
            raise LabelError(f"--config {args.config}: not a readable JSON file ({exc})") from None
    cfg = LandmarkTuneConfig.from_dict(base)
    flags = {"trunk": args.trunk, "steps": args.steps, "lr": args.lr, "presence_steps": args.presence_steps,
             "render_draw": args.render_draw, "blend": args.blend,
             "early_blend": args.early_blend, "freeze_early": args.freeze_early,
             "early_lr": args.early_lr, "early_distill": args.early_distill,
             "render_degrade_p": args.render_degrade, "occlude_p": args.occlude,
             "occlude_rows": args.occlude_rows,
             "seed": args.seed, "threads": args.threads, "device": args.device}
    paths = {"renders": tuple(str(Path(r).resolve()) for r in args.renders), "real": str(Path(args.real).resolve()),
             "plates": str(Path(args.plates).resolve())}
    if args.soup is not None:
        from train.landmark_tune.tune import soup_checkpoint

        missing = [w for w in args.soup if not soup_checkpoint(w).is_file()]
        if missing:
            raise CheckpointError(f"--soup {missing[0]}: no tune checkpoint there (a work folder with tune/last.pt, "
                                  "or the file)")
        paths["soup"] = tuple(str(Path(w).resolve()) for w in args.soup)
    if args.head_init is not None:
        if args.head_init != "default" and not Path(args.head_init).is_file():
            raise CheckpointError(f"--head-init {args.head_init}: no such model file")
        paths["head_init"] = args.head_init if args.head_init == "default" else str(Path(args.head_init).resolve())
    return replace(cfg, **paths, **{k: v for k, v in flags.items() if v is not None})


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stderr)
    try:
        from train.landmark_tune.pipeline import run

        result = run(make_config(args), args.work, args.out)
    except KeyboardInterrupt:
        print("interrupted (run it again to go on)", file=sys.stderr)
        sys.exit(ExitStatus.INTERRUPTED)
    except TvstreamError as exc:
        if args.traceback:
            raise
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except ValueError as exc:  # a setting out of range (LandmarkTuneConfig's checks)
        if args.traceback:
            raise
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(ExitStatus.USAGE)
    except Exception as exc:  # a bug, not a user mistake: say so, in one line
        if args.traceback:
            raise
        print(f"internal error: {type(exc).__name__}: {exc} (rerun with --traceback)", file=sys.stderr)
        sys.exit(ExitStatus.ERROR)
    print(json.dumps({"model": str(result)}))


if __name__ == "__main__":
    main()
