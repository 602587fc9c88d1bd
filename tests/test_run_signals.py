"""Stopping a live run: SIGINT / SIGTERM finish the current frame, write `end` and exit 130 / 0."""

import json
import signal
import subprocess
import sys
import time

import pytest


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from tiny_model import export_tiny_model

    return export_tiny_model(tmp_path_factory.mktemp("signals"))


@pytest.fixture(scope="module")
def stream_bytes(tmp_path_factory):
    from train.data.pattern_video import write_pattern_video

    return write_pattern_video(tmp_path_factory.mktemp("ts") / "live.ts", 600, width=96, height=64).read_bytes()


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 0)])
def test_a_signal_ends_the_run_with_a_valid_file(model, stream_bytes, tmp_path, sig, code):
    out = tmp_path / "poses.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "tvstream", "run", "-", "--model", str(model), "--out", str(out)],
                            stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    chunk = len(stream_bytes) // 60
    try:  # feed the stream like a live feed until poses appear, then keep it flowing while signalling
        deadline = time.monotonic() + 120
        sent = 0
        while time.monotonic() < deadline:
            proc.stdin.write(stream_bytes[sent:sent + chunk])
            proc.stdin.flush()
            sent += chunk
            time.sleep(0.02)
            if out.exists() and out.read_text().count('"type":"pose"') >= 5:
                break
        proc.send_signal(sig)
        try:
            while proc.poll() is None and sent < len(stream_bytes):
                proc.stdin.write(stream_bytes[sent:sent + chunk])
                sent += chunk
                time.sleep(0.02)
            proc.stdin.close()
        except BrokenPipeError:  # it stopped reading: what we want
            pass
        rc = proc.wait(timeout=60)
    finally:
        proc.kill()
    stderr = proc.stderr.read().decode()
    assert rc == code, stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]  # every line whole
    poses = [line for line in lines if line["type"] == "pose"]
    assert lines[0]["type"] == "header" and len(poses) >= 5
    assert lines[-1]["type"] == "end" and lines[-1]["frames"] == len(poses)
    assert lines[-1]["reason"] == f"stopped by {signal.Signals(sig).name}"
    assert len(poses) < 600  # it stopped before the stream ended
