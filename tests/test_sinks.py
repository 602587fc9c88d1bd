import json
import select
import socket
import socketserver
import threading
import time

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


def test_conf_is_rounded_clipped_and_null_when_not_detected(tmp_path):
    conf = np.linspace(0.0, 1.0, 17)
    conf[0], conf[1] = 0.12345, 1.0000001  # a sigmoid at float32 can land a hair above 1
    with JsonlSink(tmp_path / "out.jsonl") as sink:
        sink.header({"name": "test"}, "clip.mp4", 640, 360, 25.0)
        for i, detected in enumerate((True, False)):
            sink.pose(i, i / 25, detected, 0.9, np.array([10.0, 20, 110, 220]), np.zeros((17, 3)),
                      np.zeros((17, 2)), 4.2, conf=conf)
        sink.pose(2, 0.08, True, 0.9, np.array([10.0, 20, 110, 220]), np.zeros((17, 3)), np.zeros((17, 2)), 4.2)
        sink.end(frames=3)
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    for line in lines:
        VALIDATOR.validate(line)
    assert lines[0]["schema"] == "tvstream.pose/4"
    assert lines[1]["conf"][:3] == [0.123, 1.0, 0.125] and len(lines[1]["conf"]) == 17
    assert lines[2]["conf"] is None  # a model with conf, a frame without a detection
    assert "conf" not in lines[3]  # a model without a confidence output


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


def _pose(sink, i):
    """A full-size pose line (~750 bytes), as a real run writes."""
    rng = np.random.default_rng(i)
    sink.pose(i, i / 25, True, 0.9, np.array([10.0, 20, 110, 220]), rng.normal(0, 300, (17, 3)),
              rng.uniform(0, 1920, (17, 2)), 4.2)


def _read_lines(sock, n=None):
    """``n`` JSON lines from ``sock`` (all of them up to EOF when None); the 2 s socket timeout bounds the wait."""
    lines, reader = [], sock.makefile("rb")
    while n is None or len(lines) < n:
        raw = reader.readline()
        if not raw:
            break
        assert raw.endswith(b"\n")
        lines.append(json.loads(raw))
        VALIDATOR.validate(lines[-1])
    reader.close()
    return lines


def _wait_until(condition, timeout=2.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def _free_port():
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return probe.getsockname()[1]


def test_tcp_peer_that_goes_away_is_reconnected_and_gets_the_header_first():
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(2)
        with JsonlSink(f"tcp://127.0.0.1:{server.getsockname()[1]}") as sink:
            first, _ = server.accept()
            first.settimeout(2)
            sink.header({"name": "test"}, "clip.mp4", 640, 360, 25.0)
            _pose(sink, 0)
            _pose(sink, 1)
            assert [line["type"] for line in _read_lines(first, 3)] == ["header", "pose", "pose"]
            first.close()
            frame, deadline = 2, time.monotonic() + 2.5
            while not select.select([server], [], [], 0.01)[0]:  # the sink keeps writing while the peer is away
                assert time.monotonic() < deadline, "the sink did not reconnect"
                _pose(sink, frame)
                frame += 1
            second, _ = server.accept()
            second.settimeout(2)
            for i in range(frame, frame + 3):
                _pose(sink, i)
            sink.end(frames=frame + 3)
        lines = _read_lines(second)
        second.close()
    assert lines[0]["type"] == "header" and lines[-1]["type"] == "end"
    frames = [line["frame"] for line in lines if line["type"] == "pose"]
    assert len(frames) >= 3 and frames[0] >= 2 and frames == sorted(set(frames))
    assert sink.lost_lines >= 1 and sink.lost_lines + len(frames) == frame + 3 - 2


def test_tcp_peer_refusing_the_first_connection_is_a_sink_error():
    with pytest.raises(SinkError, match="cannot open output"):
        JsonlSink(f"tcp://127.0.0.1:{_free_port()}")


def test_tcp_listen_clients_get_the_header_then_every_later_line_then_end():
    with JsonlSink("tcp-listen://127.0.0.1:0") as sink:
        early = socket.create_connection(("127.0.0.1", sink.port), timeout=2)
        _wait_until(lambda: sink.clients == 1)
        sink.header({"name": "test"}, "clip.mp4", 640, 360, 25.0)
        for i in range(3):
            _pose(sink, i)
        late = socket.create_connection(("127.0.0.1", sink.port), timeout=2)
        _wait_until(lambda: sink.clients == 2)
        for i in range(3, 6):
            _pose(sink, i)
        sink.end(frames=6)
    for client, frames in ((early, list(range(6))), (late, [3, 4, 5])):
        lines = _read_lines(client)  # up to EOF: close() ended the connection
        client.close()
        assert [line["type"] for line in lines] == ["header"] + ["pose"] * len(frames) + ["end"]
        assert [line["frame"] for line in lines[1:-1]] == frames


def test_tcp_listen_client_that_never_reads_does_not_stall_the_writer():
    with JsonlSink("tcp-listen://127.0.0.1:0") as sink:
        stuck = socket.socket()
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fill up fast
        stuck.settimeout(2)
        stuck.connect(("127.0.0.1", sink.port))
        _wait_until(lambda: sink.clients == 1)
        tic = time.perf_counter()
        sink.header({"name": "test"}, "clip.mp4", 640, 360, 25.0)
        for i in range(2000):
            _pose(sink, i)
        # a blocking send to a reader that never reads would hang for good; ~0.1 s on a quiet machine, 2.4 s
        # once with three training processes on its 2 cores: the bound catches a stall, not a slow machine
        assert time.perf_counter() - tic < 10.0
        assert sink.clients == 0 and sink.dropped_clients == 1
    stuck.close()


def test_tcp_listen_with_no_clients_discards_lines():
    with JsonlSink("tcp-listen://127.0.0.1:0") as sink:
        _write_run(sink, frames=3)
        sink.end(frames=3)
    assert sink.lines == 5 and sink.clients == 0


def test_unknown_output_scheme_is_one_clear_error():
    with pytest.raises(SinkError, match="unknown output scheme udp://"):
        JsonlSink("udp://127.0.0.1:9000")
    with pytest.raises(SinkError, match="cannot open output"):
        JsonlSink("tcp-listen://127.0.0.1:port")
