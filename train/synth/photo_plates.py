"""Background plates cut from real photographs, split by photo into a training and a bench set.

Real photographs behind the synthetic athletes teach a pose network what clutter looks like outside our
procedural venues. Debian ships permissively licensed photo sets as desktop-wallpaper packages; this module
unpacks them (``apt-get download`` + ``dpkg -x``, no root install), and cuts random 16:9 windows (random
scale, position and mirror) out of each photo as PNG plates for ``tvstream synth --backgrounds``. Photos,
not windows, are split between ``train`` and ``bench``, so the bench set never shows a training photo.
``sources.json`` records every plate's photo, package and licence file.

Run::

    python -m train.synth.photo_plates --out data/plates --per-photo 6
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import tempfile
from pathlib import Path

import av
import numpy as np

from tvstream.errors import SourceError

log = logging.getLogger(__name__)

PACKAGES = ("gnome-backgrounds", "mate-backgrounds", "plasma-workspace-wallpapers", "ukui-wallpapers")
PHOTO_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp")
MIN_SIDE = 720  # smaller files are thumbnails and screenshots


def unpack_packages(packages: tuple[str, ...], into: Path) -> dict[str, Path]:
    """Download and unpack Debian packages into ``into``; returns package -> its unpacked root."""
    roots = {}
    for name in packages:
        root = into / name
        if not root.is_dir():  # unpacked beside it and renamed, so a stopped unpack is redone, not half-used
            into.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory(dir=into) as part:
                try:
                    subprocess.run(["apt-get", "download", name], cwd=tmp, check=True, capture_output=True)
                except (OSError, subprocess.CalledProcessError) as exc:
                    raise SourceError(f"cannot download the Debian package {name} ({exc})") from None
                deb = next(Path(tmp).glob("*.deb"))
                subprocess.run(["dpkg", "-x", str(deb), str(Path(part).resolve())], check=True, capture_output=True)
                version = subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], check=True, capture_output=True,
                                         text=True).stdout.strip()
                (Path(part) / "VERSION").write_text(version + "\n")  # which release the photos came from
                Path(part).rename(root)
        roots[name] = root
    return roots


def _read_rgb(path: Path) -> np.ndarray | None:
    try:
        with av.open(str(path)) as container:
            return next(container.decode(video=0)).to_ndarray(format="rgb24")
    except (av.error.FFmpegError, StopIteration, ValueError):
        return None


def find_photos(roots: dict[str, Path]) -> list[tuple[str, Path]]:
    """(package, path) of every large photo, one file per wallpaper folder (its largest), screenshots left out."""
    best: dict[Path, tuple[int, str, Path]] = {}
    for package, root in roots.items():
        for path in sorted(root.rglob("*")):
            if path.suffix.lower() not in PHOTO_EXTENSIONS or "screenshot" in path.name or "dark" in str(path):
                continue
            key = path.parent.parent if path.parent.name.startswith("images") else path
            size = path.stat().st_size
            if key not in best or size > best[key][0]:
                best[key] = (size, package, path)
    return [(package, path) for _, package, path in sorted(best.values(), key=lambda v: str(v[2]))]


def cut_plates(photo: np.ndarray, count: int, size: tuple[int, int], rng: np.random.Generator) -> list[np.ndarray]:
    """``count`` random windows of ``photo`` with the aspect of ``size = (W, H)``, resized to it."""
    import cv2

    w, h = size
    ph, pw = photo.shape[:2]
    plates = []
    for _ in range(count):
        frac = rng.uniform(0.35, 1.0)  # a window from a third of the photo to all of it
        cw = min(pw, int(ph * w / h)) * frac
        ch = cw * h / w
        x0, y0 = rng.uniform(0, pw - cw), rng.uniform(0, ph - ch)
        window = photo[int(y0):int(y0 + ch), int(x0):int(x0 + cw)]
        plate = cv2.resize(window, (w, h), interpolation=cv2.INTER_AREA)
        plates.append(plate[:, ::-1] if rng.random() < 0.5 else plate)
    return plates


def write_plates(out: Path, per_photo: int = 6, size: tuple[int, int] = (640, 360), bench_every: int = 5,
                 seed: int = 0, cache: Path | None = None) -> dict:
    """Plates under ``out/train`` and ``out/bench`` (every ``bench_every``-th photo); returns the sources record."""
    import cv2

    cache = cache or out / "_packages"
    roots = unpack_packages(PACKAGES, cache)
    rng = np.random.default_rng(seed)
    record = {"size": list(size), "per_photo": per_photo, "packages": {}, "versions": {}, "plates": []}
    for package, root in roots.items():
        licence = next(iter(sorted(root.rglob("copyright"))), None)
        record["packages"][package] = str(licence.relative_to(cache)) if licence else "see the package's copyright"
        stamp = root / "VERSION"
        record["versions"][package] = stamp.read_text().strip() if stamp.is_file() else None
    for i, (package, path) in enumerate(find_photos(roots)):
        photo = _read_rgb(path)
        if photo is None or min(photo.shape[:2]) < MIN_SIDE:
            continue
        split = "bench" if i % bench_every == bench_every - 1 else "train"
        (out / split).mkdir(parents=True, exist_ok=True)
        for k, plate in enumerate(cut_plates(photo, per_photo, size, rng)):
            name = f"{split}/p{i:03d}_{k}.png"
            cv2.imwrite(str(out / name), plate[:, :, ::-1])
            record["plates"].append({"plate": name, "package": package, "photo": str(path.relative_to(cache))})
    (out / "sources.json").write_text(json.dumps(record, indent=1) + "\n")
    return record


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--per-photo", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    record = write_plates(args.out, args.per_photo, seed=args.seed)
    splits = [p["plate"].split("/")[0] for p in record["plates"]]
    print(f"{splits.count('train')} training and {splits.count('bench')} bench plates in {args.out}")


if __name__ == "__main__":
    main()
