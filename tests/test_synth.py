"""The synthetic world: geometry, bodies, motions, and the dataset `tvstream synth` writes."""

import shutil
import subprocess
import sys

import numpy as np
import pytest

from train.synth.cameras import make_camera, ring_of_cameras
from train.synth.rotations import euler_to_matrix, matrix_to_rotvec, rotation_between, rotvec_to_matrix

CUBE_V = np.array([[x, y, z] for x in (-.5, .5) for y in (-.5, .5) for z in (.5, 1.5)], float)
CUBE_F = np.array([[0, 1, 3], [0, 3, 2], [4, 5, 7], [4, 7, 6], [0, 1, 5], [0, 5, 4],
                   [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 3, 7], [1, 7, 5]])


def test_look_at_camera_projects_the_target_to_the_centre():
    cam = make_camera(200, 100, 60, eye=[3, -4, 2], target=[0, 0, 1])
    np.testing.assert_allclose(cam.project(np.array([0, 0, 1.0])), [99.5, 49.5], atol=1e-9)
    np.testing.assert_allclose(cam.center, [3, -4, 2], atol=1e-12)
    above = cam.project(np.array([0, 0, 2.0]))
    assert above[1] < 49.5  # world up is image up
    np.testing.assert_allclose(cam.R @ cam.R.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(cam.R) == pytest.approx(1.0)


def test_studio_ring_surrounds_the_target():
    cams = ring_of_cameras(64, 64, 4, radius=5, height_m=1.5, target=np.array([0, 0, 1.0]), hfov_deg=60)
    centres = np.array([c.center for c in cams])
    np.testing.assert_allclose(np.linalg.norm(centres[:, :2], axis=1), 5)
    np.testing.assert_allclose(centres.mean(axis=0)[:2], 0, atol=1e-9)


def test_rotation_conversions_round_trip():
    rng = np.random.default_rng(0)
    rv = rng.normal(size=(200, 3))
    rv *= (rng.uniform(0, np.pi, 200) / np.linalg.norm(rv, axis=1))[:, None]
    R = rotvec_to_matrix(rv)
    np.testing.assert_allclose(rotvec_to_matrix(matrix_to_rotvec(R)), R, atol=1e-9)
    np.testing.assert_allclose(euler_to_matrix(np.array([90.0, 0, 0]), "ZXY") @ [1, 0, 0], [0, 1, 0], atol=1e-12)
    a, b = np.array([1.0, 0, 0]), np.array([0, 0.6, 0.8])
    np.testing.assert_allclose(rotation_between(a, b) @ a, b, atol=1e-12)
    np.testing.assert_allclose(rotation_between(a, -a) @ a, -a, atol=1e-12)


@pytest.fixture(scope="module")
def renderer():
    from train.synth.renderer import Renderer

    r = Renderer(160, 120)
    yield r
    r.close()


def test_rendered_mask_matches_the_camera_projection(renderer):
    cam = make_camera(160, 120, 60, eye=[0, -5, 1.5], target=[0, 0, 1])
    mesh = renderer.add_mesh(CUBE_F, np.full((8, 3), 0.8), subject=True, vertices=CUBE_V)
    rgb, mask = renderer.render(cam)
    ys, xs = np.nonzero(mask)
    uv = cam.project(CUBE_V)
    # rasterisation covers the pixels whose centres fall inside the projected square
    np.testing.assert_allclose([xs.min(), ys.min(), xs.max(), ys.max()],
                               [np.ceil(uv[:, 0].min()), np.ceil(uv[:, 1].min()),
                                np.floor(uv[:, 0].max()), np.floor(uv[:, 1].max())], atol=1)
    assert rgb[mask].mean() > rgb[~mask].mean() * 0.5 and rgb.shape == (120, 160, 3)
    mesh.update(CUBE_V + [10, 0, 0], np.ones((8, 3)))  # moved out of view
    assert not renderer.render(cam)[1].any()


# ------------------------------------------------------------------------------- anny bodies


@pytest.fixture(scope="module")
def body():
    pytest.importorskip("anny")
    from train.synth.body import BodyModel

    return BodyModel()


def test_body_joints_follow_h36m_anatomy(body):
    from train.synth.body import Phenotype
    from tvstream.skeleton import H36M_17

    _, joints = body.pose(Phenotype(), body.zero_pose(1))
    j = {n: joints[0, i] for i, n in enumerate(H36M_17.names)}
    assert j["lshoulder"][0] > 0 > j["rshoulder"][0]  # the subject's left is +x (facing -y)
    assert j["head"][2] > j["neck"][2] > j["thorax"][2] > j["spine"][2] > j["hip"][2] > j["lknee"][2] > j["lankle"][2]
    height = j["head"][2] - min(j["lankle"][2], j["rankle"][2])
    assert height > 1.3 and height < 2.0


def test_knee_flexion_moves_the_ankle_backwards(body):
    from train.synth.body import Phenotype

    rv = body.zero_pose(2)
    rv[1, body.bone_index["lowerleg01.L"]] = [1.2, 0, 0]
    _, joints = body.pose(Phenotype(), rv)
    assert joints[1, 6, 1] - joints[0, 6, 1] > 0.2  # lankle moves to +y, behind the body
    np.testing.assert_allclose(joints[1, 3], joints[0, 3], atol=1e-5)  # the right ankle stays


@pytest.mark.parametrize("motion_name", ["walk", "squat", "jump", "dive", "ski", "boxing", "get_up", "inversion"])
def test_joints_lie_inside_the_rendered_silhouette_in_every_view(body, motion_name):
    from train.synth.body import Phenotype
    from train.synth.motions import PROCEDURAL
    from train.synth.renderer import Renderer

    rng = np.random.default_rng(3)
    motion = PROCEDURAL[motion_name](body.bone_index, 40, 25.0, rng)
    pick = [5, 20, 35]
    verts, joints = body.pose(Phenotype.sample(rng), motion.rotvecs[pick])
    centre = verts.mean(axis=(0, 1))
    r = Renderer(192, 192)
    try:
        r_mesh = r.add_mesh(body.faces, np.full((verts.shape[1], 3), 0.7), subject=True)
        cams = ring_of_cameras(192, 192, 4, radius=4.0, height_m=centre[2] + 0.5, target=centre, hfov_deg=45)
        for v, j in zip(verts, joints):
            from train.synth.renderer import vertex_normals

            r_mesh.update(v, vertex_normals(v, body.faces))
            for cam in cams:
                mask = np.pad(r.render(cam)[1], 1)
                uv = np.round(cam.project(j)).astype(int) + 1
                # every joint is on the body (the head-top vertex may sit on the outline: one pixel slack)
                hits = [mask[y - 1:y + 2, x - 1:x + 2].any() for x, y in uv]
                assert all(hits), f"{motion_name}: joints off the body: {np.flatnonzero(~np.array(hits))}"
    finally:
        r.close()


def test_dive_falls_under_gravity_and_somersaults(body):
    from train.synth.motions import GRAVITY, dive

    fps = 50.0
    m = dive(body.bone_index, 150, fps, np.random.default_rng(1))
    z = m.position[:, 2]
    acc = np.diff(z, 2) * fps**2
    flight = acc < -1  # after take-off
    np.testing.assert_allclose(acc[flight], -GRAVITY, rtol=1e-6)
    assert z[-1] < z[0] - 8  # from the 10 m platform to the water
    pitch = np.linalg.norm(m.rotvecs[:, 0], axis=1)
    assert pitch.max() > 2.0  # the root turns over


# ------------------------------------------------------------------------------- synthesize


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory, body):
    from train.synth.generate import SynthConfig, synthesize

    cfg = SynthConfig(scenario="studio", subjects=4, sequences=1, seconds=0.4, width=96, height=96, seed=7)
    out = tmp_path_factory.mktemp("synth")
    return cfg, out, synthesize(cfg, out, body=body)


def test_synth_writes_videos_labels_and_subject_splits(tiny_dataset):
    from train.data.video_reader import probe_video
    from tvstream.labels import load_labels
    from tvstream.manifest import load_manifest

    cfg, out, entries = tiny_dataset
    assert len(entries) == 4 * 4  # 4 subjects x 1 sequence x 4 cameras
    manifest = load_manifest(out / "manifest.json")
    assert {e.subject: e.split for e in manifest} == {"S01": "train", "S02": "train", "S03": "labeled",
                                                       "S04": "test"}
    for e in manifest:
        info = probe_video(e.video)
        assert (info.num_frames, info.width, info.height) == (cfg.frames, 96, 96)
        labels = load_labels(e.labels)
        assert len(labels) == cfg.frames and labels.has_3d.all()
        # 3D joints in camera mm project onto the 2D labels
        np.testing.assert_allclose(labels.camera.project(labels.joints3d), labels.joints2d, atol=0.05)
        assert 2000 < labels.joints3d[0, 0, 2] < 9000  # the pelvis is metres in front of the camera


def test_synth_videos_open_in_ffprobe(tiny_dataset):
    if shutil.which("ffprobe") is None:
        pytest.skip("ffprobe is not installed")
    _, _, entries = tiny_dataset
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames", "-show_entries",
                          "stream=codec_name,nb_read_frames", "-of", "csv=p=0", str(entries[0].video)],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "h264,10"


def test_visible_joints_are_on_the_body_in_the_decoded_video(tiny_dataset, body):
    """Pixels under visible joints differ from the empty venue rendered from the same camera."""
    from train.data.video_reader import FrameReader, probe_video
    from train.synth.renderer import Renderer
    from train.synth.scenarios import SCENARIOS, venue
    from tvstream.labels import load_labels

    cfg, out, entries = tiny_dataset
    env = venue(SCENARIOS["studio"], np.random.default_rng(np.random.SeedSequence(cfg.seed).spawn(cfg.subjects + 1)[0]))
    r = Renderer(96, 96)
    try:
        for m in env.meshes:
            r.add_mesh(m.faces, m.colors, subject=False, vertices=m.vertices, uvs=m.uvs, texture=m.texture)
        for e in entries[:4]:
            labels = load_labels(e.labels)
            from train.synth.cameras import Camera

            cam = Camera(K=labels.camera.K.astype(float), R=labels.camera.R.astype(float),
                         t=labels.camera.t.astype(float) / 1000, width=96, height=96)
            empty = r.render(cam, clear=env.sky)[0].astype(int)
            with FrameReader(probe_video(e.video), (96, 96)) as reader:
                frame = reader.read(5).astype(int)
            diff = np.abs(frame - empty).sum(-1)  # (H, W)
            uv = np.round(labels.joints2d[5]).astype(int)
            vis = labels.visible[5]
            assert vis.sum() >= 10
            on_body = [diff[v, u] > 30 for (u, v) in uv[vis]]
            assert np.mean(on_body) >= 0.8, on_body
    finally:
        r.close()


def test_same_seed_gives_identical_label_bytes(tiny_dataset, tmp_path, body):
    from train.synth.generate import synthesize

    cfg, out, entries = tiny_dataset
    again = synthesize(cfg, tmp_path / "again", body=body)
    for a, b in zip(entries, again):
        assert a.labels.read_bytes() == b.labels.read_bytes()
    from dataclasses import replace

    other = synthesize(replace(cfg, seed=8, subjects=1), tmp_path / "other", body=body)
    assert other[0].labels.read_bytes() != entries[0].labels.read_bytes()


def test_fabrics_cut_from_photos_print_the_garments_not_the_skin(body):
    from train.synth.appearance import FABRIC_PIXELS, Appearance, draw_fabrics, paint
    from train.synth.body import Phenotype

    rng = np.random.default_rng(0)
    photo = np.zeros((90, 160, 3), np.uint8)
    photo[:, :, 1] = 255  # a green photo: any patch of it is green
    assert draw_fabrics(rng, []) == {}
    fabrics = {}
    while "top" not in fabrics:
        fabrics = draw_fabrics(rng, [photo])
    assert fabrics["top"].shape == (FABRIC_PIXELS, FABRIC_PIXELS, 3) and fabrics["top"][..., 0].max() == 0
    look = Appearance(skin=(0.9, 0.7, 0.6), top=(0.0, 0.0, 1.0), bottom=(1.0, 0.0, 0.0), shoes=(0.1, 0.1, 0.1),
                      hair=(0.1, 0.1, 0.1), accent=(0.0, 0.0, 1.0), pattern="plain", outfit="casual")
    rest_v, rest_j = body.pose(Phenotype.sample(rng), body.zero_pose(1))
    plain = paint(look, rest_v[0], body.vertex_region, rest_j[0, 10])
    printed = paint(look, rest_v[0], body.vertex_region, rest_j[0, 10], {"top": fabrics["top"]})
    changed = np.abs(printed - plain).max(axis=1) > 1e-6
    was_top = (plain == [0.0, 0.0, 1.0]).all(axis=1)
    assert changed.any() and not (changed & ~was_top).any()  # only garment vertices changed
    assert (printed[changed, 1] > printed[changed, 2]).all()  # and they are now mostly the photo's green
    skin = (plain == look.skin).all(axis=1)
    assert skin.sum() > 100 and (printed[skin] == plain[skin]).all()


def test_world_contact_sheet_has_a_row_per_shard(tiny_dataset, tmp_path):
    import shutil

    from PIL import Image

    from train.synth.contact_sheet import world_contact_sheet

    _, out, _ = tiny_dataset
    for shard in ("a_0", "b_0", "c_0"):
        shutil.copytree(out, tmp_path / "world" / shard)
    (tmp_path / "world" / "b_0" / "manifest.json").unlink()  # an unfinished shard has no row
    sheet = world_contact_sheet(tmp_path / "world", tmp_path / "world.jpg", frames=3, tile=64)
    assert Image.open(sheet).size == (3 * 64, 2 * 64)  # 96x96 frames: square tiles


def test_fabrics_and_quality_leave_the_rest_of_a_seed_as_it_was(tmp_path, body):
    from dataclasses import replace

    import cv2

    from train.synth.generate import SynthConfig, synthesize
    from tvstream.labels import load_labels

    photos = tmp_path / "photos"
    photos.mkdir()
    cv2.imwrite(str(photos / "a.png"), np.random.default_rng(0).integers(0, 255, (90, 160, 3), dtype=np.uint8))
    full = SynthConfig(scenario="varied", subjects=3, sequences=1, seconds=0.2, width=64, height=64, seed=3,
                       noise=0, textures=str(photos), crf=(16, 34))
    plain = replace(full, textures=None, crf=(20, 20))
    a, b = synthesize(full, tmp_path / "a", body=body), synthesize(plain, tmp_path / "b", body=body)
    assert [e.sequence for e in a] == [e.sequence for e in b]  # the same motions
    for ea, eb in zip(a, b):
        la, lb = load_labels(ea.labels), load_labels(eb.labels)
        np.testing.assert_array_equal(la.joints3d, lb.joints3d)  # the same bodies, placed and filmed alike
        np.testing.assert_array_equal(la.camera.K, lb.camera.K)


def test_loose_clothes_widen_the_silhouette_and_leave_the_skeleton(tmp_path, body):
    """The same seed with clothes standing off the body: the same joints and cameras, a larger silhouette (the
    labeled box holds it), and bare hands, feet and head."""
    from dataclasses import replace

    from train.synth.body import REGIONS
    from train.synth.generate import LOOSE_SHARE, SynthConfig, loose_clothes, synthesize
    from tvstream.labels import load_labels

    standoff = loose_clothes(np.random.default_rng(0), body.vertex_region, 0.05)
    for k, region in enumerate(REGIONS):
        part = standoff[body.vertex_region == k]
        assert part.min() == part.max() and 0 <= part.max() <= LOOSE_SHARE.get(region, 0.0) * 0.05 + 1e-7
    assert standoff.max() > 0
    tight = SynthConfig(scenario="studio", subjects=1, sequences=1, seconds=0.2, width=96, height=96, seed=5, noise=0)
    a = synthesize(tight, tmp_path / "a", body=body)
    b = synthesize(replace(tight, loose=0.12), tmp_path / "b", body=body)
    widths = []
    for ea, eb in zip(a, b):
        la, lb = load_labels(ea.labels), load_labels(eb.labels)
        np.testing.assert_array_equal(la.joints3d, lb.joints3d)
        widths.append([(l.box[:, 2] - l.box[:, 0]).mean() for l in (la, lb)])
    tight_w, loose_w = np.array(widths).T
    assert (loose_w >= tight_w).all() and loose_w.sum() > 1.05 * tight_w.sum()
    with pytest.raises(ValueError, match="loose"):
        SynthConfig(loose=0.5)


def test_subject_splits():
    from train.synth.generate import subject_splits

    assert subject_splits(1, 0.25, 0.25) == ["train"]
    assert subject_splits(2, 0.25, 0.25) == ["train", "test"]
    assert subject_splits(8, 0.25, 0.25) == ["train"] * 4 + ["labeled"] * 2 + ["test"] * 2


def test_synth_cli_rejects_bad_arguments(tmp_path):
    def run(*args):
        return subprocess.run([sys.executable, "-m", "tvstream", "synth", *args], capture_output=True, text=True)

    out = run("--size", "33x20", "--out", str(tmp_path))
    assert out.returncode == 2 and "even" in out.stderr
    out = run("--scenario", "surf", "--out", str(tmp_path))
    assert out.returncode == 2 and "surf" in out.stderr
    (tmp_path / "file").write_text("")
    out = run("--out", str(tmp_path / "file" / "sub"))
    assert out.returncode == 2 and "cannot create" in out.stderr and "Traceback" not in out.stderr


# ------------------------------------------------------------------------------------ BVH

BVH = """HIERARCHY
ROOT Hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT LeftUpLeg
  {
    OFFSET 10 0 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    JOINT LeftLeg
    {
      OFFSET 0 -45 0
      CHANNELS 3 Zrotation Xrotation Yrotation
      JOINT LeftFoot
      {
        OFFSET 0 -45 0
        CHANNELS 3 Zrotation Xrotation Yrotation
        End Site
        {
          OFFSET 0 -5 12
        }
      }
    }
  }
  JOINT RightUpLeg
  {
    OFFSET -10 0 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    JOINT RightLeg
    {
      OFFSET 0 -45 0
      CHANNELS 3 Zrotation Xrotation Yrotation
      JOINT RightFoot
      {
        OFFSET 0 -45 0
        CHANNELS 3 Zrotation Xrotation Yrotation
        End Site
        {
          OFFSET 0 -5 12
        }
      }
    }
  }
  JOINT Spine
  {
    OFFSET 0 20 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    JOINT Neck
    {
      OFFSET 0 35 0
      CHANNELS 3 Zrotation Xrotation Yrotation
      JOINT Head
      {
        OFFSET 0 12 0
        CHANNELS 3 Zrotation Xrotation Yrotation
        End Site
        {
          OFFSET 0 15 0
        }
      }
    }
    JOINT LeftArm
    {
      OFFSET 18 30 0
      CHANNELS 3 Zrotation Xrotation Yrotation
      JOINT LeftForeArm
      {
        OFFSET 28 0 0
        CHANNELS 3 Zrotation Xrotation Yrotation
        JOINT LeftHand
        {
          OFFSET 25 0 0
          CHANNELS 3 Zrotation Xrotation Yrotation
          End Site
          {
            OFFSET 8 0 0
          }
        }
      }
    }
    JOINT RightArm
    {
      OFFSET -18 30 0
      CHANNELS 3 Zrotation Xrotation Yrotation
      JOINT RightForeArm
      {
        OFFSET -28 0 0
        CHANNELS 3 Zrotation Xrotation Yrotation
        JOINT RightHand
        {
          OFFSET -25 0 0
          CHANNELS 3 Zrotation Xrotation Yrotation
          End Site
          {
            OFFSET -8 0 0
          }
        }
      }
    }
  }
}
MOTION
Frames: 4
Frame Time: 0.04
"""


def _bvh_frame(hips_x=0.0, left_knee=0.0, left_arm_z=0.0):
    joints = ["LeftUpLeg", "LeftLeg", "LeftFoot", "RightUpLeg", "RightLeg", "RightFoot", "Spine", "Neck", "Head",
              "LeftArm", "LeftForeArm", "LeftHand", "RightArm", "RightForeArm", "RightHand"]
    values = np.zeros(6 + 3 * len(joints))  # root position + rotation, then 3 rotations per joint
    values[0], values[1] = hips_x, 95.0
    col = {name: 6 + 3 * i for i, name in enumerate(joints)}
    values[col["LeftLeg"] + 1] = left_knee  # Xrotation
    values[col["LeftArm"]] = left_arm_z  # Zrotation
    return values


def test_bvh_parses_and_retargets_onto_anny(tmp_path, body):
    from train.synth.body import Phenotype
    from train.synth.bvh import load_bvh, retarget

    rows = [_bvh_frame(), _bvh_frame(left_knee=90), _bvh_frame(left_arm_z=90), _bvh_frame(hips_x=100)]
    path = tmp_path / "clip.bvh"
    path.write_text(BVH + "\n".join(" ".join(f"{v:g}" for v in r) for r in rows) + "\n")
    clip = load_bvh(path)
    assert clip.names[:4] == ["Hips", "LeftUpLeg", "LeftLeg", "LeftFoot"] and clip.fps == pytest.approx(25)
    rest_v, rest_j = body.pose(Phenotype(), body.zero_pose(1))
    motion = retarget(clip, body.bone_index, body.bone_parents, body.rest_bone_heads())
    _, j = body.pose(Phenotype(), motion.rotvecs)
    lsh, lwr, lkn, lan = 11, 13, 5, 6
    # frame 0: the BVH T-pose puts anny's arms horizontal (anny's own rest is an A-pose)
    assert rest_j[0, lwr, 2] < rest_j[0, lsh, 2] - 0.25
    assert abs(j[0, lwr, 2] - j[0, lsh, 2]) < 0.08 and j[0, lwr, 0] > j[0, lsh, 0] + 0.4
    # frame 1: the left knee bent 90 degrees: the shin points backwards (+y), level with the knee
    assert j[1, lan, 1] - j[1, lkn, 1] > 0.3 and abs(j[1, lan, 2] - j[1, lkn, 2]) < 0.1
    np.testing.assert_allclose(j[1, 3], j[0, 3], atol=1e-4)  # right ankle unchanged
    # frame 2: the left arm rotated up about the BVH z axis: the wrist is above the shoulder
    assert j[2, lwr, 2] > j[2, lsh, 2] + 0.4
    # frame 3: the root moved 100 cm along BVH x = the subject's left = anny +x
    np.testing.assert_allclose(motion.position[3, :2], [1.0, 0.0], atol=1e-9)


def test_synth_can_drive_bodies_with_bvh_files(tmp_path, body):
    from train.synth.generate import SynthConfig, synthesize
    from tvstream.labels import load_labels

    (tmp_path / "mocap").mkdir()
    rows = [_bvh_frame(left_knee=90 * i / 9, left_arm_z=90 * i / 9) for i in range(10)]
    (tmp_path / "mocap" / "raise.bvh").write_text(BVH.replace("Frames: 4", "Frames: 10")
                                                  + "\n".join(" ".join(f"{v:g}" for v in r) for r in rows) + "\n")
    cfg = SynthConfig(scenario="studio", subjects=1, sequences=1, seconds=0.4, width=64, height=64, seed=0,
                      bvh=str(tmp_path / "mocap"))
    entries = synthesize(cfg, tmp_path / "out", body=body)
    assert "_bvh_c0" in entries[0].video.name
    labels = load_labels(entries[0].labels)
    assert labels.visible.any(axis=1).all()


def test_synth_cli_offers_every_scenario_and_mixed_renders_new_families():
    from train.synth.scenarios import SCENARIOS
    from tvstream.cli.synth import SCENARIO_NAMES

    assert set(SCENARIO_NAMES) == set(SCENARIOS) and {"studio", "dive", "ski", "mixed"} <= set(SCENARIO_NAMES)
    assert {"lunge", "boxing", "get_up"} <= set(SCENARIOS["mixed"].motions)


def test_bad_bvh_is_refused_with_a_message(tmp_path):
    from train.synth.bvh import load_bvh
    from tvstream.errors import LabelError

    path = tmp_path / "bad.bvh"
    path.write_text(BVH + "1 2 3\n")
    with pytest.raises(LabelError, match="MOTION has 3 values, expected 4 frames x 51 channels"):
        load_bvh(path)
    path.write_text("HELLO")
    with pytest.raises(LabelError, match="expected 'HIERARCHY'"):
        load_bvh(path)


def test_panning_camera_labels_carry_per_frame_cameras(tmp_path, body):
    from train.synth.generate import SynthConfig, synthesize
    from tvstream.labels import load_labels

    cfg = SynthConfig(scenario="ski", subjects=1, sequences=1, seconds=0.6, width=96, height=64, seed=2)
    (entry,) = synthesize(cfg, tmp_path, body=body)
    labels = load_labels(entry.labels)
    assert labels.frame_cameras is not None and labels.frame_cameras.K.shape == (cfg.frames, 3, 3)
    assert not np.allclose(labels.frame_cameras.R[0], labels.frame_cameras.R[-1])  # the camera pans
    for row in (0, cfg.frames - 1):  # each row's own camera projects its 3D joints onto its 2D joints
        cam = labels.camera_at(row)
        np.testing.assert_allclose(cam.project(labels.joints3d[row]), labels.joints2d[row], atol=0.05)


def test_background_plates_replace_the_venue(tmp_path, body):
    import av

    from train.synth.generate import SynthConfig, synthesize
    from train.data.video_reader import FrameReader, probe_video

    plates = tmp_path / "plates"
    plates.mkdir()
    img = np.zeros((64, 96, 3), np.uint8)
    img[:, :48] = (200, 30, 30)
    img[:, 48:] = (30, 30, 200)
    with av.open(str(plates / "venue.png"), "w") as c:  # an image written with PyAV's PNG encoder
        s = c.add_stream("png")
        s.width, s.height, s.pix_fmt = 96, 64, "rgb24"
        c.mux(s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        c.mux(s.encode())
    cfg = SynthConfig(scenario="dive", subjects=1, sequences=1, seconds=0.4, width=96, height=64, seed=1,
                      noise=0, backgrounds=str(plates))
    (entry,) = synthesize(cfg, tmp_path / "out", body=body)
    with FrameReader(probe_video(entry.video), (64, 96)) as reader:
        frame = reader.read(0).astype(int)
    assert np.abs(frame[60, 5] - [200, 30, 30]).max() < 25 and np.abs(frame[60, 90] - [30, 30, 200]).max() < 25


def test_plate_is_upright_and_moves_with_the_camera():
    from train.synth.renderer import Renderer, plate_warp

    w, h = 160, 120
    ys, xs = np.mgrid[0:h, 0:w]
    plate = np.stack([xs * 255 // (w - 1), ys * 255 // (h - 1), np.zeros_like(xs)], -1).astype(np.uint8)

    def shows_plate_at(rgb: np.ndarray, H: np.ndarray) -> np.ndarray:
        """Checks that each pixel shows the plate at H @ pixel; returns the plate x of every pixel."""
        q = np.stack([xs, ys, np.ones_like(xs)], -1) @ H.T
        qx, qy = q[..., 0] / q[..., 2], q[..., 1] / q[..., 2]
        inside = (qx > 1) & (qx < w - 2) & (qy > 1) & (qy < h - 2)
        assert inside.mean() > 0.5
        np.testing.assert_allclose(rgb[..., 0][inside], qx[inside] * 255 / (w - 1), atol=5)
        np.testing.assert_allclose(rgb[..., 1][inside], qy[inside] * 255 / (h - 1), atol=5)
        return np.where(inside, qx, np.nan)

    renderer = Renderer(w, h)
    renderer.set_plate(plate)
    try:
        first = make_camera(w, h, 60, eye=[0, -5, 1.5], target=[0, 0, 1.5])
        rgb = renderer.render(first)[0].astype(int)
        assert np.abs(rgb - plate).max() <= 2  # no warp: the plate as given, top row on top
        panned = make_camera(w, h, 50, eye=[0, -5, 1.5], target=[0.6, 0, 1.7], roll_deg=5)
        H = plate_warp(first, panned)
        qx = shows_plate_at(renderer.render(panned, plate_warp=H)[0].astype(int), H)
        assert np.nanmean(qx - xs) > 10  # panned right: the plate slid left
        # a first camera that is rolled sees the plate rolled with it: the photo's horizon stays level in the world
        rolled = make_camera(w, h, 60, eye=[0, -5, 1.5], target=[0, 0, 1.5], roll_deg=-8)
        H = plate_warp(rolled, rolled)
        shows_plate_at(renderer.render(rolled, plate_warp=H)[0].astype(int), H)
    finally:
        renderer.close()
    centre, right = H @ [79.5, 59.5, 1], H @ [129.5, 59.5, 1]
    np.testing.assert_allclose(centre[:2] / centre[2], [79.5, 59.5], atol=1e-6)
    turn = np.degrees(np.arctan2(right[1] / right[2] - 59.5, right[0] / right[2] - 79.5))
    assert abs(abs(turn) - 8) < 0.1  # an image row crosses the plate at the camera's roll


def test_a_body_below_the_shadow_plane_is_not_hidden_by_its_shadow():
    from train.synth.renderer import Ground, Lighting, Renderer

    cam = make_camera(160, 120, 60, eye=[0, -5, 3], target=[0, 0, 0])
    renderer = Renderer(160, 120)  # no floor mesh, as over a photo plate: nothing else hides what is below z = 0
    try:
        renderer.set_plate(np.full((120, 160, 3), 128, np.uint8))
        renderer.add_mesh(CUBE_F, np.full((8, 3), 0.8), subject=True, vertices=CUBE_V - [0, 0, 0.8])  # 0.3 m sunk
        light = Lighting(direction=(0.2, -0.3, 1.0))
        _, bare = renderer.render(cam, light)
        _, shaded = renderer.render(cam, light, ground=Ground())
    finally:
        renderer.close()
    assert bare.sum() > 200 and (bare == shaded).all()


def test_subject_casts_its_shadow_on_the_ground_away_from_the_light():
    from train.synth.environments import quad
    from train.synth.renderer import Ground, Lighting, Renderer

    cam = make_camera(160, 120, 70, eye=[0, -6, 4], target=[0, 0, 0.5])
    floor = quad(np.array([[-6, -6, 0], [6, -6, 0], [6, 6, 0], [-6, 6, 0.0]]), (0.7, 0.7, 0.7))
    renderer = Renderer(160, 120)
    try:
        renderer.add_mesh(floor.faces, floor.colors, subject=False, vertices=floor.vertices, uvs=floor.uvs)
        renderer.add_mesh(CUBE_F, np.full((8, 3), 0.8), subject=True, vertices=CUBE_V)  # floats 0.5 m up
        standing = CUBE_V * [0.3, 0.3, 1] + [2.5, 1.5, -0.5]  # a thin box standing on the floor, off to the side
        renderer.add_mesh(CUBE_F, np.full((8, 3), 0.8), subject=True, vertices=standing)
        light = Lighting(direction=(1.0, 0.0, 1.0))  # from +x, 45 degrees up: the shadow falls 0.5-1.5 m to -x
        bare, mask = renderer.render(cam, light)
        shaded, shaded_mask = renderer.render(cam, light, ground=Ground(softness=0))
    finally:
        renderer.close()
    assert (mask == shaded_mask).all()  # the shadow is not the subject, and hides none of it down to the floor
    darker = (shaded.astype(int).sum(-1) < bare.astype(int).sum(-1) - 20) & ~mask
    darker[:, int(cam.project(np.array([1.5, 1.5, 0.0]))[0]):] = False  # the standing box's own shadow
    ys, xs = np.nonzero(darker)
    centre = cam.project(np.array([-1.0, 0.0, 0.0]))  # the cube's footprint moved 1 m along -x
    assert darker.sum() > 100
    assert abs(xs.mean() - centre[0]) < 6 and abs(ys.mean() - centre[1]) < 6
    factor = shaded[darker].mean() / bare[darker].mean()
    assert factor == pytest.approx(1 - light.shadow_strength(), abs=0.05)


# ------------------------------------------------------------------------------- varied world: light, props


def test_drawn_lighting_differs_per_take_and_changes_the_rendered_colour():
    from train.synth.renderer import Lighting, Renderer, kelvin_rgb

    np.testing.assert_allclose(kelvin_rgb(6600), [1, 1, 1], atol=0.02)
    assert kelvin_rgb(3000)[2] < 0.5 < kelvin_rgb(9000)[2]  # tungsten is orange, shade is blue
    rng = np.random.default_rng(3)
    lights = [Lighting.sample(rng) for _ in range(50)]
    assert len({light.direction for light in lights}) == 50 and all(np.linalg.norm(light.direction) == pytest.approx(1)
                                                                     for light in lights)
    blue_over_red = np.array([light.light[2] / light.light[0] for light in lights])
    assert blue_over_red.min() < 0.6 and blue_over_red.max() > 1.1
    cam = make_camera(96, 64, 60, eye=[3, -4, 2], target=[0, 0, 1])
    renderer = Renderer(96, 64)
    try:
        renderer.add_mesh(CUBE_F, np.full((8, 3), 0.8), subject=True, vertices=CUBE_V)
        means = [renderer.render(cam, light)[0][renderer.render(cam, light)[1]].mean(axis=0) for light in lights[:2]]
    finally:
        renderer.close()
    assert np.abs(means[0] - means[1]).max() > 10  # grey levels of the cube's mean colour


def test_joints_behind_an_occluder_are_labeled_not_visible():
    from train.synth.environments import box
    from train.synth.generate import frame_labels
    from train.synth.renderer import Renderer

    cam = make_camera(160, 120, 60, eye=[0, -5, 1.0], target=[0, 0, 1.0])
    renderer = Renderer(160, 120)
    try:
        renderer.add_mesh(CUBE_F, np.full((8, 3), 0.8), subject=True, vertices=CUBE_V)
        _, bare = renderer.render(cam)
        panel = box([0, -2, 0.45], [2.0, 0.1, 0.9], (0.2, 0.5, 0.2))  # hides the cube below z ~ 0.8
        prop = renderer.add_mesh(panel.faces, panel.colors, subject=False, vertices=panel.vertices, uvs=panel.uvs)
        _, hidden = renderer.render(cam)
        renderer.remove_mesh(prop)
        _, again = renderer.render(cam)
    finally:
        renderer.close()
    joints = np.array([[0, -0.5, 1.3], [0, -0.5, 0.6]])  # on the cube's front face: above and behind the panel
    assert frame_labels(cam, joints, bare)[3].tolist() == [True, True]
    assert frame_labels(cam, joints, hidden)[3].tolist() == [True, False]
    assert 0.3 < hidden.sum() / bare.sum() < 0.8 and (again == bare).all()


def test_occluders_stand_between_the_camera_and_the_athlete():
    from train.synth.environments import occluder

    rng = np.random.default_rng(0)
    path = np.array([[0, 0, 0.9], [1.0, 0, 0.9]])
    eye = np.array([0.5, -8, 1.5])
    for _ in range(30):
        mesh = occluder(rng, eye, path)
        centre = mesh.vertices.mean(axis=0)
        assert mesh.vertices[:, 2].min() == pytest.approx(0) and -7.5 < centre[1] < -0.7
        assert abs(centre[0] - 0.5) < 1.3  # near the line of sight
    assert occluder(rng, np.array([0.5, -1.0, 1.5]), path) is None  # no room in front of a close camera
