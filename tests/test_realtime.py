"""--realtime: frames paced at their own timestamps (as ffmpeg -re), on a fake clock and through the CLI."""

import json
import subprocess
import sys
import time

import pytest

from tvstream.sources import Pacer, VideoSource


class FakeClock:
    """A clock whose sleeps advance it, each waking up ``overshoot`` seconds late like a real scheduler."""

    def __init__(self, overshoot=0.0):
        self.now, self.overshoot, self.sleeps = 1000.0, overshoot, []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds + self.overshoot


def _delivered(times, clock, work=0.0):
    """Wall-clock times at which a pacer on ``clock`` lets frames with ``times`` through; each takes ``work``."""
    pacer, out = Pacer(clock=clock, sleep=clock.sleep), []
    for t in times:
        pacer.wait(t)
        out.append(clock())
        clock.now += work
    return out


def test_frames_are_due_at_their_timestamps_without_drift():
    clock = FakeClock(overshoot=0.003)
    times = [10.0 + i / 25 for i in range(1000)]  # a file whose first pts is not 0
    delivered = _delivered(times, clock, work=0.01)
    lateness = [(d - delivered[0]) - (t - times[0]) for d, t in zip(delivered, times)]
    # a sleep of 1/fps per frame would be 1000 x (3 + 10) ms late by the end
    assert min(lateness) >= 0 and max(lateness) == pytest.approx(0.003)


def test_frame_times_are_used_not_a_frame_rate():
    clock = FakeClock()
    times = [0.0, 0.04, 0.5, 0.52, 2.0]  # variable frame rate, a gap
    delivered = _delivered(times, clock)
    assert [d - delivered[0] for d in delivered] == pytest.approx(times)


def test_a_slow_consumer_is_never_held_back():
    clock = FakeClock()
    _delivered([i / 25 for i in range(50)], clock, work=0.1)  # 4x slower than the frame rate
    assert clock.sleeps == []


def test_live_sources_ignore_realtime(tmp_path):
    from train.data.pattern_video import write_pattern_video

    clip = write_pattern_video(tmp_path / "clip.mp4", 5, width=64, height=64)
    with VideoSource(clip, (64, 64), realtime=True) as paced, VideoSource(clip, (64, 64), live=True,
                                                                           realtime=True) as live:
        assert paced.realtime and not live.realtime


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from tiny_model import export_tiny_model

    return export_tiny_model(tmp_path_factory.mktemp("realtime"))


def test_run_realtime_takes_a_two_second_clip_in_two_seconds(model, tmp_path):
    from train.data.pattern_video import write_pattern_video

    clip = write_pattern_video(tmp_path / "clip.mp4", 50, width=96, height=64, fps=25)  # 2 s
    proc = subprocess.Popen([sys.executable, "-m", "tvstream", "run", str(clip), "--model", str(model), "--realtime"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    arrivals = []  # (wall clock, line) as each line is written
    for raw in proc.stdout:
        arrivals.append((time.monotonic(), json.loads(raw)))
    assert proc.wait(timeout=60) == 0, proc.stderr.read().decode()
    poses = [(when, line["t"]) for when, line in arrivals if line["type"] == "pose"]
    assert len(poses) == 50 and arrivals[-1][1]["type"] == "end"
    assert poses[-1][0] - poses[0][0] >= 1.8  # frame 49 is due 1.96 s after frame 0; unpaced it takes ~0.1 s
    # never early against the clock the lines keep: a loaded machine delays lines (the first one too, which
    # made the first line a bad reference), it never sends one before its time; unpaced, line 49 is 1.8 s early
    lag = sorted(when - t for when, t in poses)
    assert lag[0] >= lag[len(lag) // 2] - 0.05
