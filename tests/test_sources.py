"""VideoSource on awkward inputs: odd sizes and formats, rotation, VFR, damage, bad files, cameras, and a
network stream cut by a loopback server that must reconnect without breaking frame numbers or time."""

from __future__ import annotations

import os
import socket
import threading
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from tvstream.errors import ExitStatus, SinkError, SourceError
from tvstream.sources import Reconnect, VideoSource, camera_device, network_options
from tvstream.timeline import Timeline

SIZE = (24, 32)  # model input (H, W)


def write_clip(path: Path, n: int = 50, width: int = 64, height: int = 48, codec: str = "mpeg2video",
               pix_fmt: str = "yuv420p", pts_ms: list[int] | None = None, rotation: int = 0) -> Path:
    """``n`` noisy frames at 25 fps with a white top-left quadrant (to see orientation); ``pts_ms`` makes
    the clip VFR, ``rotation`` writes a display matrix like a phone held upright."""
    rng = np.random.default_rng(0)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if pts_ms is not None:  # millisecond clock in the encoder too, or it rounds pts to 1/25 s
            stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        if rotation:
            stream.set_display_rotation(rotation)
        for i in range(n):
            image = rng.integers(0, 128, (height, width, 3), dtype=np.uint8)
            image[: height // 2, : width // 2] = 255
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            if pts_ms is not None:
                frame.pts, frame.time_base = pts_ms[i], Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def read_all(uri: str | Path, **options) -> tuple[VideoSource, list]:
    with VideoSource(str(uri), SIZE, **options) as source:
        return source, list(source.frames())


def damaged_copy(clip: Path, out: Path, cut: bool = False) -> Path:
    """``clip`` cut at half its bytes, or with 2% of its bytes overwritten by garbage in the middle."""
    data = bytearray(clip.read_bytes())
    middle, span = len(data) // 2, max(188, len(data) // 50)
    if cut:
        del data[middle:]
    else:
        data[middle:middle + span] = np.random.default_rng(1).integers(0, 256, span, dtype=np.uint8).tobytes()
    out.write_bytes(bytes(data))
    return out


# ---------------------------------------------------------------------------------------------- odd inputs


@pytest.mark.parametrize(("name", "codec", "pix_fmt", "width", "height"), [
    ("odd.mkv", "ffv1", "yuv420p", 639, 359),
    ("422.mkv", "ffv1", "yuv422p", 64, 48),
    ("10bit.mkv", "libx264", "yuv420p10le", 64, 48),
    ("10bit422.mkv", "ffv1", "yuv422p10le", 64, 48),
])
def test_odd_sizes_and_pixel_formats_decode_every_frame_at_model_size(tmp_path, name, codec, pix_fmt, width,
                                                                      height):
    clip = write_clip(tmp_path / name, n=20, width=width, height=height, codec=codec, pix_fmt=pix_fmt)
    source, frames = read_all(clip)
    assert (source.width, source.height, source.errors) == (width, height, 0)
    assert [f.index for f in frames] == list(range(20))
    assert all(f.image.shape == (*SIZE, 3) and f.image.dtype == np.uint8 for f in frames)


def test_rotated_phone_clip_is_delivered_upright(tmp_path):
    clip = write_clip(tmp_path / "phone.mp4", n=10, codec="libx264", rotation=90)
    source, frames = read_all(clip, display=True)
    assert (source.width, source.height, source.rotation) == (48, 64, 90)
    display, image = frames[0].display, frames[0].image
    assert display.shape == (64, 48, 3) and image.shape == (*SIZE, 3)
    # upright it is portrait: 18 of the model's 32 columns, black bars beside it (tvstream.frame_fit)
    assert source.fit.content == (24, 18) and source.fit.offset == (7, 0)
    assert image[:, :7].max() == 0 and image[:, 25:].max() == 0
    # turned a quarter counter-clockwise, the white top-left quadrant ends up bottom-left
    for picture in (display, image[:, 7:25]):
        h, w = picture.shape[:2]
        assert picture[-h // 4, w // 4].mean() > 200 and picture[h // 4, w // 4].mean() < 200


def test_a_portrait_clip_keeps_its_aspect_in_the_model_frame(tmp_path):
    # 48x96 (1:2) into 24x32: content 24 rows x 12 columns, centred (offset 10), black bars at the sides
    clip = write_clip(tmp_path / "tall.mp4", n=5, width=48, height=96, codec="libx264")
    source, frames = read_all(clip)
    assert source.fit.content == (24, 12) and source.fit.offset == (10, 0)
    image = frames[0].image
    assert image[:, :10].max() == 0 and image[:, 22:].max() == 0 and image[:, 10:22].mean() > 40
    # the white top-left quadrant stays square: 6 columns by 12 rows of the content, not stretched
    assert image[3, 12].mean() > 200 and image[9, 18].mean() < 200
    # a model that learnt from stretched frames (the self-supervised graphs) gets them stretched, as before
    from engines.metadata import ModelMetadata

    assert ModelMetadata(input_size=SIZE, config={"kind": "posenet"}).keeps_aspect
    assert not ModelMetadata(input_size=SIZE, config={"ssl": {}}).keeps_aspect
    source, frames = read_all(clip, keep_aspect=False)
    assert source.fit.fills and frames[0].image[:, :10].mean() > 40  # no bars
    assert frames[0].image[3, 3].mean() > 200 and frames[0].image[3, 18].mean() < 200  # the quadrant: half the width


def test_the_person_detector_s_view_is_the_square_around_the_picture():
    """``FrameFit.view_row``: the track row of a detector frame, the smallest square around the picture, normalised
    over the model frame (MediaPipe letterboxes a source into its square input the same way)."""
    from tvstream.frame_fit import FrameFit

    # 16:9 fills 288 x 512: a 512 px square around the centre (half-sizes 1 and 512/288)
    np.testing.assert_allclose(FrameFit.of((720, 1280), (288, 512)).view_row(), [0, 0, 0, 1, 512 / 288], rtol=1e-6)
    # 9:16 (1920 x 1080): content 288 x 162 at x = 175; its centre x = 175 + 81 = 256, the frame's; side 288
    np.testing.assert_allclose(FrameFit.of((1920, 1080), (288, 512)).view_row(), [0, 0, 0, 288 / 512, 1], rtol=1e-6)
    rows = FrameFit.of((1920, 1080), (288, 512)).view_rows(3)  # the track input of 3 detector frames
    assert rows.shape == (3, 5) and rows.dtype == np.float32
    np.testing.assert_allclose(rows, [[0, 0, 0, 288 / 512, 1]] * 3, rtol=1e-6)
    # 4:3 (300 x 400): content 288 x 384 at x = 64; side 384: half-sizes 0.75 and 4/3
    np.testing.assert_allclose(FrameFit.of((300, 400), (288, 512)).view_row(), [0, 0, 0, 0.75, 384 / 288],
                               rtol=1e-6)
    # an odd leftover puts the extra pixel after the content: 1:2 in 24 x 32 is 12 wide at x = 10, centre 16
    row = FrameFit.of((96, 48), (24, 32)).view_row()
    assert row.dtype == np.float32 and row[0] == 0
    np.testing.assert_allclose(row[1:], [0, 0, 24 / 32, 1], rtol=1e-6)
    row = FrameFit.of((96, 47), (24, 32)).view_row()  # 12 wide (11.75 rounds up), offset 10: centre at 16
    np.testing.assert_allclose(row[1], (10 + 6) / 16 - 1, atol=1e-6)


def test_a_source_refitted_before_decoding_delivers_every_frame_at_the_new_size(tmp_path):
    """A model chosen for the source (``tvstream run --sharp``: a twin on a frame twice as large) refits it after it
    is opened and before its first frame; once frames are decoding the size cannot change."""
    clip = write_clip(tmp_path / "a.mpg", n=10, width=128, height=96)
    with VideoSource(str(clip), SIZE) as source:
        assert source.fit.content == (24, 32)
        source.refit((48, 64))
        assert source.fit.model == (48, 64) and source.fit.content == (48, 64)
        frames = list(source.frames())
        with pytest.raises(RuntimeError, match="after decoding started"):
            source.refit(SIZE)
    assert len(frames) == 10 and all(f.image.shape == (48, 64, 3) for f in frames)
    assert frames[0].image[:20, :28].min() > 200  # the white top-left quadrant, at the new size


def test_variable_frame_rate_times_follow_pts(tmp_path):
    pts = np.cumsum([0, *np.random.default_rng(2).integers(10, 90, 29)]).tolist()
    clip = write_clip(tmp_path / "vfr.mkv", n=30, codec="ffv1", pts_ms=pts)
    _, frames = read_all(clip)
    np.testing.assert_allclose([f.t for f in frames], np.array(pts) / 1000)


def test_timeline_is_strictly_increasing_across_restarts_repeats_and_wraps():
    timeline = Timeline(step=0.04, from_zero=True)
    times = [timeline(t) for t in (7.0, 7.04, 7.04, None, 7.2)]  # live: starts at 0; a repeat; no pts
    timeline.restart()
    times += [timeline(t) for t in (1.4, 1.44)]  # a reconnect: continues one frame later
    times += [timeline(t) for t in (0.0, 0.04)]  # a jump back (pts wrap): re-anchored too
    np.testing.assert_allclose(times, [0, 0.04, 0.08, 0.12, 0.2, 0.24, 0.28, 0.32, 0.36], atol=1e-9)


def test_deinterlace_gives_one_frame_per_frame_at_model_size(tmp_path):
    clip = write_clip(tmp_path / "i.ts", n=25)
    _, plain = read_all(clip)
    source, frames = read_all(clip, deinterlace=True)
    assert len(frames) == len(plain) == 25 and source.errors == 0
    assert all(f.image.shape == (*SIZE, 3) for f in frames)
    np.testing.assert_allclose([f.t for f in frames], [f.t for f in plain])


def test_hwaccel_cuda_decodes_every_frame_with_or_without_a_gpu(tmp_path):
    clip = write_clip(tmp_path / "h.mp4", n=20, codec="libx264")
    source, frames = read_all(clip, hwaccel="cuda")
    assert [f.index for f in frames] == list(range(20)) and source.errors == 0


def test_unknown_hwaccel_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="'cudaa'"):
        VideoSource(str(write_clip(tmp_path / "a.ts", n=2)), SIZE, hwaccel="cudaa")


# ---------------------------------------------------------------------------------------------- damage


@pytest.mark.parametrize(("name", "codec"), [("cut.ts", "libx264"), ("cut.mkv", "ffv1")])
def test_truncated_file_delivers_the_frames_before_the_cut(tmp_path, name, codec):
    clip = damaged_copy(write_clip(tmp_path / name, codec=codec), tmp_path / f"half-{name}", cut=True)
    _, frames = read_all(clip)
    assert 10 < len(frames) < 50 and [f.index for f in frames] == list(range(len(frames)))


@pytest.mark.parametrize(("name", "codec"), [("bad.ts", "libx264"), ("bad.mp4", "libx264"), ("bad.mkv", "ffv1")])
def test_corrupt_middle_is_skipped_and_counted_and_the_rest_delivered(tmp_path, name, codec):
    clip = damaged_copy(write_clip(tmp_path / name, codec=codec), tmp_path / f"damaged-{name}")
    source, frames = read_all(clip)
    times = np.array([f.t for f in frames])
    assert source.errors >= 1 and 25 <= len(frames) < 50
    assert times[0] < 0.1 and times[-1] > 1.9 and np.all(np.diff(times) > 0)  # both ends survive


def one_line_source_error(uri: str) -> str:
    with pytest.raises(SourceError) as info:
        VideoSource(uri, SIZE)
    message = str(info.value)
    assert "\n" not in message and message.startswith(uri)
    return message


def test_bad_files_are_one_line_source_errors(tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "notes.mp4").write_text("not a video\n" * 100)
    with av.open(str(tmp_path / "tone.wav"), mode="w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        container.mux(stream.encode(frame))
        container.mux(stream.encode())
    assert "no such video file" in one_line_source_error(str(tmp_path / "absent.mp4"))
    assert "cannot open video" in one_line_source_error(str(tmp_path / "empty.mp4"))
    assert "cannot open video" in one_line_source_error(str(tmp_path / "notes.mp4"))
    assert "no video stream" in one_line_source_error(str(tmp_path / "tone.wav"))


def test_source_errors_exit_with_code_2_and_sink_errors_do_not():
    assert SourceError("x").exit_code == ExitStatus.SOURCE == 2
    assert SinkError("x").exit_code == ExitStatus.SINK != 2


# ---------------------------------------------------------------------------------------------- cameras


def test_camera_uris_map_to_v4l2_devices():
    assert camera_device("camera:0") == "/dev/video0" and camera_device("camera:12") == "/dev/video12"
    assert camera_device("/dev/video2") == "/dev/video2"
    for other in ("camera:", "camera:x", "/dev/video", "/dev/sda", "video0.mp4", "-", "rtsp://cam/1"):
        assert camera_device(other) is None


@pytest.mark.skipif(os.path.exists("/dev/video99"), reason="a real /dev/video99 exists")
def test_missing_camera_is_a_one_line_source_error():
    assert "cannot open video" in one_line_source_error("/dev/video99")


# ---------------------------------------------------------------------------------------------- network


def test_network_options_keep_rtsp_on_tcp_and_time_out_every_protocol():
    assert network_options("rtsp://cam/stream")["rtsp_transport"] == "tcp"
    for url in ("rtmp://host/live", "srt://host:9000", "http://host/a.ts", "tcp://host:1", "udp://@:1234"):
        assert set(network_options(url)) == {"rw_timeout"}  # `timeout` would make rtmp listen


def test_reconnect_delay_doubles_up_to_the_cap():
    assert [Reconnect(first=0.5, longest=3.0).delay(k) for k in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


class LoopbackServer:
    """Serves ``payload`` over plain TCP to ``connections`` clients in turn, hanging up after each; then
    refuses (the listening socket closes as the last client is accepted)."""

    def __init__(self, payload: bytes, connections: int) -> None:
        self.payload, self.connections = payload, connections
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.url = f"tcp://127.0.0.1:{self.socket.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        with self.socket:
            for served in range(self.connections):
                client, _ = self.socket.accept()
                if served == self.connections - 1:
                    self.socket.close()
                with client:
                    client.sendall(self.payload)


FAST = Reconnect(attempts=2, first=0.05, longest=0.1)


def test_stream_cut_by_the_server_reconnects_and_keeps_frames_and_time_going(tmp_path):
    clip = write_clip(tmp_path / "live.ts", n=50)
    server = LoopbackServer(clip.read_bytes(), connections=2)
    frames = []
    with VideoSource(server.url, SIZE, queue_size=256, reconnect=FAST) as source:
        with pytest.raises(SourceError, match="stream lost after 100 frames and 2 failed reconnects"):
            frames.extend(source.frames())  # the third connection is refused: gives up after 2 tries
    times = np.array([f.t for f in frames])
    assert source.reconnects == 1 and source.dropped == 0 and source.live
    assert [f.index for f in frames] == list(range(100))
    assert times[0] == 0.0 and np.all(np.diff(times) > 0)
    np.testing.assert_allclose(times[50] - times[49], 0.04)  # the second connection continues the clock
    np.testing.assert_array_equal(frames[50].image, frames[0].image)  # and is the clip from its start


def test_stream_that_ends_is_the_end_when_reconnect_at_end_is_off(tmp_path):
    server = LoopbackServer(write_clip(tmp_path / "vod.ts", n=20).read_bytes(), connections=1)
    source, frames = read_all(server.url, queue_size=64, reconnect=Reconnect(at_end=False))
    assert [f.index for f in frames] == list(range(20)) and source.reconnects == 0


def test_a_stream_that_comes_back_at_another_size_keeps_the_first_size_and_says_so_once(tmp_path, caplog):
    """After a reconnect the server may send another size: frames, overlays and poses stay in the size the run
    started with (its header), with one warning."""
    clip = write_clip(tmp_path / "a.mp4", n=3, codec="libx264")  # 64x48
    bigger = av.VideoFrame.from_ndarray(np.zeros((96, 128, 3), np.uint8), format="rgb24")
    with VideoSource(str(clip), SIZE, display=True) as source:
        frames = [source._frame(bigger) for _ in range(2)]
    assert all(f.image.shape == (*SIZE, 3) and f.display.shape == (48, 64, 3) for f in frames)
    warnings = [r for r in caplog.records if "128x96 now (it was 64x48" in r.getMessage()]
    assert len(warnings) == 1
