"""Clips with a second person or a pillar in the way: does the run keep the athlete?

A fixed camera 8 m from the athlete, on open ground. The athlete (labeled, the subject mask) performs an
on-the-spot motion or walks sideways; the way is crossed by:

- ``front``: a passer-by walking across, 2.5 m in front of the athlete (bigger, and covering it);
- ``behind``: a passer-by jogging across, 2.5 m behind it;

the passer-by enters the frame after the first frame (the athlete is alone when the run starts) and passes the
athlete in the middle of the clip;
- ``pillar``: no passer-by; the athlete walks behind a pillar 4 m from the camera and is fully hidden for
  about 0.6 s (partly for about 1.4 s);
- ``wall``: the same behind a 1 m wide pillar: fully hidden for about 1.2 s.

Each clip writes its video (H.264), the athlete's labels (the project's ``.npz`` format) and the passer-by's 2D
joints (``<name>_passer.npy``, ``(T, 17, 2)`` pixels, NaN where there is none), so a benchmark can tell whose
skeleton the run reported.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from train.landmark_tune.crops import shard_recipe, square
from train.synth.appearance import Appearance, paint
from train.synth.body import BodyModel, Phenotype
from train.synth.cameras import make_camera
from train.synth.environments import box
from train.synth.generate import frame_labels, place
from train.synth.motions import PROCEDURAL
from train.synth.renderer import Renderer, vertex_normals
from train.synth.scenarios import SCENARIOS, venue
from tvstream.json_documents import write_text_atomic
from tvstream.labels import CameraParams, VideoLabels, load_labels, save_labels
from tvstream.manifest import MANIFEST_NAME, VideoEntry, write_manifest
from tvstream.video_writer import VideoWriter

KINDS = ("front", "behind", "pillar", "wall")
PASSER_KINDS = ("front", "behind")  # the kinds with a passer-by (the others hide the athlete behind a pillar)
OCCLUDER_WIDTH = {"pillar": 0.6, "wall": 1.0}  # m, 4 m from the camera
ON_THE_SPOT = ("squat", "arm_swings", "jump", "turn")
CAMERA_DISTANCE = 8.0  # m, camera to the athlete's line
HFOV = 50.0  # degrees


@dataclass(frozen=True)
class CrossingClip:
    """One clip's files and what crosses the athlete."""

    kind: str
    video: Path
    labels: Path
    passer: Path


def _walker(body: BodyModel, phenotype: Phenotype, frames: int, fps: float, rng: np.random.Generator,
            x0: float, y: float, speed: float) -> tuple[np.ndarray, np.ndarray]:
    """A body walking along +x from ``x0`` at depth ``y``: world vertices (T, V, 3) and joints (T, 17, 3)."""
    motion = PROCEDURAL["walk"](body.bone_index, frames, fps, rng)
    motion.rotvecs[:, 0] = [0.0, 0.0, np.pi / 2]  # facing +x (yaw pi/2 about world z)
    t = np.arange(frames) / fps
    motion.position[:] = np.stack([x0 + speed * t, np.full(frames, y), np.zeros(frames)], axis=1)
    return place(motion, *body.pose(phenotype, motion.rotvecs), SCENARIOS["varied"])


def _dressed(body: BodyModel, rng: np.random.Generator) -> tuple[Phenotype, np.ndarray]:
    phenotype = Phenotype.sample(rng)
    rest_v, rest_j = body.pose(phenotype, body.zero_pose(1))
    return phenotype, paint(Appearance.sample(rng, "casual"), rest_v[0], body.vertex_region, rest_j[0, 10])


def render_crossing(out_dir: str | Path, kind: str, seed: int, width: int = 640, height: int = 360,
                    seconds: float = 5.0, fps: float = 25.0, body: BodyModel | None = None,
                    progress: Callable[[], None] | None = None) -> CrossingClip:
    """Render one clip of ``kind`` (:data:`KINDS`) into ``out_dir``; deterministic for ``seed``."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    body = body or BodyModel()
    frames = int(round(seconds * fps))
    name = f"{kind}_{seed:03d}"
    phenotype, colours = _dressed(body, rng)
    if kind in OCCLUDER_WIDTH:  # the athlete walks behind the pillar, hidden around the middle of the clip
        verts, joints = _walker(body, phenotype, frames, fps, rng, -1.2 * seconds / 2, 0.0, 1.2)
    else:
        motion = PROCEDURAL[ON_THE_SPOT[int(rng.integers(len(ON_THE_SPOT)))]](body.bone_index, frames, fps, rng)
        motion.position[:] = [rng.uniform(-0.5, 0.5), 0.0, 0.0]
        verts, joints = place(motion, *body.pose(phenotype, motion.rotvecs), SCENARIOS["varied"])
    camera = make_camera(width, height, HFOV, [0.0, -CAMERA_DISTANCE, 1.5], [0.0, 0.0, 1.0])
    renderer = Renderer(width, height)
    env = venue(SCENARIOS["varied"], rng)
    for mesh in env.meshes:
        renderer.add_mesh(mesh.faces, mesh.colors, subject=False, vertices=mesh.vertices, uvs=mesh.uvs,
                          texture=mesh.texture)
    athlete = renderer.add_mesh(body.faces, colours, subject=True)
    passer_mesh, passer_joints = None, None
    if kind in OCCLUDER_WIDTH:
        pillar = box([0.0, -CAMERA_DISTANCE / 2, 1.5], [OCCLUDER_WIDTH[kind], 0.6, 3.0], (0.55, 0.5, 0.45))
        renderer.add_mesh(pillar.faces, pillar.colors, subject=False, vertices=pillar.vertices)
    else:
        passer_pheno, passer_colours = _dressed(body, rng)
        depth = -2.5 if kind == "front" else 2.5
        x0 = -((CAMERA_DISTANCE + depth) * np.tan(np.radians(HFOV / 2)) + 0.6)  # just outside the view
        passer_verts, passer_joints = _walker(body, passer_pheno, frames, fps, rng, x0, depth, -x0 / (seconds / 2))
        passer_mesh = renderer.add_mesh(body.faces, passer_colours, subject=False)
    rows = []
    try:
        with VideoWriter(out / f"{name}.mp4", width, height, fps) as writer:
            for t in range(frames):
                athlete.update(verts[t], vertex_normals(verts[t], body.faces))
                if passer_mesh is not None:
                    passer_mesh.update(passer_verts[t], vertex_normals(passer_verts[t], body.faces))
                rgb, mask = renderer.render(camera, clear=env.sky)
                writer.write(rgb)
                rows.append(frame_labels(camera, joints[t], mask))
                if progress is not None:
                    progress()
    finally:
        renderer.close()
    j3, j2, boxes, visible = (np.stack(c) for c in zip(*rows))
    params = CameraParams(K=camera.K.astype(np.float32), R=camera.R.astype(np.float32),
                          t=(camera.t * 1000).astype(np.float32))
    save_labels(out / f"{name}.npz", VideoLabels(frames=np.arange(frames), joints3d=j3, joints2d=j2, box=boxes,
                                                 visible=visible, camera=params, subject="athlete",
                                                 sequence=name, camera_id="c0"))
    passer = (np.stack([camera.project(j) for j in passer_joints]) if passer_joints is not None
              else np.full((frames, 17, 2), np.nan))
    np.save(out / f"{name}_passer.npy", passer.astype(np.float32))
    return CrossingClip(kind, out / f"{name}.mp4", out / f"{name}.npz", out / f"{name}_passer.npy")


# ---------------------------------------------------------------------------------- a training shard of crossings

SHARD_SCENARIO = "varied"  # the venue the clips are rendered in (SCENARIOS["varied"]): the tune's scenario group


def overlapping(labels: VideoLabels, passer: np.ndarray, margin: float) -> np.ndarray:
    """``(N,)`` bool: label rows whose frame has a joint of the passer-by (``passer (T, 17, 2)`` pixels, NaN where
    there is none) inside the athlete's crop: the square of ``margin`` x its labeled box's longer side."""
    keep = np.zeros(len(labels), bool)
    for row, frame in enumerate(labels.frames):
        if not np.isfinite(labels.box[row]).all():
            continue
        cx, cy, side = square(labels.box[row], margin)
        joints = passer[frame][np.isfinite(passer[frame]).all(-1)]
        keep[row] = bool((np.abs(joints - [cx, cy]) <= side / 2).all(-1).any())
    return keep


def render_shard(out_dir: str | Path, kind: str, seeds: range, margin: float = 1.25, width: int = 640,
                 height: int = 360, progress: Callable[[], None] | None = None) -> list[Path]:
    """A rendered shard for ``train.landmark_tune`` (``--renders``): a clip of ``kind`` per seed, each labeled only
    on the frames where the passer-by is inside the athlete's crop (:func:`overlapping`), so every crop the tune
    cuts from it holds two people and names the centred one.
    Writes ``manifest.json`` (the clips in seed order) and ``synth_config.json`` (its scenario, :data:`SHARD_SCENARIO`;
    the seeds); a clip already written is not rendered again. Returns the label files."""
    if kind not in PASSER_KINDS:
        raise ValueError(f"a crossing shard needs a passer-by: kind {' or '.join(PASSER_KINDS)}, got {kind!r}")
    out = Path(out_dir)
    entries, written = [], []
    for seed in seeds:
        name = f"{kind}_{seed:03d}"
        if not (out / f"{name}.mp4").is_file() or not (out / f"{name}_passer.npy").is_file():
            render_crossing(out, kind, seed, width, height, progress=progress)
        labels = load_labels(out / f"{name}.npz")
        keep = overlapping(labels, np.load(out / f"{name}_passer.npy"), margin)
        if not keep.any():
            continue
        save_labels(out / f"{name}_overlap.npz", labels.take(keep))
        entries.append(VideoEntry(video=out / f"{name}.mp4", labels=out / f"{name}_overlap.npz", subject=kind,
                                  sequence=name))
        written.append(out / f"{name}_overlap.npz")
    recipe = {"scenario": SHARD_SCENARIO, "kind": kind, "seeds": [seeds.start, seeds.stop], "margin": margin,
              "size": [width, height]}
    write_text_atomic(out / "synth_config.json", json.dumps(recipe, indent=1) + "\n")
    write_manifest(out / MANIFEST_NAME, entries)
    return written


def shard_kind(shard: str | Path) -> str | None:
    """The crossing a shard :func:`render_shard` wrote holds ("front" or "behind"), else None (another shard)."""
    kind = shard_recipe(Path(shard)).get("kind")
    return kind if kind in PASSER_KINDS else None


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Render a training shard of crossings for train.landmark_tune: "
                                             "clips labeled where a passer-by is inside the athlete's crop.")
    ap.add_argument("--out", type=Path, required=True, help="the shard's folder (give it to --renders)")
    ap.add_argument("--kind", choices=PASSER_KINDS, default="behind")
    ap.add_argument("--seeds", type=int, nargs=2, default=(50000, 50036), metavar=("FIRST", "STOP"),
                    help="clip seeds FIRST..STOP-1 (keep them apart from benchmarks.keep_athlete's, 100-6000)")
    args = ap.parse_args(argv)
    files = render_shard(args.out, args.kind, range(*args.seeds))
    print(f"{len(files)} clips labeled on their crossings in {args.out}")


if __name__ == "__main__":
    main()
