"""``synthesize``: render a labeled synthetic dataset (videos + per-video labels + manifest) for a seed.

For each subject (phenotype + appearance) and each sequence (a motion), the body is posed with anny,
placed in the venue, rendered from every camera of the rig, degraded like a real camera (sensor noise,
motion blur, lighting drift), encoded to H.264 MP4, and labeled in the foundation's format (3D joints
in camera millimetres, 2D pixels, subject box, visibility, intrinsics and extrinsics).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from train.synth.appearance import Appearance, draw_fabrics, paint
from train.synth.body import REGIONS, BodyModel, Phenotype
from train.synth.bvh import load_captures, resample
from train.synth.cameras import Camera
from train.synth.collisions import self_intersecting
from train.synth.environments import occluder
from train.synth.motions import PROCEDURAL, Motion
from train.synth.plates import load_plates
from train.synth.renderer import Ground, Lighting, Renderer, plate_warp, vertex_normals
from train.synth.scenarios import SCENARIOS, Scenario, cameras_for, ground_height, shadow_ground, venue
from tvstream.labels import CameraParams, VideoLabels, save_labels
from tvstream.manifest import VideoEntry, write_manifest
from tvstream.video_writer import VideoWriter

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""Called as ``progress(frames_done, frames_total)``."""


@dataclass(frozen=True)
class SynthConfig:
    """What to render. ``seconds`` is per sequence; each subject performs ``sequences`` motions."""

    scenario: str = "studio"
    subjects: int = 4
    sequences: int = 2
    seconds: float = 4.0
    width: int = 256
    height: int = 256
    fps: float = 25.0
    seed: int = 0
    noise: float = 2.0  # sensor noise, grey levels (std)
    blur: float = 0.15  # motion blur: weight of the previous exposure (higher ghosts on pans)
    drift: float = 0.08  # lighting drift amplitude (relative)
    crf: tuple[int, int] = (20, 20)  # H.264 quality drawn per take from this range (higher: blockier, as streams)
    test_fraction: float = 0.25  # subjects held out for testing
    labeled_fraction: float = 0.25  # subjects whose labels the few-label regressor may use
    backgrounds: str | None = None  # folder of plates (images/videos) instead of the procedural venue
    bvh: str | None = None  # folder of BVH motion capture used instead of the scenario's procedural motions
    textures: str | None = None  # folder of photos that half the garments are printed with (patches)
    shadows: bool = True  # the athlete casts a contact shadow on the ground (not in dives)
    # clothes that stand off the body, as camera footage's people wear them (anny's garments are painted on): the
    # torso, arms and legs pushed out along the surface's normals by up to this many metres, drawn per subject
    loose: float = 0.0

    def __post_init__(self) -> None:
        if self.scenario not in SCENARIOS:
            raise ValueError(f"scenario must be one of {', '.join(SCENARIOS)}, got {self.scenario!r}")
        if self.subjects < 1 or self.sequences < 1:
            raise ValueError(f"need subjects >= 1 and sequences >= 1, got {self.subjects}, {self.sequences}")
        if self.width % 2 or self.height % 2 or min(self.width, self.height) < 16:
            raise ValueError(f"size must be even and >= 16 pixels, got {self.width}x{self.height}")
        if not 0.1 <= self.seconds <= 600:
            raise ValueError(f"seconds must be in [0.1, 600], got {self.seconds}")
        if not 1 <= self.fps <= 240:
            raise ValueError(f"fps must be in [1, 240], got {self.fps}")
        if not 0 <= self.loose <= 0.2:
            raise ValueError(f"loose must be in [0, 0.2] metres, got {self.loose}")
        if not 0 <= self.crf[0] <= self.crf[1] <= 51:
            raise ValueError(f"crf must be a range within [0, 51], got {self.crf}")

    @property
    def frames(self) -> int:
        return max(2, int(round(self.seconds * self.fps)))


def subject_splits(n: int, test_fraction: float, labeled_fraction: float) -> list[str]:
    """Split of each subject: held-out ``test`` last, then a ``labeled`` pool, the rest unlabeled ``train``."""
    n_test = int(round(n * test_fraction)) if n > 1 else 0
    n_test = max(n_test, 1) if n > 1 and test_fraction > 0 else n_test
    n_lab = int(round(n * labeled_fraction)) if n - n_test > 1 else 0
    n_lab = max(n_lab, 1) if n - n_test > 1 and labeled_fraction > 0 else n_lab
    return ["train"] * (n - n_test - n_lab) + ["labeled"] * n_lab + ["test"] * n_test


def place(motion: Motion, vertices: np.ndarray, joints: np.ndarray,
          scenario: Scenario) -> tuple[np.ndarray, np.ndarray]:
    """Move pelvis-centred ``vertices (T, V, 3)`` / ``joints (T, 17, 3)`` to the motion's world position."""
    offset = motion.position.copy()  # (T, 3)
    if motion.grounded:  # lowest point of the body `lift` above the ground under the pelvis
        ground = ground_height(scenario, motion.position[:, :2])
        offset[:, 2] = ground + motion.lift - vertices[..., 2].min(axis=1)
    return vertices + offset[:, None], joints + offset[:, None]


def frame_labels(cam: Camera, joints_world: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, ...]:
    """3D joints in camera mm ``(17, 3)``, 2D ``(17, 2)``, box ``(4,)`` and visibility ``(17,)`` of one frame."""
    j_cam = cam.to_camera(joints_world) * 1000.0  # (17, 3) mm
    j2d = cam.project(joints_world)  # (17, 2)
    h, w = mask.shape
    ys, xs = np.nonzero(mask)
    if len(xs):
        box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)
    else:
        box = np.concatenate([j2d.min(0), j2d.max(0)]).astype(np.float32)
    inside = (j2d[:, 0] >= 0) & (j2d[:, 0] < w) & (j2d[:, 1] >= 0) & (j2d[:, 1] < h) & (j_cam[:, 2] > 0)
    visible = inside.copy()
    pad = np.pad(mask, 3)
    for j in np.flatnonzero(inside):  # a joint hidden by the venue (water, a wall) has no body pixels near it
        u, v = int(j2d[j, 0]) + 3, int(j2d[j, 1]) + 3
        visible[j] = pad[v - 3:v + 4, u - 3:u + 4].any()
    return j_cam.astype(np.float32), j2d.astype(np.float32), box, visible


class _Degrade:
    """Sensor noise (a bank of noise frames), motion blur and lighting drift, deterministic for a seed."""

    def __init__(self, cfg: SynthConfig, rng: np.random.Generator) -> None:
        self.blur = cfg.blur
        bank = rng.normal(0, cfg.noise, (4, cfg.height, cfg.width, 3)) if cfg.noise > 0 else None
        self.bank = None if bank is None else bank.astype(np.float32)
        self.rng = rng
        self.prev: np.ndarray | None = None

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        img = rgb.astype(np.float32)
        if self.blur > 0 and self.prev is not None:
            img = (1 - self.blur) * img + self.blur * self.prev
        self.prev = rgb.astype(np.float32)
        if self.bank is not None:
            noise = self.bank[self.rng.integers(len(self.bank))]
            img = img + np.roll(noise, int(self.rng.integers(img.shape[1])), axis=1)
        return np.clip(img + 0.5, 0, 255).astype(np.uint8)


@dataclass
class _Take:
    """One camera's view of one sequence: per-frame cameras and the posed body in world metres."""

    cams: list[Camera]
    verts: np.ndarray  # (T, V, 3)
    normals: list[np.ndarray]  # T x (V, 3)
    joints: np.ndarray  # (T, 17, 3)
    drift_phase: float
    lighting: Lighting = Lighting()
    ground: Ground | None = None  # where the athlete's shadow falls
    plate: bool = False  # a photo plate is behind: it moves with the camera
    crf: int = 20  # H.264 quality of this take


def _motion(scenario: Scenario, captures: list, body: BodyModel, cfg: SynthConfig,
            rng: np.random.Generator) -> Motion:
    """A BVH capture when the config gives some, else one of the scenario's procedural motions."""
    if captures:
        return resample(captures[int(rng.integers(len(captures)))], cfg.frames, cfg.fps, rng)
    name = scenario.motions[int(rng.integers(len(scenario.motions)))]
    return PROCEDURAL[name](body.bone_index, cfg.frames, cfg.fps, rng)


MOTION_TRIES = 4  # draws of a motion before the least self-intersecting one is kept
MAX_INTERSECTING = 0.05  # share of a motion's frames where limbs may pass through each other


def _posed_motion(scenario: Scenario, captures: list, body: BodyModel, phenotype: Phenotype, cfg: SynthConfig,
                  rng: np.random.Generator, stats: dict[str, int]) -> tuple[Motion, np.ndarray, np.ndarray]:
    """A motion posed on ``phenotype``: ``(motion, vertices (T, V, 3), joints (T, 17, 3))`` in the world. It is
    drawn again while more than ``MAX_INTERSECTING`` of its frames have limbs through each other (up to
    ``MOTION_TRIES`` draws; then the cleanest draw is kept). ``stats`` counts redraws and frames kept anyway."""
    best = None
    for _ in range(MOTION_TRIES):
        motion = _motion(scenario, captures, body, cfg, rng)
        verts, joints = body.pose(phenotype, motion.rotvecs)
        bad = int(self_intersecting(joints).sum())
        if best is None or bad < best[0]:
            best = (bad, motion, verts, joints)
        if bad <= MAX_INTERSECTING * len(joints):
            break
        stats["motions_redrawn"] += 1
    bad, motion, verts, joints = best
    stats["frames_self_intersecting"] += bad * (4 if scenario.rig == "studio" else 1)
    return (motion, *place(motion, verts, joints, scenario))


# how far each region's clothes stand off, as a share of SynthConfig.loose (hands, feet and head stay bare)
LOOSE_SHARE = {"torso": 1.0, "arms": 0.7, "legs": 0.8}


def loose_clothes(rng: np.random.Generator, vertex_region: np.ndarray, loose: float) -> np.ndarray:
    """Per vertex, how far (metres) one subject's clothes stand off its body: per region a draw in
    ``[0, LOOSE_SHARE * loose]`` (``vertex_region``: indices into ``body.REGIONS``). ``rng`` is the subject's own
    stream for this, so its bodies, motions and cameras are the same whatever ``loose`` is."""
    draws = rng.uniform(0, 1, len(REGIONS))
    share = np.array([LOOSE_SHARE.get(r, 0.0) for r in REGIONS])
    return (draws * share * loose)[vertex_region].astype(np.float32)


def _render_take(renderer: Renderer, body_mesh, env, cfg: SynthConfig, take: _Take, degrade: _Degrade,
                 path: Path, tick: Callable[[], None]) -> tuple[np.ndarray, ...]:
    """Render, degrade and encode one take; its labels ``(joints3d, joints2d, box, visible)`` stacked over frames."""
    rows = []
    with VideoWriter(path, cfg.width, cfg.height, cfg.fps, crf=take.crf) as writer:
        for t, cam in enumerate(take.cams):
            body_mesh.update(take.verts[t], take.normals[t])
            gain = 1 + cfg.drift * np.sin(2 * np.pi * t / (4 * cfg.fps) + take.drift_phase)
            warp = plate_warp(take.cams[0], cam) if take.plate else None
            rgb, mask = renderer.render(cam, take.lighting.scaled(gain), clear=env.sky, plate_warp=warp,
                                        ground=take.ground)
            writer.write(degrade(rgb))
            rows.append(frame_labels(cam, take.joints[t], mask))
            tick()
    return tuple(np.stack(column) for column in zip(*rows))


def _occluder(renderer: Renderer, scenario: Scenario, cam: Camera, joints: np.ndarray, plate: np.ndarray | None,
              rng: np.random.Generator):
    """For a share of the takes, a prop between the camera and the athlete, textured from the plate when
    there is one; returns the renderer's mesh (to remove after the take) or None."""
    if scenario.occluders <= 0 or rng.random() >= scenario.occluders:
        return None
    texture = None
    if plate is not None:  # a patch of the photograph: real texture, and it matches the scene
        size = min(plate.shape[0], plate.shape[1], 96)
        y, x = rng.integers(plate.shape[0] - size + 1), rng.integers(plate.shape[1] - size + 1)
        texture = np.ascontiguousarray(plate[y:y + size, x:x + size])
    mesh = occluder(rng, cam.center, joints[:, 0], texture)
    if mesh is None:
        return None
    return renderer.add_mesh(mesh.faces, mesh.colors, subject=False, vertices=mesh.vertices, uvs=mesh.uvs,
                             texture=mesh.texture)


def _camera_params(cams: list[Camera]) -> tuple[CameraParams, CameraParams | None]:
    """The labels' camera (K, R, t in mm) and, for a moving camera, its per-frame parameters."""
    first = cams[0]
    camera = CameraParams(K=first.K.astype(np.float32), R=first.R.astype(np.float32),
                          t=(first.t * 1000).astype(np.float32))
    if all(cam is first for cam in cams):
        return camera, None
    return camera, CameraParams(K=np.stack([c.K for c in cams]).astype(np.float32),
                                R=np.stack([c.R for c in cams]).astype(np.float32),
                                t=np.stack([c.t * 1000 for c in cams]).astype(np.float32))


def synthesize_once(cfg: SynthConfig, out: Path, progress: Progress | None = None) -> Path:
    """The dataset of ``cfg`` rendered into ``out`` once: a stopped render starts again from nothing
    (``out.partial`` is removed), a finished one (its manifest written) is kept."""
    if (out / "manifest.json").is_file():
        return out
    partial = out.with_name(out.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    synthesize(cfg, partial, progress=progress)  # the manifest names its videos relative to its folder
    partial.rename(out)
    return out


def synthesize(cfg: SynthConfig, out_dir: str | os.PathLike, progress: Progress | None = None,
               body: BodyModel | None = None) -> list[VideoEntry]:
    """Render the dataset of ``cfg`` into ``out_dir`` (videos/, labels/, manifest.json); returns its entries."""
    out = Path(out_dir)
    (out / "videos").mkdir(parents=True, exist_ok=True)
    (out / "labels").mkdir(parents=True, exist_ok=True)
    scenario = SCENARIOS[cfg.scenario]
    root = np.random.SeedSequence(cfg.seed)
    world_seed, *subject_seeds = root.spawn(cfg.subjects + 1)
    world_rng = np.random.default_rng(world_seed)
    body = body or BodyModel()
    env = venue(scenario, world_rng)
    # a studio is one calibrated rig for every take (as Human3.6M): fixed cameras, shared backgrounds
    studio_rig = ([c[0] for c in cameras_for(scenario, cfg.width, cfg.height, np.zeros((1, 17, 3)), world_rng)]
                  if scenario.rig == "studio" else None)
    plates = load_plates(cfg.backgrounds, cfg.width, cfg.height) if cfg.backgrounds else []
    photos = load_plates(cfg.textures, 160, 90) if cfg.textures else []  # fabric patches: a fifth of a photo wide
    # a shadow needs a ground where the scene has one: the procedural venues, not a photo (whose ground, if
    # it shows one, is not our plane; shadows over photos cost MediaPipe 0.12 on drawn cameras,
    # benchmarks/results/render_realism.md)
    ground = shadow_ground(scenario) if cfg.shadows and not plates else None
    captures = load_captures(cfg.bvh, body) if cfg.bvh else []
    renderer = Renderer(cfg.width, cfg.height)
    if not plates:
        for mesh in env.meshes:
            renderer.add_mesh(mesh.faces, mesh.colors, subject=False, vertices=mesh.vertices, uvs=mesh.uvs,
                              texture=mesh.texture)
    body_mesh = None  # added with the first subject's colours
    n_rig = 4 if scenario.rig == "studio" else 1
    total = cfg.subjects * cfg.sequences * n_rig * cfg.frames
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    entries: list[VideoEntry] = []
    splits = subject_splits(cfg.subjects, cfg.test_fraction, cfg.labeled_fraction)
    stats = {"motions_redrawn": 0, "frames_self_intersecting": 0, "frames": total}
    try:
        for s, seed in enumerate(subject_seeds):
            rng = np.random.default_rng(seed)
            # fabrics and encoding quality draw from streams of their own: turning them off or on leaves the
            # bodies, motions, cameras and lights of a seed as they are
            fabric_rng, crf_rng = (np.random.default_rng(child) for child in seed.spawn(2))
            standoff = loose_clothes(np.random.default_rng(seed.spawn(1)[0]), body.vertex_region, cfg.loose)
            subject = f"S{s + 1:02d}"
            phenotype = Phenotype.sample(rng)
            appearance = Appearance.sample(rng, scenario.outfit)
            fabrics = draw_fabrics(fabric_rng, photos)
            rest_v, rest_j = body.pose(phenotype, body.zero_pose(1))
            colors = paint(appearance, rest_v[0], body.vertex_region, rest_j[0, 10], fabrics)
            if body_mesh is None:
                body_mesh = renderer.add_mesh(body.faces, colors, subject=True)
            else:
                body_mesh.set_colors(colors)
            for k in range(cfg.sequences):
                motion, verts, joints = _posed_motion(scenario, captures, body, phenotype, cfg, rng, stats)
                sequence = f"{subject}_{k + 1:02d}_{motion.name}"
                normals = [vertex_normals(v, body.faces) for v in verts]
                if cfg.loose > 0:  # the clothed surface, and its own normals for the light
                    verts = verts + np.stack(normals) * standoff[None, :, None]
                    normals = [vertex_normals(v, body.faces) for v in verts]
                rigs = ([[cam] * cfg.frames for cam in studio_rig] if studio_rig is not None
                        else cameras_for(scenario, cfg.width, cfg.height, joints, rng))
                drift_phase = rng.uniform(0, 2 * np.pi)
                for c, cams in enumerate(rigs):
                    name = f"{sequence}_c{c}"
                    plate = plates[int(rng.integers(len(plates)))] if plates else None
                    renderer.set_plate(plate)
                    degrade = _Degrade(cfg, np.random.default_rng(rng.integers(2**32)))
                    # drawn only by scenarios that vary them, so the other scenarios' renders stay as they were
                    lighting = Lighting.sample(rng) if scenario.lighting == "drawn" else Lighting()
                    prop = _occluder(renderer, scenario, cams[0], joints, plate, rng)
                    crf = int(crf_rng.integers(cfg.crf[0], cfg.crf[1] + 1))
                    take = _Take(cams, verts, normals, joints, drift_phase, lighting, ground, plate is not None, crf)
                    try:
                        j3, j2, boxes, vis = _render_take(renderer, body_mesh, env, cfg, take, degrade,
                                                          out / "videos" / f"{name}.mp4", tick)
                    finally:
                        if prop is not None:
                            renderer.remove_mesh(prop)
                    camera, frame_cameras = _camera_params(cams)
                    labels = VideoLabels(frames=np.arange(len(cams)), joints3d=j3, joints2d=j2, box=boxes,
                                         visible=vis, camera=camera, subject=subject, sequence=sequence,
                                         camera_id=f"c{c}", frame_cameras=frame_cameras)
                    save_labels(out / "labels" / f"{name}.npz", labels)
                    entries.append(VideoEntry(video=out / "videos" / f"{name}.mp4",
                                              labels=out / "labels" / f"{name}.npz", subject=subject,
                                              sequence=sequence, camera=f"c{c}", split=splits[s]))
    finally:
        renderer.close()
    (out / "synth_config.json").write_text(json.dumps(asdict(cfg), indent=1) + "\n")
    (out / "synth_stats.json").write_text(json.dumps(stats, indent=1) + "\n")
    write_manifest(out / "manifest.json", entries)  # last: a dataset with a manifest is complete
    return entries
