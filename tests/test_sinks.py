import json
import socketserver
import threading

import jsonschema
import numpy as np
import pytest

from tvstream.errors import SinkError
from tvstream.output_schema import output_schema
from tvstream.sinks import JsonlSink

VALIDATOR = jsonschema.Draft202012Validator(output_schema())


def _write_run(sink, frames=3, fail_at=None):
    sink.header({"name": "test"}, "clip.mp4", 640, 360, 25.0)
    for i in range(frames):
        if i == fail_at:
            raise RuntimeError("decoder died")
        detected = i != 1
        sink.pose(i, i / 25, detected, 0.9 if detected else 0.02, np.array([10.0, 20, 110, 220]),
                  np.random.default_rng(i).normal(0, 300, (17, 3)), np.full((17, 2), 55.555), latency_ms=4.2)


def test_lines_are_whole_valid_and_in_order(tmp_path):
    with JsonlSink(tmp_path / "out.jsonl") as sink:
        _write_run(sink)
        sink.end(frames=3)
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    for line in lines:
        VALIDATOR.validate(line)
    assert [line["type"] for line in lines] == ["header", "pose", "pose", "pose", "end"]
    assert lines[2]["detected"] is False and lines[2]["pose3d"] is None and lines[2]["box"] is None
    assert lines[1]["pose2d"][0] == [55.56, 55.56] and lines[1]["box"] == [10.0, 20.0, 110.0, 220.0]


def test_a_crash_keeps_written_lines_and_ends_with_the_reason(tmp_path):
    with pytest.raises(RuntimeError), JsonlSink(tmp_path / "out.jsonl") as sink:
        _write_run(sink, frames=5, fail_at=2)
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [line["type"] for line in lines] == ["header", "pose", "pose", "end"]
    assert lines[-1]["reason"] == "RuntimeError: decoder died" and lines[-1]["errors"] == 1
    VALIDATOR.validate(lines[-1])


def test_tcp_sink_streams_lines_to_a_listener():
    received = []

    class Handler(socketserver.StreamRequestHandler):
        def handle(self):
            received.extend(self.rfile.read().decode().splitlines())

    with socketserver.TCPServer(("127.0.0.1", 0), Handler) as server:
        thread = threading.Thread(target=server.handle_request)
        thread.start()
        with JsonlSink(f"tcp://127.0.0.1:{server.server_address[1]}") as sink:
            _write_run(sink, frames=2)
            sink.end(frames=2)
        thread.join(timeout=10)
    assert [json.loads(line)["type"] for line in received] == ["header", "pose", "pose", "end"]


def test_unwritable_targets_are_one_clear_error(tmp_path):
    with pytest.raises(SinkError, match="no such folder"):
        JsonlSink(tmp_path / "absent" / "out.jsonl")
    with pytest.raises(SinkError, match="cannot open output"):
        JsonlSink("tcp://127.0.0.1:1")  # nothing listens on port 1
