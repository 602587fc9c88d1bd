import numpy as np
import pytest

from train.data.pattern_video import read_frame_code, render_pattern_frame, write_pattern_video
from train.data.video_reader import FrameReader, decode_frames, probe_video
from tvstream.errors import SourceError


def test_pattern_code_reads_back_at_any_size():
    img = render_pattern_frame(613, 160, 120)
    assert read_frame_code(img) == 613
    assert read_frame_code(img[::2, ::2]) == 613


def test_probe_counts_frames_and_reads_size(clip_dir):
    info = probe_video(clip_dir / "s1" / "a.mp4")
    assert (info.num_frames, info.width, info.height, info.fps) == (300, 160, 120, 25.0)
    assert (np.diff(info.pts) > 0).all()


def test_sequential_decode_returns_every_frame_in_order(clip_dir):
    frames = list(decode_frames(clip_dir / "s1" / "b.mp4", (64, 96)))
    assert len(frames) == 260 and frames[0].shape == (64, 96, 3) and frames[0].dtype == np.uint8
    assert [read_frame_code(f) for f in frames] == list(range(260))


def test_random_access_returns_the_requested_frame(clip_dir):
    info = probe_video(clip_dir / "s1" / "a.mp4")
    order = np.random.default_rng(0).permutation(300)[:60]
    with FrameReader(info, (128, 128)) as reader:
        assert [read_frame_code(reader.read(int(i))) for i in order] == list(order)
        assert [read_frame_code(reader.read(i)) for i in range(100, 110)] == list(range(100, 110))  # forward path
        many = reader.read_many(np.array([299, 0, 150]))
        assert [read_frame_code(f) for f in many] == [299, 0, 150]
        with pytest.raises(IndexError):
            reader.read(300)


def test_random_access_matches_sequential_decode_exactly(clip_dir):
    path = clip_dir / "s1" / "a.mp4"
    seq = list(decode_frames(path, (96, 128)))
    with FrameReader(probe_video(path), (96, 128)) as reader:
        for i in (0, 1, 13, 150, 251, 299):
            np.testing.assert_array_equal(reader.read(i), seq[i])


def test_missing_corrupt_and_truncated_files_raise_source_errors(tmp_path, clip_dir):
    with pytest.raises(SourceError, match="no such video file"):
        probe_video(tmp_path / "absent.mp4")
    (tmp_path / "junk.mp4").write_bytes(b"\x00garbage" * 500)
    with pytest.raises(SourceError, match="cannot open video|corrupt"):
        probe_video(tmp_path / "junk.mp4")
    data = (clip_dir / "s1" / "a.mp4").read_bytes()
    (tmp_path / "half.mp4").write_bytes(data[: len(data) // 2])  # mp4 index (moov) is at the end: lost
    with pytest.raises(SourceError):
        probe_video(tmp_path / "half.mp4")
    assert issubclass(SourceError, OSError)


def test_truncated_stream_decodes_what_is_there(tmp_path):
    path = write_pattern_video(tmp_path / "a.ts", 120)  # MPEG-TS survives truncation
    data = path.read_bytes()
    (tmp_path / "cut.ts").write_bytes(data[: len(data) // 2])
    frames = list(decode_frames(tmp_path / "cut.ts", (60, 80)))
    assert 20 < len(frames) < 120
    codes = [read_frame_code(f) for f in frames]
    assert codes[0] == 0 and (np.diff(codes) > 0).all()  # a damaged frame at the cut may be dropped
