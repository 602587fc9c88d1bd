"""The ws:// output, read by a real WebSocket client (the `websockets` library): handshake, header first for
every client, slow clients dropped, ping and close, refusals; `tvstream run --out ws://... --wait-client`."""

import http.client
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tvstream import tcp_outputs
from tvstream.errors import SinkError
from tvstream.sinks import JsonlSink
from tvstream.ws_outputs import accept_key

SAMPLE = Path(__file__).parent.parent / "examples" / "sample_ski.mp4"


def _header(sink):
    sink.header({"name": "test"}, "clip.mp4", 640, 360, 25.0)


def _pose(sink, i):
    """A full-size pose line (~750 bytes), as a real run writes."""
    rng = np.random.default_rng(i)
    sink.pose(i, i / 25, True, 0.9, np.array([10.0, 20, 110, 220]), rng.normal(0, 300, (17, 3)),
              rng.uniform(0, 1920, (17, 2)), 4.2)


def _wait_until(condition, timeout=3.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


class Reader(threading.Thread):
    """Receives one client's messages as JSON into ``lines`` until the connection closes."""

    def __init__(self, ws):
        super().__init__(daemon=True)
        self.ws, self.lines, self.error = ws, [], None
        self.start()

    def run(self):
        try:
            for message in self.ws:  # ends quietly on a clean close
                self.lines.append(json.loads(message))
        except ConnectionClosed as exc:
            self.error = exc

    def frames(self):
        return [line["frame"] for line in self.lines if line["type"] == "pose"]

    def kinds(self):
        return [line["type"] for line in self.lines]


def _client(sink, path="/", **options):
    return connect(f"ws://127.0.0.1:{sink.port}{path}", open_timeout=3, close_timeout=2, legacy=True, **options)


def test_accept_key_matches_the_rfc_example():
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455 section 1.3


def test_two_clients_get_the_header_then_every_line_in_order_then_a_clean_close():
    with JsonlSink("ws://127.0.0.1:0") as sink:
        readers = [Reader(_client(sink, "/poses")), Reader(_client(sink, "/any/path?x=1"))]
        _wait_until(lambda: sink.clients == 2)
        _header(sink)
        for i in range(20):
            _pose(sink, i)
        sink.end(frames=20)
    for reader in readers:
        reader.join(timeout=3)
        assert reader.kinds() == ["header"] + ["pose"] * 20 + ["end"]
        assert reader.frames() == list(range(20)) and reader.lines[-1]["frames"] == 20
        assert reader.error is None and reader.ws.close_code == 1000  # the sink closed with 1000 after `end`


def test_a_client_joining_mid_run_starts_with_the_header():
    with JsonlSink("ws://127.0.0.1:0") as sink:
        _header(sink)
        for i in range(5):
            _pose(sink, i)
        late = Reader(_client(sink))
        _wait_until(lambda: sink.clients == 1)
        for i in range(5, 8):
            _pose(sink, i)
        sink.end(frames=8)
    late.join(timeout=3)
    assert late.kinds() == ["header", "pose", "pose", "pose", "end"] and late.frames() == [5, 6, 7]
    assert late.lines[0]["source"]["uri"] == "clip.mp4"


def test_a_client_that_stops_reading_is_dropped_while_another_gets_every_line():
    with JsonlSink("ws://127.0.0.1:0") as sink:
        good = Reader(_client(sink))
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fill up fast
        raw.connect(("127.0.0.1", sink.port))
        stuck = _client(sink, sock=raw, max_queue=1)  # the library stops reading once one message waits
        _wait_until(lambda: sink.clients == 2)
        _header(sink)
        written, writing = 0, 0.0
        while sink.dropped_clients == 0:
            assert written < 3000, "the stuck client was never dropped"
            tic = time.perf_counter()
            _pose(sink, written)
            writing += time.perf_counter() - tic
            written += 1
            if written % 20 == 0:  # the good client keeps up: at most 20 lines behind
                _wait_until(lambda: len(good.lines) >= written - 20)
        assert sink.clients == 1 and writing < 2.0
        for i in range(written, written + 5):
            _pose(sink, i)
        sink.end(frames=written + 5)
    good.join(timeout=3)
    assert good.kinds()[0] == "header" and good.frames() == list(range(written + 5)) and good.kinds()[-1] == "end"
    stuck.close_socket()


def test_a_ping_is_answered_with_a_pong():
    with JsonlSink("ws://127.0.0.1:0") as sink:
        ws = _client(sink)
        _wait_until(lambda: sink.clients == 1)
        pong = ws.ping(b"are you there")
        i = 0
        while not pong.wait(0.01):  # the sink reads its clients when it writes a line
            assert i < 300, "no pong"
            _pose(sink, i)
            i += 1
        assert sink.clients == 1 and sink.dropped_clients == 0
        ws.close_socket()


def test_a_client_closing_gets_a_close_frame_back_and_is_dropped():
    with JsonlSink("ws://127.0.0.1:0") as sink:
        ws = _client(sink)
        _wait_until(lambda: sink.clients == 1)
        _header(sink)
        closing = threading.Thread(target=ws.close, kwargs={"code": 1001})  # waits for the sink's answer
        tic = time.monotonic()
        closing.start()
        i = 0
        while sink.clients:
            assert i < 300, "the client was never dropped"
            _pose(sink, i)
            i += 1
            time.sleep(0.005)
        closing.join(timeout=3)
        assert time.monotonic() - tic < 1.5  # answered, not left to the client's 2 s close timeout
        assert ws.close_code == 1001 and sink.dropped_clients == 1  # the sink echoed the client's code


@pytest.mark.parametrize("headers, status", [
    ({}, 426),  # plain HTTP
    ({"Upgrade": "websocket", "Connection": "Upgrade"}, 400),  # no key, no version
])
def test_a_request_that_is_not_a_websocket_handshake_is_refused(headers, status):
    with JsonlSink("ws://127.0.0.1:0") as sink:
        conn = http.client.HTTPConnection("127.0.0.1", sink.port, timeout=3)
        conn.request("GET", "/", headers=headers)
        response = conn.getresponse()
        assert response.status == status and b"WebSocket" in response.read()
        conn.close()
        assert sink.clients == 0


def test_a_client_stuck_in_its_handshake_does_not_hold_others_and_times_out(monkeypatch):
    monkeypatch.setattr(tcp_outputs, "GREETING_TIMEOUT_S", 0.3)
    with JsonlSink("ws://127.0.0.1:0") as sink:
        slow = socket.create_connection(("127.0.0.1", sink.port), timeout=3)
        slow.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # never finished
        assert not sink.wait_for_client(timeout=0.1)  # a half-done handshake is no client
        reader = Reader(_client(sink))
        assert sink.wait_for_client(timeout=3)
        _header(sink)
        sink.end(frames=0)
        assert slow.recv(100) == b""  # closed unanswered after the greeting timeout
        slow.close()
    reader.join(timeout=3)
    assert reader.kinds() == ["header", "end"]


def test_wss_is_refused_with_one_clear_error():
    with pytest.raises(SinkError, match="TLS .* not supported.*proxy"):
        JsonlSink("wss://127.0.0.1:0")


def test_wait_for_client_holds_until_the_first_client_and_needs_a_listener(tmp_path):
    with JsonlSink("tcp-listen://127.0.0.1:0") as sink:
        assert not sink.wait_for_client(timeout=0.05)
        client = socket.create_connection(("127.0.0.1", sink.port), timeout=3)
        assert sink.wait_for_client(timeout=3) and sink.address == f"tcp-listen://127.0.0.1:{sink.port}"
        client.close()
    with JsonlSink(tmp_path / "out.jsonl") as sink, pytest.raises(SinkError, match="not a listening output"):
        sink.wait_for_client(timeout=0.05)


# ---------------------------------------------------------------------------------------------- the CLI


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from tiny_model import export_tiny_model

    return export_tiny_model(tmp_path_factory.mktemp("ws"))


def _start_run(*args):
    return subprocess.Popen([sys.executable, "-m", "tvstream", "run", *map(str, args)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def _waiting_address(proc):
    """The URL in the run's 'waiting for a client on URL' line, stderr so far and the thread that reads it to
    the end."""
    found, seen = threading.Event(), []

    def read():
        for line in proc.stderr:
            seen.append(line)
            if "waiting for a client on" in line:
                found.set()

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    assert found.wait(60), "".join(seen)
    return re.search(r"waiting for a client on (\S+)", "".join(seen))[1], seen, thread


def test_run_waits_for_a_late_ws_client_which_then_gets_the_whole_run(model):
    proc = _start_run(SAMPLE, "--model", model, "--out", "ws://127.0.0.1:0", "--wait-client")
    try:
        url, stderr, _ = _waiting_address(proc)
        time.sleep(0.5)  # a late client: without --wait-client the 10 s clip is done by now
        reader = Reader(connect(url, open_timeout=3, close_timeout=2, legacy=True))
        reader.join(timeout=60)
        assert proc.wait(timeout=30) == 0, "".join(stderr)
    finally:
        proc.kill()
    assert url.startswith("ws://127.0.0.1:")
    assert reader.kinds() == ["header"] + ["pose"] * 250 + ["end"] and reader.frames() == list(range(250))
    assert reader.lines[-1]["frames"] == 250 and reader.ws.close_code == 1000


def test_ctrl_c_while_waiting_for_a_client_exits_130(model):
    proc = _start_run(SAMPLE, "--model", model, "--out", "tcp-listen://127.0.0.1:0", "--wait-client")
    try:
        _, stderr, reading = _waiting_address(proc)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 130
        reading.join(timeout=10)
    finally:
        proc.kill()
    stderr = "".join(stderr)
    assert "Traceback" not in stderr and "0 frames" in stderr and "stopped by SIGINT" in stderr


def test_wait_client_without_a_listening_output_is_a_usage_error(tmp_path):
    out = subprocess.run([sys.executable, "-m", "tvstream", "run", SAMPLE, "--out", tmp_path / "p.jsonl",
                          "--wait-client"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "--wait-client needs a tcp-listen:// or ws:// output" in out.stderr
