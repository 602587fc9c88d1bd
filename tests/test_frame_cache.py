import json
import os

import numpy as np
import pytest

import train.data.frame_cache as frame_cache
from train.data.frame_cache import build_cache, cache_key, open_cache
from train.data.pattern_video import read_frame_code, write_pattern_video
from train.data.video_reader import decode_frames


def test_cache_holds_every_frame_as_decoded(tmp_path, clip_dir):
    video = clip_dir / "s1" / "b.mp4"
    seen = []
    arr = build_cache(video, (64, 64), tmp_path, 260, progress=lambda done, total: seen.append((done, total)))
    assert arr.shape == (260, 64, 64, 3) and arr.dtype == np.uint8
    assert seen[-1] == (260, 260) and len(seen) == 260
    np.testing.assert_array_equal(arr, np.stack(list(decode_frames(video, (64, 64)))))
    assert not list(tmp_path.glob("*.tmp"))


def test_second_build_reuses_the_cache_without_decoding(tmp_path, clip_dir, monkeypatch):
    video = clip_dir / "s1" / "b.mp4"
    first = np.array(build_cache(video, (32, 48), tmp_path))

    def fail(*args, **kwargs):
        raise AssertionError("decoded again")

    monkeypatch.setattr(frame_cache, "decode_frames", fail)
    np.testing.assert_array_equal(build_cache(video, (32, 48), tmp_path), first)


def test_edited_video_or_new_size_gets_a_new_cache(tmp_path):
    video = write_pattern_video(tmp_path / "v.mp4", 20)
    key = cache_key(video, (32, 32))
    assert cache_key(video, (32, 48)) != key
    build_cache(video, (32, 32), tmp_path / "c")
    write_pattern_video(video, 30)
    os.utime(video, ns=(1, 10**18))  # a different mtime even on coarse clocks
    assert cache_key(video, (32, 32)) != key
    assert open_cache(video, (32, 32), tmp_path / "c") is None
    arr = build_cache(video, (32, 32), tmp_path / "c")
    assert len(arr) == 30 and read_frame_code(arr[29]) == 29


def test_cache_without_its_header_counts_as_unfinished(tmp_path):
    video = write_pattern_video(tmp_path / "v.mp4", 10)
    build_cache(video, (32, 32), tmp_path / "c")
    (meta,) = (tmp_path / "c").glob("*.json")
    meta.unlink()  # as if the process died between the data and the header
    assert open_cache(video, (32, 32), tmp_path / "c") is None
    assert len(build_cache(video, (32, 32), tmp_path / "c")) == 10


def test_cache_with_a_wrong_size_is_rebuilt(tmp_path):
    video = write_pattern_video(tmp_path / "v.mp4", 10)
    build_cache(video, (32, 32), tmp_path / "c")
    (raw,) = (tmp_path / "c").glob("*.u8")
    raw.write_bytes(raw.read_bytes()[:100])
    assert open_cache(video, (32, 32), tmp_path / "c") is None
    (meta,) = (tmp_path / "c").glob("*.json")
    assert json.loads(meta.read_text())["shape"] == [10, 32, 32, 3]


def test_crash_while_decoding_leaves_no_cache(tmp_path, monkeypatch):
    video = write_pattern_video(tmp_path / "v.mp4", 10)

    def broken(path, size):
        yield np.zeros((*size, 3), np.uint8)
        raise RuntimeError("disk full")

    monkeypatch.setattr(frame_cache, "decode_frames", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        build_cache(video, (32, 32), tmp_path / "c")
    assert list((tmp_path / "c").iterdir()) == []
