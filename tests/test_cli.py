"""The ``tvstream`` command run as a user runs it: a real process, real files, exit codes and streams."""

import json
import shutil
import subprocess
import sys

import numpy as np

from tvstream.errors import ExitStatus


def tvstream(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "tvstream", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=120)


def test_help_lists_the_verbs():
    out = tvstream("--help")
    assert out.returncode == 0
    assert "info" in out.stdout and "data" in out.stdout and "JSON line" in out.stdout


def test_info_json_reports_versions():
    out = tvstream("info", "--json", "--no-torch")
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["av"]["version"] and "libavcodec" in info["av"]["ffmpeg"]
    assert "CPUExecutionProvider" in info["onnxruntime"]["providers"]
    assert info["python"].count(".") == 2 and info["torch"] is None


def test_info_table_names_torch_when_installed():
    out = tvstream("info")
    assert out.returncode == 0, out.stderr
    assert "PyAV / FFmpeg" in out.stdout and "torch" in out.stdout


def test_data_check_lists_videos_and_skips_corrupt_ones(tmp_path, clip_dir):
    shutil.copytree(clip_dir, tmp_path / "ds")
    (tmp_path / "ds" / "broken.mp4").write_bytes(b"junk" * 100)
    out = tvstream("data", "check", tmp_path / "ds", "--json")
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]  # stdout is JSON lines only
    assert [r["frames"] for r in rows if "frames" in r] == [300, 260]
    (bad,) = [r for r in rows if "error" in r]
    assert bad["video"].endswith("broken.mp4")


def test_data_check_builds_caches(tmp_path, clip_dir):
    out = tvstream("data", "check", clip_dir, "--cache", tmp_path / "cache", "--size", "64x48")  # W x H
    assert out.returncode == 0, out.stderr
    metas = sorted((tmp_path / "cache").glob("*.json"))
    assert [json.loads(m.read_text())["shape"] for m in metas] == [[300, 48, 64, 3], [260, 48, 64, 3]]
    assert "2 readable video(s), 0 skipped" in out.stdout


def test_bad_labels_give_one_line_naming_the_field(tmp_path, clip_dir):
    shutil.copy(clip_dir / "s1" / "a.mp4", tmp_path / "a.mp4")
    np.savez(tmp_path / "a.npz", joints3d=np.zeros((3, 16, 3)))
    out = tvstream("data", "check", tmp_path)
    assert out.returncode == ExitStatus.BAD_INPUT
    assert "missing field 'joints2d'" in out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_traceback_flag_shows_the_traceback(tmp_path):
    out = tvstream("--traceback", "data", "check", tmp_path / "absent")
    assert out.returncode != 0 and "Traceback" in out.stderr and "LabelError" in out.stderr


def test_user_mistakes_exit_non_zero_without_traceback(tmp_path):
    out = tvstream("data", "check", tmp_path / "absent")
    assert out.returncode == ExitStatus.BAD_INPUT and "no such dataset folder" in out.stderr
    assert "Traceback" not in out.stderr
    (tmp_path / "x.mp4").write_bytes(b"junk")
    out = tvstream("data", "check", tmp_path)
    assert out.returncode == ExitStatus.SOURCE and "none of 1 video(s) is readable" in out.stderr
    out = tvstream("data", "check", tmp_path, "--size", "0x5")
    assert out.returncode == ExitStatus.USAGE and "not a size" in out.stderr
    out = tvstream("nonsense")
    assert out.returncode == ExitStatus.USAGE and "No such command" in out.stderr
    assert "Traceback" not in out.stderr


def test_train_posenet_set_names_a_loss_weight_or_an_augmentation_and_says_what_is_wrong(tmp_path):
    """``--set`` is checked before any cache is built: a field that does not exist, a range given one number and a
    value that is no number each end in one line naming the item."""
    for item, text in (("augment.bogus=1", "expected weights.NAME=VALUE or augment.NAME=VALUE"),
                       ("colour.bars_p=1", "expected weights.NAME=VALUE"),
                       ("augment.zoom=0.5", "augment.zoom takes 2 comma-separated numbers"),
                       ("augment.bars_p=lots", "'lots' is not a number")):
        out = tvstream("train", "posenet", "--data", tmp_path, "--out", tmp_path / "run", "--cache", tmp_path / "c",
                       "--set", item)
        assert out.returncode == ExitStatus.USAGE and text in out.stderr, out.stderr
        assert "Traceback" not in out.stderr and not (tmp_path / "c").exists()
    # a range given as two numbers, and kernel sides as any count of whole numbers, pass the check (the empty data
    # folder is what stops this run)
    out = tvstream("train", "posenet", "--data", tmp_path, "--out", tmp_path / "run", "--cache", tmp_path / "c",
                   "--set", "augment.squash=0.6,1.35", "--set", "augment.randconv_k=1,3")
    assert "--set" not in out.stderr and "no labeled videos" in out.stderr, out.stderr
    for item in ("cutouts", "cutouts=0", "=3"):
        out = tvstream("train", "posenet", "--data", tmp_path, "--out", tmp_path / "run", "--cache", tmp_path / "c",
                       "--repeat", item)
        assert out.returncode == ExitStatus.USAGE and "expected NAME=K" in out.stderr, out.stderr
