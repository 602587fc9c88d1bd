"""The labeled training world and its held-out bench set: many synthetic datasets (shards), rendered once.

Every shard is a ``SynthConfig`` of its own seed (so its bodies, outfits, motions and cameras are its own),
rendered into ``OUT/<shard>/`` by ``synthesize``. A shard is done when its ``manifest.json`` exists; a
stopped render resumes at the first unfinished shard (a half-written shard is rendered again). Workers
take shards round-robin, so two processes keep both cores busy. The bench set uses other seeds and the
bench half of the photo plates (``train/synth/photo_plates.py``): no body, outfit or photo of it is ever
trained on.

The "varied" shards draw one camera per take (field of view 20-90 degrees, the athlete 10-95% of the frame
height, roll, pan, zoom, sometimes cut by the frame edge), a light per take and, in a fifth of the takes, a
prop in front of the athlete. Every shard: photo plates that move with the camera and take the scene's light,
a contact shadow on the venue's ground (not over photos, not in dives), half the garments printed with patches
of the split's photos,
H.264 at a quality drawn per take (CRF 16-34), motions drawn again when limbs pass through each other. Speed: a 640x360 "varied" render (2 subjects x 2 sequences x 1 s, anny posing,
rendering, noise and H.264 included) ran at 29 frames/s in one process on this 2-core CPU while a training
job shared it; the 108,000 varied frames take about an hour at that rate.

Run::

    python -m train.synth.world train --out data/world --plates data/plates [--workers 2]
    python -m train.synth.world bench --out data/bench --plates data/plates
    python -m train.synth.world train --out data/world --plates data/plates --shards varied_photo_0,ski_photo_0
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from dataclasses import asdict, replace
from multiprocessing import get_context
from pathlib import Path

from train.synth.generate import SynthConfig

# re-encoded at a quality drawn per take, from near-lossless to a busy stream's blocks
BASE = SynthConfig(width=640, height=360, sequences=2, seconds=3.0, test_fraction=0.0, labeled_fraction=1.0,
                   crf=(16, 34))


def shards(kind: str, plates: Path | None) -> dict[str, SynthConfig]:
    """The shards of ``kind`` ("train" or "bench"); photo shards are left out without ``plates``."""
    photos = str(plates / ("bench" if kind == "bench" else "train")) if plates else None
    if kind == "train":
        table = {
            **{f"studio_photo_{k}": replace(BASE, scenario="studio", subjects=10, seed=100 + k, backgrounds=photos)
               for k in range(5)},
            **{f"studio_{k}": replace(BASE, scenario="studio", subjects=10, seed=200 + k) for k in range(2)},
            **{f"ski_{k}": replace(BASE, scenario="ski", subjects=20, seconds=4.0, seed=300 + k) for k in range(3)},
            **{f"ski_photo_{k}": replace(BASE, scenario="ski", subjects=20, seconds=4.0, seed=350 + k,
                                         backgrounds=photos) for k in range(2)},
            **{f"dive_{k}": replace(BASE, scenario="dive", subjects=20, seconds=4.0, seed=400 + k) for k in range(2)},
            "dive_photo_0": replace(BASE, scenario="dive", subjects=20, seconds=4.0, seed=450, backgrounds=photos),
            # everyday and sports motions (20 families) on the studio rig
            **{f"mixed_photo_{k}": replace(BASE, scenario="mixed", subjects=10, seed=500 + k, backgrounds=photos)
               for k in range(3)},
            "mixed_0": replace(BASE, scenario="mixed", subjects=10, seed=550),
            # the everyday families framed every way real footage is (one drawn camera per take, drawn light,
            # occluders): 12 x 20 x 6 takes of 75 frames, 240 more bodies
            **{f"varied_photo_{k}": replace(BASE, scenario="varied", subjects=20, sequences=6, seed=600 + k,
                                            backgrounds=photos) for k in range(6)},
            **{f"varied_{k}": replace(BASE, scenario="varied", subjects=20, sequences=6, seed=650 + k)
               for k in range(6)},
        }
    elif kind == "bench":
        one = replace(BASE, sequences=1, seconds=2.0)
        table = {
            "bench_studio_photo": replace(one, scenario="studio", subjects=6, seed=9001, backgrounds=photos),
            "bench_studio": replace(one, scenario="studio", subjects=4, seed=9005),
            "bench_ski": replace(one, scenario="ski", subjects=8, seconds=4.0, seed=9002),
            "bench_ski_photo": replace(one, scenario="ski", subjects=6, seconds=4.0, seed=9004, backgrounds=photos),
            "bench_dive": replace(one, scenario="dive", subjects=8, seconds=4.0, seed=9003),
            "bench_mixed_photo": replace(one, scenario="mixed", subjects=8, seed=9006, backgrounds=photos),
            "bench_varied_photo": replace(one, scenario="varied", subjects=12, sequences=2, seed=9007,
                                          backgrounds=photos),
        }
    else:
        raise ValueError(f"kind must be 'train' or 'bench', got {kind!r}")
    # every body wears fabrics cut from the same split's photos (the bench's from bench photos only)
    table = {name: replace(cfg, textures=photos) for name, cfg in table.items()}
    # without plates `photos` is None, so a photo shard would silently render the procedural venue: drop it
    return {name: cfg for name, cfg in table.items() if plates is not None or "_photo" not in name}


def shard_frames(cfg: SynthConfig) -> int:
    """Labeled frames a shard holds (studio renders four cameras)."""
    from train.synth.scenarios import SCENARIOS

    return cfg.subjects * cfg.sequences * cfg.frames * (4 if SCENARIOS[cfg.scenario].rig == "studio" else 1)


def is_done(folder: Path, cfg: SynthConfig | None = None) -> bool:
    """A shard is done when its manifest exists and names only videos and labels that are there (not empty),
    and (given ``cfg``) it was rendered from that recipe."""
    manifest = folder / "manifest.json"
    if not manifest.is_file():
        return False
    if cfg is not None:
        recipe = folder / "synth_config.json"
        wanted = json.loads(json.dumps(asdict(cfg)))
        # a field added to SynthConfig since the shard was rendered counts as its default (which it rendered with)
        defaults = json.loads(json.dumps(asdict(SynthConfig())))
        stored = json.loads(recipe.read_text()) if recipe.is_file() else None
        if stored is not None:
            stored = {**{k: defaults[k] for k in wanted.keys() - stored.keys()}, **stored}
        if stored != wanted:
            print(f"  {folder.name}: rendered from another recipe; rendering the shard again", flush=True)
            return False
    from tvstream.errors import TvstreamError
    from tvstream.manifest import load_manifest

    try:
        files = [Path(f) for e in load_manifest(manifest) for f in (e.video, e.labels) if f is not None]
    except (TvstreamError, ValueError, KeyError, TypeError) as exc:
        print(f"  {folder.name}: unreadable manifest ({exc}); rendering the shard again", flush=True)
        return False
    missing = [f for f in files if not f.is_file() or f.stat().st_size == 0]
    if missing:
        print(f"  {folder.name}: {missing[0]} is missing or empty; rendering the shard again", flush=True)
    return not missing


def finished_shards(out: Path, table: dict[str, SynthConfig]) -> dict[str, SynthConfig]:
    """The shards of ``table`` whose folders in ``out`` hold a finished render (a manifest; ``.partial`` folders are
    renders stopped half-way), in the table's order."""
    return {name: cfg for name, cfg in table.items() if (out / name / "manifest.json").is_file()}


def _render(args: tuple[str, SynthConfig, Path]) -> tuple[str, float]:
    from train.synth.generate import synthesize

    name, cfg, folder = args
    if folder.exists():  # a shard stopped half-way is rendered again from its seed
        shutil.rmtree(folder)
    partial = folder.with_name(folder.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    tic = time.perf_counter()
    synthesize(cfg, partial)
    # the manifest names videos by path: rewrite it for the final folder, then move the shard in place
    manifest = json.loads((partial / "manifest.json").read_text())
    text = json.dumps(manifest).replace(str(partial), str(folder))
    (partial / "manifest.json").write_text(text)
    partial.rename(folder)
    return name, time.perf_counter() - tic


def _checks(out: Path, table: dict[str, SynthConfig]) -> dict[str, int]:
    """The shards' own counts (``synth_stats.json``): motions drawn again for self-intersection, frames kept anyway."""
    totals: dict[str, int] = {}
    for name in table:
        stats = out / name / "synth_stats.json"
        if stats.is_file():
            for key, value in json.loads(stats.read_text()).items():
                totals[key] = totals.get(key, 0) + value
    return totals


# what a render depends on besides its recipe: the bench re-rendered on 2026-12-02 scored the same model 0.713
# where the one rendered a day before scored 0.665 (benchmarks/results/sim2real.md), so say what drew it
RENDER_PACKAGES = ("anny", "numpy", "torch", "opencv-python-headless", "av", "moderngl")


def renderer_versions() -> dict[str, str | None]:
    """The installed versions of the packages a render depends on (None: not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, str | None] = {}
    for name in RENDER_PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def render_world(kind: str, out: Path, plates: Path | None, workers: int = 2, only: list[str] | None = None,
                 loose: float = 0.0) -> dict:
    """Render every unfinished shard of ``kind`` into ``out`` (``only``: these shards, a smaller world; ``loose``:
    clothes that stand off the body, ``SynthConfig.loose``); returns the world's summary (also ``world.json``)."""
    table = world = {name: replace(cfg, loose=loose) for name, cfg in shards(kind, plates).items()}
    if only:
        unknown = sorted(set(only) - set(table))
        if unknown:
            raise SystemExit(f"error: no {kind} shard named {', '.join(unknown)} (with these plates: "
                             f"{', '.join(table)})")
        table = {name: cfg for name, cfg in table.items() if name in only}
    out.mkdir(parents=True, exist_ok=True)
    todo = [(name, cfg, out / name) for name, cfg in table.items() if not is_done(out / name, cfg)]
    total = sum(shard_frames(cfg) for _, cfg, _ in todo)
    print(f"{kind}: {len(table) - len(todo)} of {len(table)} shards done; rendering {len(todo)} ({total} frames) "
          f"with {workers} worker(s)", flush=True)
    tic = time.perf_counter()
    done_frames = 0
    with get_context("spawn").Pool(workers) as pool:
        for name, seconds in pool.imap_unordered(_render, todo):
            done_frames += shard_frames(table[name])
            print(f"  {name}: {shard_frames(table[name])} frames in {seconds:.0f} s "
                  f"({done_frames}/{total} frames, {done_frames / (time.perf_counter() - tic):.1f} frames/s overall)",
                  flush=True)
    present = finished_shards(out, world)  # the world as it stands: also the shards earlier calls rendered
    summary = {"kind": kind, "frames": sum(shard_frames(c) for c in present.values()),
               "subjects": sum(c.subjects for c in present.values()),
               "shards": {name: {"scenario": c.scenario, "seed": c.seed, "subjects": c.subjects,
                                 "frames": shard_frames(c), "backgrounds": "photos" if c.backgrounds else "procedural"}
                          for name, c in present.items()},
               "plates_sources": str(plates / "sources.json") if plates else None,
               "checks": _checks(out, present),
               "versions": renderer_versions(),
               "render_seconds_this_run": round(time.perf_counter() - tic, 1),
               "frames_per_second_this_run": round(done_frames / max(time.perf_counter() - tic, 1e-9), 1)}
    (out / "world.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("kind", choices=("train", "bench"))
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--plates", type=Path, default=None, help="photo plates (python -m train.synth.photo_plates)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--shards", type=lambda s: [n for n in s.split(",") if n],
                    help="comma-separated shard names: render only these (a smaller world; default: all)")
    ap.add_argument("--loose", type=float, default=0.0,
                    help="clothes that stand off the body by up to this many metres (SynthConfig.loose)")
    args = ap.parse_args(argv)
    summary = render_world(args.kind, args.out, args.plates, args.workers, args.shards, args.loose)
    print(f"{summary['frames']} labeled frames of {summary['subjects']} bodies in {args.out}")


if __name__ == "__main__":
    main()
