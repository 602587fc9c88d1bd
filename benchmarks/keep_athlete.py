"""Is the athlete kept when someone crosses? Identity switches on synthetic two-person and pillar clips.

Run: ``python -m benchmarks.keep_athlete [--seeds 3] [--model M.onnx] [--name NAME]``; writes
``benchmarks/results/NAME.{json,md}`` (NAME ``keep_athlete``). Clips (``train/synth/crossing.py``, rendered once into
``benchmarks/.clips/crossing/``): a passer-by walking across in front of the athlete, one walking behind it,
and the athlete walking behind a pillar (fully hidden ~0.6 s) or a wider one (``wall``, ~1.2 s). Each clip runs through the product's path
(``tvstream.pipeline.estimate``: tracking crop, athlete keeping, smoothing) in three modes:

- ``keep``: the default run;
- ``no-keep``: the same model with its ``detections`` output hidden (the crop follows joints, but a detector
  frame takes the detector's single soft-argmax box: the run before athlete keeping existed);
- ``no-track``: ``--no-track`` (the detector places every crop).

Every reported frame is assigned to the person whose labeled 2D joints its skeleton is nearer (mean over
the 12 core joints). A switch is a reported frame that is on another person than the previous reported
frame, or carries another track id. Also: frames on the passer-by, PCK@0.2 on the athlete's visible frames
(over the athlete's labeled-visible joints; a frame not reported counts as misses), and for the pillar clips whether the track id
after the occlusion is the one before it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from benchmarks.provenance import machine, save
from tvstream.skeleton import CORE_JOINTS

RESULTS = Path(__file__).parent / "results"
CLIPS = Path(__file__).parent / ".clips" / "crossing"
MODES = ("keep", "no-keep", "no-track")
TUNED = 12  # clips with seeds x00-x11 of each kind were used while building the athlete tracker


class _WithoutDetections:
    """A backend whose metadata hides the ``detections`` output (the runtime then cannot choose among people)."""

    def __init__(self, backend) -> None:
        from dataclasses import replace

        self._backend = backend
        self.name = backend.name
        self.metadata = replace(backend.metadata, outputs=tuple(o for o in backend.metadata.outputs
                                                                 if o != "detections"))

    def infer(self, frames, track=None):
        out = self._backend.infer(frames, track)
        out.pop("detections", None)
        return out


def clips(seeds: int) -> list:
    """The benchmark's clips, rendered when missing."""
    from train.synth.crossing import KINDS, CrossingClip, render_crossing

    found = []
    for k, kind in enumerate(KINDS):
        for s in range(seeds):
            # the tuned clips' seeds (100 + 10k + s) overlap between kinds; later ones get seeds of their own
            seed = 100 + 10 * k + s if s < TUNED else 1000 * (k + 1) + s
            name = f"{kind}_{seed:03d}"
            if (CLIPS / f"{name}_passer.npy").is_file():
                clip = CrossingClip(kind, CLIPS / f"{name}.mp4", CLIPS / f"{name}.npz", CLIPS / f"{name}_passer.npy")
            else:
                print(f"rendering {name} ...", flush=True)
                clip = render_crossing(CLIPS, kind, seed)
            found.append((s, clip))
    return found


def score_clip(records: list, labels, passer: np.ndarray, fps: float) -> dict:
    """Whose skeleton each reported frame is, switches, PCK on the athlete, and the track ids."""
    from train.metrics.keypoints import pck_hits

    core = np.asarray(CORE_JOINTS)
    who, ids, hits = [], [], 0
    for r, athlete_2d, vis, passer_2d in zip(records, labels.joints2d, labels.visible, passer):
        if not r.detected:
            continue
        d_athlete = np.linalg.norm(r.pose2d[core] - athlete_2d[core], axis=1).mean()
        d_passer = np.linalg.norm(r.pose2d[core] - passer_2d[core], axis=1).mean() if np.isfinite(passer_2d).all() else np.inf
        who.append("athlete" if d_athlete <= d_passer else "passer")
        ids.append(r.track)
        h, c = pck_hits(r.pose2d[None], athlete_2d[None], vis[None])
        hits += int(h.sum())
    total_visible = int(labels.visible[:len(records), core].sum())  # unreported visible joints count as misses
    hidden = ~labels.visible[:len(records), core].any(axis=1)  # frames where no core joint of the athlete shows
    runs = np.diff(np.flatnonzero(np.diff(np.concatenate([[0], hidden.astype(int), [0]]))))[::2]
    switches = sum(1 for a, b, i, j in zip(who, who[1:], ids, ids[1:]) if a != b or i != j)
    return {"frames": len(records), "reported": len(who), "on_passer": who.count("passer"),
            "switches": switches, "switches_per_min": switches / (len(records) / fps / 60),
            "pck_athlete": hits / max(total_visible, 1), "track_ids": sorted({i for i in ids if i is not None}),
            "hidden_s": float(runs.max(initial=0) / fps)}


def run(model: str | None, seeds: int, modes: tuple[str, ...] = MODES) -> dict:
    from tvstream.api import open_finder, open_model
    from tvstream.labels import load_labels
    from tvstream.pipeline import RunOptions, estimate
    from tvstream.sources import VideoSource

    backend, _ = open_model(model, "onnxruntime", 0)
    finder, rows = None, []
    for index, clip in clips(seeds):
        labels, passer = load_labels(clip.labels), np.load(clip.passer)
        for mode in modes:
            engine = _WithoutDetections(backend) if mode == "no-keep" else backend
            with VideoSource(str(clip.video), backend.metadata.input_size) as source:
                if finder is None:  # the clips are all 640 x 360: one finder serves them
                    finder = open_finder(model, backend, source.fit, "onnxruntime", 0)
                records = list(estimate(source, engine, RunOptions(track=mode != "no-track"), finder=finder))
                fps = source.fps or 25.0
            rows.append({"clip": clip.video.stem, "kind": clip.kind, "mode": mode, "seed_index": index,
                         **score_clip(records, labels, passer, fps)})
            print(json.dumps(rows[-1]), flush=True)
    return {"model": model or "default", "hash": backend.metadata.model_hash, "rows": rows}


def summary(rows: list[dict]) -> list[dict]:
    """Per kind and mode: switches per minute (all clips of the kind pooled), frames on the passer, PCK."""
    out = []
    for kind in sorted({r["kind"] for r in rows}):
        for mode in [m for m in MODES if any(r["mode"] == m for r in rows)]:
            part = [r for r in rows if r["kind"] == kind and r["mode"] == mode]
            minutes = sum(r["frames"] for r in part) / 25.0 / 60
            out.append({"kind": kind, "mode": mode, "clips": len(part),
                        "switches_per_min": sum(r["switches"] for r in part) / minutes,
                        "on_passer": sum(r["on_passer"] for r in part) / max(sum(r["reported"] for r in part), 1),
                        "pck_athlete": float(np.mean([r["pck_athlete"] for r in part])),
                        "one_track": sum(len(r["track_ids"]) <= 1 for r in part),
                        "hidden_s": max(r.get("hidden_s", 0.0) for r in part)})
    return out


def write(result: dict, name: str = "keep_athlete") -> None:
    """``benchmarks/results/NAME.json`` (the record) and ``.md`` (the report, printed)."""
    record, described = machine()
    result["machine"] = record
    result["summary"] = summary(result["rows"])
    lines = [f"# Keeping the athlete when someone crosses ({described})", "",
             f"Model: {result['model']} ({result['hash']}). Clips: `train/synth/crossing.py` (640x360, 25 fps, 5 s, "
             "fixed camera 8 m away); see `benchmarks/keep_athlete.py` for the modes and how frames are assigned. "
             f"The first {TUNED} clips of each kind were looked at frame by frame while the athlete tracker was built "
             "(its thresholds were set on them); the others were rendered afterwards and run once.", "",
             "| crossing | mode | clips | identity switches / min | reported frames on the passer-by | "
             "PCK@0.2 athlete | clips with one track id | longest full occlusion |", "|---|---|---|---|---|---|---|---|"]
    for s in result["summary"]:
        lines.append(f"| {s['kind']} | {s['mode']} | {s['clips']} | {s['switches_per_min']:.1f} | "
                     f"{100 * s['on_passer']:.1f}% | {s['pck_athlete']:.3f} | {s['one_track']}/{s['clips']} | "
                     f"{s['hidden_s']:.2f} s |")
    held = [r for r in result["rows"] if r["mode"] == "keep" and r.get("seed_index", 0) >= TUNED]
    if held:
        lines += ["", f"Held out (rendered after the tracker was built, run once; {len(held)} clips, `keep`): "
                  f"{sum(r['switches'] for r in held)} identity switches, "
                  f"{sum(len(r['track_ids']) > 1 for r in held)} clips with more than one track id, "
                  f"{sum(r['on_passer'] for r in held)} reported frames on the passer-by, mean PCK@0.2 on the athlete "
                  f"{np.mean([r['pck_athlete'] for r in held]):.3f}."]
    lines += ["", "Per clip:", "", "| clip | mode | reported | on passer | switches | PCK | track ids | full occlusion |",
              "|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['clip']} | {r['mode']} | {r['reported']}/{r['frames']} | {r['on_passer']} | "
                     f"{r['switches']} | {r['pck_athlete']:.3f} | {r['track_ids']} | {r.get('hidden_s', 0.0):.2f} s |")
    save(RESULTS / name, result, "\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="an exported .onnx (default: the embedded model)")
    parser.add_argument("--seeds", type=int, default=3, help="clips per kind of crossing")
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated subset of " + ", ".join(MODES))
    parser.add_argument("--name", default="keep_athlete",
                        help="the results' name in benchmarks/results (a candidate's run leaves the default's alone)")
    args = parser.parse_args()
    write(run(args.model, args.seeds, tuple(args.modes.split(","))), args.name)


if __name__ == "__main__":
    main()
