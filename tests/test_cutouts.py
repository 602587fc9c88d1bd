"""Real cut-out people pasted into clips (train/cutouts): where the person lands, what the clip holds, and which
of the teacher's labels are kept."""

import json
from pathlib import Path

import av
import numpy as np
from PIL import Image

from train.cutouts.build import SETTLE, keep_labels, on_person
from train.cutouts.composite import CompositeConfig, make_clip, paste, read_cutout, sidecar
from tvstream.skeleton import CORE_JOINTS


def _person(h: int = 20, w: int = 10, pad: int = 3) -> np.ndarray:
    """An opaque red block inside a transparent border (RGBA, float colour as ``shot`` passes it)."""
    rgba = np.zeros((h + 2 * pad, w + 2 * pad, 4), np.float32)
    rgba[pad:pad + h, pad:pad + w] = (255, 0, 0, 255)
    return rgba


def test_a_gif_cut_out_is_cropped_to_what_is_not_transparent(tmp_path: Path):
    pal = np.zeros((30, 16), np.uint8) + 255  # palette index 255: the transparent colour
    pal[5:25, 3:13] = 1
    im = Image.fromarray(pal, "P")
    im.putpalette([0, 0, 0, 200, 10, 10] + [0, 0, 0] * 254)
    im.save(tmp_path / "p.gif", transparency=255)
    rgba = read_cutout(tmp_path / "p.gif")
    assert rgba.shape == (20, 10, 4)
    assert (rgba[..., 3] == 255).all() and tuple(rgba[0, 0, :3]) == (200, 10, 10)


def test_the_person_lands_with_its_feet_where_asked_and_its_box_is_its_alpha():
    frame = np.full((100, 100, 3), 128, np.float32)
    out, box = paste(frame, _person(), x=50, y=80, height=52, feather=0)  # 26 rows -> 52: twice as big
    x0, y0, x1, y1 = box
    assert abs(y1 - (80 - 6)) <= 1 and abs((y1 - y0) - 40) <= 1  # the 3 px border is 6 px at 2x
    assert abs((x0 + x1) / 2 - 50) <= 1 and abs((x1 - x0) - 20) <= 1
    assert tuple(out[60, 50]) == (255, 0, 0) and tuple(out[20, 50]) == (128, 128, 128)
    assert tuple(out[60, 20]) == (128, 128, 128)


def test_a_person_half_outside_the_frame_is_cut_and_its_box_clipped():
    frame = np.zeros((50, 50, 3), np.float32)
    out, box = paste(frame, _person(pad=0), x=0, y=40, height=20, feather=0)
    assert box[0] == 0 and box[2] == 5 and box[1] == 20 and box[3] == 40
    assert out[30, 2, 0] == 255 and out[30, 8, 0] == 0


def _white_on_black(folder: Path) -> tuple[Path, Path]:
    """A white person cut-out (a GIF with a transparent colour) and a black background photo."""
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(folder / "black.png")
    pal = np.full((40, 20), 255, np.uint8)
    pal[:, 4:16] = 1
    im = Image.fromarray(pal, "P")
    im.putpalette([0, 0, 0, 250, 250, 250] + [0, 0, 0] * 254)
    im.save(folder / "white.gif", transparency=255)
    return folder / "white.gif", folder / "black.png"


def test_a_clip_holds_its_shots_and_every_frame_has_the_box_of_its_person(tmp_path: Path):
    person, background = _white_on_black(tmp_path)
    cfg = CompositeConfig(clips=1, segments=2, frames=3, width=96, height=64, jitter=0.0, blur=(0.0, 0.0),
                          crf=(10, 10))
    doc = make_clip(tmp_path / "c.mp4", [person], [background], cfg, np.random.default_rng(0))
    assert [s["start"] for s in doc["shots"]] == [0, 3]
    assert json.loads(sidecar(tmp_path / "c.mp4").read_text())["boxes"] == doc["boxes"]
    with av.open(str(tmp_path / "c.mp4")) as c:
        frames = [f.to_ndarray(format="rgb24").mean(-1) for f in c.decode(video=0)]
    assert len(frames) == 6 == len(doc["boxes"])
    for grey, (x0, y0, x1, y1) in zip(frames, doc["boxes"]):
        ys, xs = np.nonzero(grey > 128)  # the white person over black
        assert abs(xs.min() - x0) <= 2 and abs(xs.max() + 1 - x1) <= 2
        assert abs(ys.min() - y0) <= 2 and abs(ys.max() + 1 - y1) <= 2


def _teacher_frame(i: int, at: tuple[float, float], found: bool = True) -> dict:
    joints = np.tile(np.asarray(at, float), (17, 1)) + np.linspace(-5, 5, 17)[:, None]
    return {"frame": i, "found": found, "joints2d": joints.tolist(), "confidence": [0.9] * 17,
            "visible": [True] * 17, "box": [0, 0, 1, 1]}


def test_labels_are_kept_only_on_the_pasted_person_and_not_just_after_a_cut():
    paste_doc = {"shots": [{"start": 0}, {"start": 4}], "boxes": [[40, 20, 60, 80]] * 8}
    frames = [_teacher_frame(i, (50, 50)) for i in range(8)]
    frames[2] = _teacher_frame(2, (150, 50))  # another place: the teacher holds on to someone else
    frames[3] = _teacher_frame(3, (50, 50), found=False)
    kept = keep_labels({"frames": frames, "counts": {"frames": 8}}, paste_doc, 200, 100)
    assert SETTLE == 2  # frames 0, 1, 4, 5 follow a cut; 2 is off the person, 3 has nobody
    assert [f["frame"] for f in kept["frames"]] == [6, 7] and kept["counts"]["kept"] == 2
    conf = np.asarray(kept["frames"][0]["confidence"])
    assert (conf[list(CORE_JOINTS)] == 0.9).all() and (np.delete(conf, list(CORE_JOINTS)) == 0).all()
    assert "box" not in kept["frames"][0]  # made from the joints the teacher sees, as for hand labels


def test_on_person_counts_only_the_joints_the_teacher_sees():
    f = _teacher_frame(0, (50, 50))
    f["joints2d"] = [[150, 50] if j in CORE_JOINTS[:6] else p for j, p in enumerate(f["joints2d"])]
    assert not on_person(f, [40, 20, 60, 80])
    f["visible"] = [j not in CORE_JOINTS[:6] for j in range(17)]
    assert on_person(f, [40, 20, 60, 80])


def test_a_cut_shot_puts_the_person_partly_outside_the_frame(tmp_path: Path):
    person, background = _white_on_black(tmp_path)
    for cut_p, touches in ((1.0, True), (0.0, False)):
        cfg = CompositeConfig(clips=1, segments=6, frames=2, width=160, height=96, cut_p=cut_p, drift=0.0,
                              person=(0.5, 0.6))
        doc = make_clip(tmp_path / "c.mp4", [person], [background], cfg, np.random.default_rng(1))
        edge = [b[0] <= 0 or b[2] >= 160 or b[3] >= 96 for b in doc["boxes"]]
        assert all(edge) if touches else not any(edge), doc["boxes"]


def test_a_clip_made_with_another_config_is_made_again_but_more_clips_keep_it(tmp_path: Path):
    from dataclasses import replace

    from train.cutouts.composite import made_with

    person, background = _white_on_black(tmp_path)
    cfg = CompositeConfig(clips=1, segments=1, frames=2, width=64, height=48)
    clip = tmp_path / "c.mp4"
    assert not made_with(clip, cfg)
    make_clip(clip, [person], [background], cfg, np.random.default_rng(0))
    assert made_with(clip, cfg) and made_with(clip, replace(cfg, clips=10))
    assert not made_with(clip, replace(cfg, cut_p=0.5)) and not made_with(clip, replace(cfg, person=(0.3, 0.9)))
    sidecar(clip).write_text("{broken")
    assert not made_with(clip, cfg)
