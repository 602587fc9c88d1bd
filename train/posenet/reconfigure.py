"""Change how a trained pose network runs, not what it learnt: a checkpoint whose weights are kept bit for bit.

Some settings of :class:`train.posenet.config.PoseNetConfig` act only at run time: whether the crop turns with
the body (``crop_rotation``, MediaPipe's region of interest), whether each crop is also read mirrored
(``mirror_read``, and what it gives where the two reads disagree: ``mirror_disagree``), what MediaPipe's person
detector reads (``person_view``), when its box is taken (``detector_min_score``, ``detector_box_scale``) and how
many of its persons the runtime sees (``detector_people``); a training run's ``--init`` takes a checkpoint's weights
whatever these are (``PoseNetConfig.same_weights``). A model also carries run settings of the runtime's own
(``config["run"]``, ``engines.metadata.RUN_SETTINGS``: how sure a read must be for the crop to follow it,
``track_conf``). A finished run can be tried with other values without a step of training; the new checkpoint says
in its fit record what it was made from.

Run: ``python -m train.posenet.reconfigure runs/s24/H/last.pt runs/s25/H_turned/last.pt --crop-rotation``; then
``python -m engines.export`` or ``python -m train.default_model build`` as for any run.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from train.checkpoint import load_checkpoint, save_checkpoint
from train.posenet.config import MIRROR_DISAGREE, PERSON_VIEWS, RUN_TIME_SETTINGS, PoseNetConfig
from train.posenet.model import PoseNet

KIND = "posenet"


def reconfigure(checkpoint: Path, out: Path, run: dict[str, float] | None = None, **settings) -> PoseNetConfig:
    """Write ``out``: ``checkpoint``'s pose network with ``settings`` (names in :data:`RUN_TIME_SETTINGS`) and the
    runtime's settings ``run`` (names in ``engines.metadata.RUN_SETTINGS``, numbers in [0, 1]) over its own."""
    from engines.metadata import RUN_SETTINGS, bad_run_settings

    unknown = set(settings) - set(RUN_TIME_SETTINGS)
    if unknown:
        raise ValueError(f"not run-time settings: {sorted(unknown)} (these are: {', '.join(RUN_TIME_SETTINGS)})")
    run = dict(run or {})
    bad = bad_run_settings(run)
    if bad:
        raise ValueError(f"run settings must be numbers in [0, 1] named in {', '.join(RUN_SETTINGS)}, got "
                         f"{ {k: run[k] for k in bad} }")
    state = load_checkpoint(checkpoint, expect={"kind": KIND}, keys=("kind",))
    cfg = replace(PoseNetConfig.from_dict(state["config"]["model"]), **settings)  # validated by __post_init__
    net = PoseNet(cfg)
    net.load_state_dict(state["model"])  # the same modules: strict
    if run:
        state["config"] = {**state["config"], "run": {**state["config"].get("run", {}), **run}}
    save_derived(out, state, net, reconfigured={"from": str(checkpoint), **settings, **run})
    return cfg


def save_derived(out: Path, state: dict, net: PoseNet, **notes) -> None:
    """Write ``out``: the run of checkpoint ``state`` (its config, its run settings and int8 choice among them, and
    its step) with ``net`` (config and weights) in place of its network, ``notes`` added to its fit record (what it
    was made from)."""
    config = {**state["config"], "model": net.cfg.to_dict(), "fit": {**state["config"].get("fit", {}), **notes}}
    save_checkpoint(out, config=config, step=state.get("step", 0), model=net)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", type=Path, help="a pose network's last.pt")
    ap.add_argument("out", type=Path, help="the new checkpoint (e.g. RUN_DIR/last.pt)")
    ap.add_argument("--crop-rotation", action=argparse.BooleanOptionalAction, default=None,
                    help="the crop turns with the body (MediaPipe's region of interest)")
    ap.add_argument("--mirror-read", action=argparse.BooleanOptionalAction, default=None,
                    help="each crop is also read mirrored and the two reads averaged (the flip test)")
    ap.add_argument("--mirror-disagree", choices=MIRROR_DISAGREE,
                    help="where the two reads disagree on which side is which: their mean, the direct read alone, "
                         "or the surer of the two")
    ap.add_argument("--person-view", choices=PERSON_VIEWS,
                    help="what MediaPipe's person detector reads: the whole frame, or the square around the picture")
    ap.add_argument("--detector-min-score", type=float, help="MediaPipe's person box is taken from this score")
    ap.add_argument("--detector-box-scale", type=float, help="the crop's half-size over MediaPipe's body radius")
    ap.add_argument("--detector-people", type=int,
                    help="how many of the persons MediaPipe's detector is sure of become people the run chooses "
                         "the athlete among (1: its best alone)")
    ap.add_argument("--detector-others-min-score", type=float,
                    help="with --detector-people > 1, the score from which its other persons are people")
    ap.add_argument("--track-conf", type=float,
                    help="the model's own track_conf: how sure a read must be for the next crop to follow it "
                         "(tvstream run --track-conf still overrides it)")
    ap.add_argument("--track-shrink", type=float,
                    help="the model's own track_shrink: how much a crop placed from joints may shrink in a frame "
                         "(tvstream run --track-shrink still overrides it)")
    args = ap.parse_args(argv)
    settings = {k: v for k, v in vars(args).items() if k in RUN_TIME_SETTINGS and v is not None}
    from engines.metadata import RUN_SETTINGS

    run = {k: getattr(args, k) for k in RUN_SETTINGS if getattr(args, k) is not None}
    if not settings and not run:
        ap.error("name at least one setting to change")
    print(reconfigure(args.checkpoint, args.out, run, **settings))


if __name__ == "__main__":
    main()
