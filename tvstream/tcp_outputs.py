"""TCP outputs of the JSON Lines sink: one peer re-connected with back-off, or a server for any number of clients.

Sockets never stall the pipeline: they are non-blocking, and each connection keeps a bounded backlog of
the bytes the kernel has not taken yet. Every (re)connection and every new client starts with the header
line (see :mod:`tvstream.sinks`).
"""

from __future__ import annotations

import errno
import logging
import os
import select
import socket
import threading
import time
from typing import Literal

log = logging.getLogger(__name__)

BACKLOG_BYTES = 256 * 1024  # per connection: ~7 s of 50 fps pose lines (~750 bytes each)
SEND_BUFFER_BYTES = 64 * 1024  # pinned, or kernel autotuning would hide up to 4 MB more lag behind the backlog
BACKOFF_S = (0.25, 4.0)  # first and longest wait between attempts to re-connect a lost peer
CONNECT_TIMEOUT_S = 10.0  # the first connection blocks (a failure is the user's mistake); re-connects do not
CLOSE_TIMEOUT_S = 1.0  # how long close() waits for connections to take their backlog (the end line)
ACCEPT_POLL_S = 0.1  # the accept thread checks for close() this often

LineKind = Literal["header", "pose", "end"]


def host_port(address: str, default_host: str) -> tuple[str, int]:
    """``HOST:PORT``, ``:PORT`` or ``[IPV6]:PORT`` as (host, port); ValueError when malformed."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError("expected HOST:PORT with a port in 0-65535")
    return host.strip("[]") or default_host, int(port)


class _Conn:
    """A non-blocking socket plus the bytes the kernel has not taken yet (at most BACKLOG_BYTES)."""

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
        self.sock = sock
        self.backlog = bytearray()
        self._error: OSError | None = None

    def push(self, line: bytes) -> bool:
        """Queue ``line`` and send what the kernel takes now; False (not queued) when the backlog is full.

        Raises OSError, with ``line`` not queued, when the other end is gone.
        """
        self._poll()
        if len(self.backlog) + len(line) > BACKLOG_BYTES:
            return False
        self.backlog += line
        self._send()  # an error here surfaces at the next push
        return True

    def unsent_lines(self) -> int:
        return self.backlog.count(b"\n")

    def _send(self) -> None:
        try:
            while self.backlog and self._error is None:
                del self.backlog[:self.sock.send(self.backlog)]
        except BlockingIOError:
            pass
        except OSError as exc:
            self._error = exc

    def _poll(self) -> None:
        """Raise when the other end has gone; it is not meant to send, so what it sends is discarded."""
        if self._error is None:
            try:
                if not self.sock.recv(65536):
                    self._error = ConnectionResetError("closed by the other end")
            except BlockingIOError:
                pass
            except OSError as exc:
                self._error = exc
            self._send()
        if self._error is not None:
            raise self._error

    def close(self, deadline: float) -> None:
        """Send the backlog until ``deadline`` (``time.monotonic``), then close."""
        try:
            while self.backlog and self._error is None and (left := deadline - time.monotonic()) > 0:
                select.select([], [self.sock], [], left)
                self._send()
            self._poll()  # unread input would make close() reset the connection instead of ending it
        except OSError:
            pass
        self.sock.close()


class TcpPeer:
    """``tcp://HOST:PORT``: one connection, re-made with back-off whenever the peer goes away."""

    def __init__(self, host: str, port: int) -> None:
        sock = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S)
        self._family, self._address = sock.family, sock.getpeername()  # re-connects skip DNS, which can block
        self._conn: _Conn | None = _Conn(sock)
        self._connecting: socket.socket | None = None
        self._connect_deadline = self._retry_at = 0.0
        self._backoff = BACKOFF_S[0]
        self._header: bytes | None = None
        self.lost_lines = 0
        self.connections = 1

    def send(self, line: bytes, kind: LineKind) -> None:
        if kind == "header":
            self._header = line
        if self._conn is None:
            self._reconnect()  # sends the header first when it succeeds
            if self._conn is None:
                self.lost_lines += 1
                return
            if kind == "header":
                return
        try:
            if not self._conn.push(line):
                self.lost_lines += 1  # the peer is alive but too slow: keep the connection, skip lines
        except OSError as exc:
            self.lost_lines += 1
            self._lose(exc)

    def _lose(self, exc: OSError) -> None:
        log.warning("output peer %s:%s went away (%s); re-connecting", *self._address[:2], exc)
        self.lost_lines += self._conn.unsent_lines()
        self._conn.close(deadline=0.0)
        self._conn = None
        self._wait_before_retry()

    def _wait_before_retry(self) -> None:
        self._retry_at = time.monotonic() + self._backoff
        self._backoff = min(2 * self._backoff, BACKOFF_S[1])

    def _reconnect(self) -> None:
        """Take one step of a non-blocking connect: start one when the back-off allows, or check on it."""
        try:
            if self._connecting is None:
                if time.monotonic() < self._retry_at:
                    return
                self._connecting = socket.socket(self._family, socket.SOCK_STREAM)
                self._connecting.setblocking(False)
                self._connect_deadline = time.monotonic() + CONNECT_TIMEOUT_S
                err = self._connecting.connect_ex(self._address)
                if err not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
                    raise OSError(err, os.strerror(err))
            if not select.select([], [self._connecting], [], 0)[1]:
                if time.monotonic() > self._connect_deadline:
                    raise TimeoutError("connect timed out")
                return
            err = self._connecting.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                raise OSError(err, os.strerror(err))
        except OSError as exc:
            log.debug("re-connecting output peer %s:%s failed: %s", *self._address[:2], exc)
            if self._connecting is not None:
                self._connecting.close()
            self._connecting = None
            self._wait_before_retry()
            return
        self._conn, self._connecting = _Conn(self._connecting), None
        self._backoff = BACKOFF_S[0]
        self.connections += 1
        log.info("output peer %s:%s re-connected (%d lines lost so far)", *self._address[:2], self.lost_lines)
        if self._header is not None:
            self.send(self._header, "header")

    def close(self) -> None:
        if self._connecting is not None:
            self._connecting.close()
        if self._conn is not None:
            self._conn.close(deadline=time.monotonic() + CLOSE_TIMEOUT_S)


class TcpServer:
    """``tcp-listen://[HOST]:PORT``: any number of clients, each starting with the header; slow ones dropped.

    The accept thread only appends new sockets to ``_joined`` (under ``_lock``); the pipeline thread moves
    them to ``_clients`` at its next line, so every socket is written by one thread only.
    """

    def __init__(self, host: str, port: int) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._listener = socket.create_server((host, port), family=family)
        self._listener.settimeout(ACCEPT_POLL_S)
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._joined: list[socket.socket] = []  # guarded by _lock
        self._clients: list[_Conn] = []  # pipeline thread only
        self._header: bytes | None = None
        self._end: bytes | None = None
        self.dropped_clients = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, name=f"tvstream-sink:{self.port}", daemon=True)
        self._thread.start()

    @property
    def clients(self) -> int:
        with self._lock:
            return len(self._clients) + len(self._joined)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                sock, address = self._listener.accept()
            except TimeoutError:
                continue
            except OSError as exc:
                log.warning("output listener on port %d stopped accepting: %s", self.port, exc)
                return
            log.info("output client %s:%s joined", *address[:2])
            with self._lock:
                self._joined.append(sock)

    def _admit_joined(self, before: LineKind | None) -> list[_Conn]:
        """Move newly accepted clients to ``_clients``, giving each the header (unless ``before`` is it)."""
        with self._lock:
            joined, self._joined = self._joined, []
        admitted = [_Conn(sock) for sock in joined]
        self._clients += admitted
        for conn in admitted:
            if self._header is not None and before != "header":
                self._offer(conn, self._header)
        return admitted

    def _offer(self, conn: _Conn, line: bytes) -> None:
        try:
            if conn.push(line):
                return
            reason = "fell too far behind"
        except OSError as exc:
            reason = str(exc)
        log.info("output client dropped: %s", reason)
        conn.close(deadline=0.0)
        self._clients.remove(conn)
        self.dropped_clients += 1

    def send(self, line: bytes, kind: LineKind) -> None:
        if kind == "header":
            self._header = line
        elif kind == "end":
            self._end = line
        self._admit_joined(before=kind)
        for conn in list(self._clients):  # with no clients the line is simply discarded
            self._offer(conn, line)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._listener.close()
        for conn in self._admit_joined(before=None):
            if self._end is not None and conn in self._clients:
                self._offer(conn, self._end)  # a client that joined after end() still sees a whole run
        deadline = time.monotonic() + CLOSE_TIMEOUT_S
        for conn in self._clients:
            conn.close(deadline)
        self._clients = []
