"""benchmarks.scene_cuts: clips joined into one stream, and the cuts the detector calls in it."""

from __future__ import annotations

import av
import numpy as np

from benchmarks.scene_cuts import cuts_called, join_clips


def write_clip(path, colour, frames: int, size=(128, 72)) -> None:
    """``frames`` frames of 8 x 8 cells in ``colour`` (RGB) at random brightness, H.264."""
    rng = np.random.default_rng(sum(colour))
    cells = rng.uniform(0.3, 1.0, (size[1] // 8, size[0] // 8, 1))
    picture = (np.kron(cells, np.ones((8, 8, 1))) * colour).astype(np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for _ in range(frames):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
        container.mux(stream.encode(None))


def test_joined_clips_follow_one_another_and_the_join_is_the_one_cut(tmp_path):
    clips = [tmp_path / "a.mp4", tmp_path / "b.mp4"]
    write_clip(clips[0], (200, 60, 40), 12)
    write_clip(clips[1], (40, 90, 220), 9)
    joined = tmp_path / "joined.mp4"
    assert join_clips(clips, joined) == [0, 12, 21]
    assert not joined.with_name("joined.mp4.part").exists()  # VideoWriter's temp file, renamed on a clean close
    with av.open(str(joined)) as container:
        means = [f.to_ndarray(format="rgb24").reshape(-1, 3).mean(0) for f in container.decode(video=0)]
    assert len(means) == 21
    assert all(m[0] > m[2] for m in means[:12]) and all(m[2] > m[0] for m in means[12:])  # red, then blue
    assert join_clips(clips, joined) == [0, 12, 21]  # written once: counted again, not rewritten
    assert cuts_called(joined, (72, 128)) == [12]
    assert cuts_called(clips[0], (72, 128)) == []
