"""Contact sheets: a PNG grid of frames from a dataset with its 2D labels drawn, to look at what was made."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from train.data.video_reader import FrameReader, probe_video
from tvstream.labels import load_any_labels
from tvstream.manifest import discover
from tvstream.overlay import draw_box, draw_skeleton


def contact_sheet(dataset: str | os.PathLike, out_png: str | os.PathLike, videos: int = 4, frames: int = 4,
                  tile: int = 256) -> Path:
    """Write a ``videos x frames`` grid (one row per video, frames evenly spread) with skeletons and boxes."""
    everything = discover(dataset)
    # spread the rows over the dataset (other subjects and sequences, not four views of one take)
    entries = [everything[i] for i in np.unique(np.linspace(0, len(everything) - 1, videos).round().astype(int))]
    return _sheet(entries, out_png, frames, tile)


def world_contact_sheet(world: str | os.PathLike, out_image: str | os.PathLike, per_shard: int = 1, frames: int = 4,
                        tile: int = 192, seed: int = 0) -> Path:
    """A grid of a whole world (``train.synth.world``): ``per_shard`` random videos of every shard, a row each."""
    rng = np.random.default_rng(seed)
    entries = []
    for shard in sorted(p for p in Path(world).iterdir() if (p / "manifest.json").is_file()):
        videos = discover(shard)
        entries += [videos[i] for i in sorted(rng.choice(len(videos), min(per_shard, len(videos)), replace=False))]
    return _sheet(entries, out_image, frames, tile)


def _sheet(entries: list, out_image: str | os.PathLike, frames: int, tile: int) -> Path:
    from PIL import Image  # pillow comes with torchvision (the train extra)

    first = probe_video(entries[0].video)
    tile_h = int(round(tile * first.height / first.width)) if first.width >= first.height else tile
    rows = []
    for entry in entries:
        info = probe_video(entry.video)
        scale = tile / max(info.width, info.height)
        size = (int(round(info.height * scale)) // 2 * 2, int(round(info.width * scale)) // 2 * 2)
        labels = load_any_labels(entry.labels) if entry.labels else None
        pick = np.linspace(0, info.num_frames - 1, frames).astype(int)
        tiles = []
        with FrameReader(info, size) as reader:
            for f in pick:
                img = np.array(reader.read(int(f)))
                if labels is not None:
                    row = int(labels.rows(np.array([f]))[0])
                    if row >= 0:
                        s = np.array([size[1] / info.width, size[0] / info.height])
                        draw_box(img, labels.box[row] * np.tile(s, 2))
                        draw_skeleton(img, labels.joints2d[row] * s, labels.visible[row])
                canvas = np.zeros((tile_h, tile, 3), np.uint8)
                canvas[: min(tile_h, img.shape[0]), : img.shape[1]] = img[:tile_h]
                tiles.append(canvas)
        rows.append(np.concatenate(tiles, axis=1))
    sheet = np.concatenate(rows, axis=0)
    out_image = Path(out_image)
    Image.fromarray(sheet).save(out_image, quality=85)  # PNG ignores the quality; a .jpg keeps a big sheet small
    return out_image


def main(argv: list[str] | None = None) -> None:
    import argparse

    ap = argparse.ArgumentParser(description="a contact sheet of a world of shards (one row per shard)")
    ap.add_argument("world", type=Path)
    ap.add_argument("out", type=Path, help=".png or .jpg")
    ap.add_argument("--per-shard", type=int, default=1)
    ap.add_argument("--frames", type=int, default=4)
    ap.add_argument("--tile", type=int, default=192)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    print(world_contact_sheet(args.world, args.out, args.per_shard, args.frames, args.tile, args.seed))


if __name__ == "__main__":
    main()
