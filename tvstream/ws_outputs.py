"""WebSocket output of the JSON Lines sink (``ws://[HOST]:PORT``): RFC 6455, server side, no TLS.

A browser graphics page can read the poses straight off the sink. The server is :class:`TcpServer` with a
greeting: the accept thread reads each client's HTTP Upgrade request (non-blocking, at most
:data:`tvstream.tcp_outputs.GREETING_MAX_BYTES`, within :data:`tvstream.tcp_outputs.GREETING_TIMEOUT_S`),
answers 101 with ``Sec-WebSocket-Accept``, and refuses any other request (426 for plain HTTP, 400 for a
broken handshake). Any request path is accepted.

Each JSON line is one unmasked text frame (the object, without its newline), so backlogs, slow-client
drops and the header sent to each new client work as on ``tcp-listen://``. What clients send is read when
lines are written: a ping is answered with a pong, a close frame with a close frame before the client is
dropped, and text or binary messages are ignored. Closing the sink sends close (1000) after the ``end`` line.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import socket

from tvstream.tcp_outputs import LineKind, TcpServer, _Conn

log = logging.getLogger(__name__)

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3
OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
NORMAL_CLOSURE, PROTOCOL_ERROR = 1000, 1002
MAX_CLIENT_FRAME_BYTES = 64 * 1024  # a client has nothing to tell us; a bigger frame is a misbehaving client


def frame(opcode: int, payload: bytes) -> bytes:
    """One final, unmasked frame (servers never mask) carrying ``payload``."""
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, n))
    elif n < 1 << 16:
        head = bytes((0x80 | opcode, 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 127)) + n.to_bytes(8, "big")
    return head + payload


def accept_key(key: str) -> str:
    """``Sec-WebSocket-Accept`` for a client's ``Sec-WebSocket-Key``: base64(SHA-1(key + GUID))."""
    return base64.b64encode(hashlib.sha1(key.encode("ascii") + GUID).digest()).decode("ascii")


def _http_error(status: str, why: str) -> bytes:
    body = f"tvstream: {why}\n".encode()
    return (f"HTTP/1.1 {status}\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nConnection: close\r\n"
            f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


def _valid_key(key: str) -> bool:
    try:
        return len(base64.b64decode(key, validate=True)) == 16
    except (binascii.Error, ValueError):
        return False


def handshake_reply(request: bytes) -> tuple[bytes, bool]:
    """The answer to an HTTP request (up to its blank line): ``(101 reply, True)`` for a WebSocket
    handshake, else ``(error reply, False)``."""
    request_line, *lines = request.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    if headers.get("upgrade", "").lower() != "websocket":
        return _http_error("426 Upgrade Required", "this port serves WebSocket clients only"), False
    key = headers.get("sec-websocket-key", "")
    connection = {token.strip().lower() for token in headers.get("connection", "").split(",")}
    if (not request_line.startswith("GET ") or "upgrade" not in connection
            or headers.get("sec-websocket-version") != "13" or not _valid_key(key)):
        return _http_error("400 Bad Request", "not a WebSocket version 13 handshake"), False
    return (f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept_key(key)}\r\n\r\n").encode(), True


def client_frame(buf: bytes | bytearray) -> tuple[int, bytes, int] | None:
    """The first whole frame in ``buf`` as ``(opcode, payload, bytes used)``, None when it is not all there.

    Only control frames' payloads are unmasked (data frames are ignored). Raises ValueError on what RFC 6455
    says fails the connection: an unmasked frame, reserved bits (no extension is negotiated), an unknown
    opcode, a long or fragmented control frame; and on a frame over :data:`MAX_CLIENT_FRAME_BYTES`.
    """
    if len(buf) < 2:
        return None
    opcode, size, head = buf[0] & 0x0F, buf[1] & 0x7F, 2
    if not buf[1] & 0x80:
        raise ValueError("unmasked client frame")
    if buf[0] & 0x70 or opcode not in (OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG):
        raise ValueError(f"reserved bits or opcode in use (first byte {buf[0]:#04x})")
    if size >= 126:
        head += 2 if size == 126 else 8
        if len(buf) < head:
            return None
        size = int.from_bytes(buf[2:head], "big")
    if opcode >= OP_CLOSE and (size > 125 or not buf[0] & 0x80):
        raise ValueError("control frame longer than 125 bytes or fragmented")
    if size > MAX_CLIENT_FRAME_BYTES:
        raise ValueError(f"client frame of {size} bytes")
    end = head + 4 + size
    if len(buf) < end:
        return None
    mask = buf[head:head + 4]
    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(buf[head + 4:end])) if opcode >= OP_CLOSE else b""
    return opcode, payload, end


class _WsConn(_Conn):
    """A client after its handshake: answers pings and close frames, closes with a close handshake."""

    def __init__(self, sock: socket.socket, inbox: bytes = b"") -> None:
        super().__init__(sock)
        self._inbox = bytearray(inbox)  # bytes of a frame not yet whole
        self._close_sent = self._close_received = False

    def _received(self, data: bytes) -> None:
        self._inbox += data
        try:
            while (parsed := client_frame(self._inbox)) is not None:
                opcode, payload, used = parsed
                del self._inbox[:used]
                if opcode == OP_PING:
                    self.backlog += frame(OP_PONG, payload)  # a few bytes past BACKLOG_BYTES at most
                elif opcode == OP_CLOSE:
                    self._close_received = True
                    self._fail(ConnectionResetError("closed by the client"), payload[:2])
                    return
        except ValueError as exc:
            self._fail(ConnectionResetError(f"protocol error: {exc}"), PROTOCOL_ERROR.to_bytes(2, "big"))

    def _fail(self, error: OSError, code: bytes) -> None:
        """Answer with a close frame carrying ``code`` (sent if the kernel takes it now), then end with ``error``."""
        if not self._close_sent:
            self._close_sent = True
            self.backlog += frame(OP_CLOSE, code)
            self._send()
        self._error = error

    def _settled(self) -> bool:
        return not self.backlog and self._close_received

    def close(self, deadline: float) -> None:
        """Send the backlog and close (1000), wait until ``deadline`` for the client's close, then close."""
        if not self._close_sent and self._error is None:
            self._close_sent = True
            self.backlog += frame(OP_CLOSE, NORMAL_CLOSURE.to_bytes(2, "big"))
        super().close(deadline)


class WsServer(TcpServer):
    """``ws://[HOST]:PORT``: the TCP server's clients, greeted with a WebSocket handshake, one line per frame."""

    greeting_end = b"\r\n\r\n"

    def _welcome(self, sock: socket.socket, greeting: bytes, rest: bytes) -> _Conn | None:
        reply, upgraded = handshake_reply(greeting)
        try:
            sent = sock.send(reply)  # a fresh socket's buffer takes a reply this short
        except OSError:
            sent, upgraded = 0, False
        if not upgraded:
            log.info("output client refused: not a WebSocket handshake (%s)", greeting.split(b"\r\n", 1)[0][:80])
            sock.close()
            return None
        conn = _WsConn(sock, inbox=rest)
        conn.backlog += reply[sent:]
        return conn

    def send(self, line: bytes, kind: LineKind) -> None:
        super().send(frame(OP_TEXT, line.rstrip(b"\n")), kind)
