"""TCP outputs of the JSON Lines sink: one peer re-connected with back-off, or a server for any number of clients.

Sockets never stall the pipeline: they are non-blocking, and each connection keeps a bounded backlog of
the bytes the kernel has not taken yet. Every (re)connection and every new client starts with the header
line (see :mod:`tvstream.sinks`). The server's hooks (a client's greeting, what it sends, how a connection
ends) let :mod:`tvstream.ws_outputs` serve WebSocket clients on the same machinery.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Literal

log = logging.getLogger(__name__)

BACKLOG_BYTES = 256 * 1024  # per connection: ~7 s of 50 fps pose lines (~750 bytes each)
SEND_BUFFER_BYTES = 64 * 1024  # pinned, or kernel autotuning would hide up to 4 MB more lag behind the backlog
BACKOFF_S = (0.25, 4.0)  # first and longest wait between attempts to re-connect a lost peer
CONNECT_TIMEOUT_S = 10.0  # the first connection blocks (a failure is the user's mistake); re-connects do not
CLOSE_TIMEOUT_S = 1.0  # how long close() waits for connections to take their backlog (the end line)
ACCEPT_POLL_S = 0.1  # the accept thread checks for close() this often
GREETING_TIMEOUT_S = 5.0  # a client that must greet first (a WebSocket handshake) is closed when it takes longer
GREETING_MAX_BYTES = 16 * 1024  # ... or sends more than this without finishing its greeting

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

    def _received(self, data: bytes) -> None:
        """Handle bytes from the other end: a plain TCP client is not meant to send, so they are discarded."""

    def _settled(self) -> bool:
        """Has a closing connection nothing left to exchange? Here: its backlog is sent."""
        return not self.backlog

    def _poll(self) -> None:
        """Take what the other end sent and send what the kernel takes; raise when the other end has gone."""
        if self._error is None:
            try:
                data = self.sock.recv(65536)
                if not data:
                    self._error = ConnectionResetError("closed by the other end")
                else:
                    self._received(data)
            except BlockingIOError:
                pass
            except OSError as exc:
                self._error = exc
            self._send()
        if self._error is not None:
            raise self._error

    def close(self, deadline: float) -> None:
        """Send the backlog (and, in subclasses, finish a closing handshake) until ``deadline``
        (``time.monotonic``), then close."""
        try:
            while not self._settled() and self._error is None and (left := deadline - time.monotonic()) > 0:
                select.select([self.sock], [self.sock] if self.backlog else [], [], left)
                self._poll()
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


@dataclass
class _Greeting:
    """What a new client has sent so far of the request it must send before it is served."""

    address: tuple
    deadline: float  # time.monotonic()
    data: bytearray = field(default_factory=bytearray)


class TcpServer:
    """``tcp-listen://[HOST]:PORT``: any number of clients, each starting with the header; slow ones dropped.

    The accept thread reads the greeting of servers that need one (``greeting_end`` set; see :meth:`_welcome`)
    and appends ready connections to ``_joined`` (under ``_lock``); the pipeline thread moves them to
    ``_clients`` at its next line, so every socket is written by one thread at a time.
    """

    greeting_end: bytes | None = None  # what ends the request a client sends before it is served; None: none

    def __init__(self, host: str, port: int) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._listener = socket.create_server((host, port), family=family)
        self._listener.setblocking(False)
        self.host = host
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._joined: list[_Conn] = []  # guarded by _lock
        self._greetings: dict[socket.socket, _Greeting] = {}  # accept thread only
        self._clients: list[_Conn] = []  # pipeline thread only
        self._header: bytes | None = None
        self._end: bytes | None = None
        self.dropped_clients = 0
        self._first_client = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, name=f"tvstream-sink:{self.port}", daemon=True)
        self._thread.start()

    @property
    def clients(self) -> int:
        with self._lock:
            return len(self._clients) + len(self._joined)

    def wait_for_client(self, timeout: float | None = None) -> bool:
        """Block until a client has joined (now or before); False when ``timeout`` seconds passed first."""
        return self._first_client.wait(timeout)

    # ------------------------------------------------------------------ accept thread

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                readable = select.select([self._listener, *self._greetings], [], [], ACCEPT_POLL_S)[0]
            except OSError as exc:
                log.warning("output listener on port %d stopped accepting: %s", self.port, exc)
                return
            for sock in readable:
                if sock is self._listener:
                    self._take_new()
                else:
                    self._read_greeting(sock)
            now = time.monotonic()
            for sock in [s for s, greeting in self._greetings.items() if greeting.deadline < now]:
                self._refuse(sock, "did not finish its request in time")

    def _take_new(self) -> None:
        try:
            sock, address = self._listener.accept()
            sock.setblocking(False)
            if self.greeting_end is None:
                self._join(_Conn(sock), address)
            else:
                self._greetings[sock] = _Greeting(address, time.monotonic() + GREETING_TIMEOUT_S)
        except BlockingIOError:
            pass  # the client gave up before it was accepted
        except OSError as exc:  # out of file descriptors, say: keep serving the clients there are
            log.warning("output listener on port %d could not accept a client: %s", self.port, exc)
            self._stop.wait(ACCEPT_POLL_S)

    def _read_greeting(self, sock: socket.socket) -> None:
        greeting = self._greetings[sock]
        try:
            data = sock.recv(GREETING_MAX_BYTES)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        greeting.data += data
        end = greeting.data.find(self.greeting_end)
        if end < 0:
            if data and len(greeting.data) <= GREETING_MAX_BYTES:
                return
            self._refuse(sock, "sent no complete request" if not data else "sent too long a request")
            return
        del self._greetings[sock]
        end += len(self.greeting_end)
        conn = self._welcome(sock, bytes(greeting.data[:end]), bytes(greeting.data[end:]))
        if conn is not None:
            self._join(conn, greeting.address)

    def _welcome(self, sock: socket.socket, greeting: bytes, rest: bytes) -> _Conn | None:
        """Answer a client's ``greeting`` (``rest``: what it sent after it); its connection, or None
        (having closed ``sock``) when it is refused. Subclasses with a ``greeting_end`` define it."""
        raise NotImplementedError

    def _refuse(self, sock: socket.socket, reason: str) -> None:
        log.info("output client %s:%s refused: %s", *self._greetings.pop(sock).address[:2], reason)
        sock.close()

    def _join(self, conn: _Conn, address: tuple) -> None:
        log.info("output client %s:%s joined", *address[:2])
        with self._lock:
            self._joined.append(conn)
        self._first_client.set()

    # ------------------------------------------------------------------ pipeline thread

    def _admit_joined(self, before: LineKind | None) -> list[_Conn]:
        """Move newly accepted clients to ``_clients``, giving each the header (unless ``before`` is it)."""
        with self._lock:
            admitted, self._joined = self._joined, []
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
        for sock in self._greetings:
            sock.close()
        self._greetings.clear()
        for conn in self._admit_joined(before=None):
            if self._end is not None and conn in self._clients:
                self._offer(conn, self._end)  # a client that joined after end() still sees a whole run
        deadline = time.monotonic() + CLOSE_TIMEOUT_S
        for conn in self._clients:
            conn.close(deadline)
        self._clients = []
