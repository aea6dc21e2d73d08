"""gunicorn's threaded worker, reading each request whole before a thread sees it.

gunicorn's gthread worker gives a connection to a thread as soon as its first bytes arrive, and
the thread then reads the rest of the request blocking, for as long as the client takes: 100
clients sending a byte a second held every thread, and /healthz and Stripe's deliveries waited
behind them (issue 25). Here the worker's own loop, which already watches every idle connection,
reads a request without blocking until it is whole (h11 tells when: Content-Length or chunked),
and only then gives it to a thread, its bytes already in gunicorn's parser. So a thread never
waits on a client, and a request has bounds: its head within HEAD_SECONDS of the connection's
opening (or, kept alive, of its first byte), then its body within BODY_SECONDS; a connection past
its bound is closed unanswered. Idle kept-alive connections are gunicorn's, closed after
`keepalive` seconds (webhooks/gunicorn_conf.py).

gunicorn itself still parses and answers every request, refusals included (a head too large, a
body over the app's limit): what h11 refuses, or a body over the limit, goes to a thread as far
as it came, and that connection is closed after the answer.
"""

from __future__ import annotations

import enum
import errno
import selectors
import socket
import time
from dataclasses import dataclass, field
from functools import partial

import h11
from gunicorn.workers.gthread import TConn, ThreadWorker  # type: ignore[import-untyped]

from worker.config import load_settings

HEAD_SECONDS = 10.0
BODY_SECONDS = 20.0
# A thread's socket calls time out after this: it reads only what buffering let through unread
# (a refused request's rest), or waits on a client slow to take its answer.
THREAD_SOCKET_SECONDS = 10.0
SWEEP_SECONDS = 0.25  # how often the loop looks for connections past their bound
RECV_BYTES = 64 * 1024


class Readiness(enum.Enum):
    WAITING = "waiting"  # more bytes to come
    WHOLE = "whole"  # one whole request: to a thread, then the connection may be kept alive
    AS_FAR_AS_IT_CAME = "as far as it came"  # to a thread for gunicorn's answer, then closed


@dataclass
class Arrival:
    """One request's bytes so far, and the moment it must be whole by."""

    deadline: float
    max_head_bytes: int
    received: bytearray = field(default_factory=bytearray)
    body_bytes: int = 0
    parser: h11.Connection = field(init=False)

    def __post_init__(self) -> None:
        self.parser = h11.Connection(h11.SERVER, max_incomplete_event_size=self.max_head_bytes)

    def take(self, data: bytes, now: float, max_body_bytes: int) -> Readiness:
        self.received += data
        try:
            self.parser.receive_data(data)
            while True:
                event = self.parser.next_event()
                if event is h11.NEED_DATA:
                    return Readiness.WAITING
                if isinstance(event, h11.Request):
                    self.deadline = now + BODY_SECONDS
                    if _declared_length(event) > max_body_bytes:
                        return Readiness.AS_FAR_AS_IT_CAME  # refused unread: no need to wait
                elif isinstance(event, h11.Data):
                    self.body_bytes += len(event.data)
                    if self.body_bytes > max_body_bytes:
                        return Readiness.AS_FAR_AS_IT_CAME
                elif isinstance(event, h11.EndOfMessage):
                    # A pipelined next request is not served: the connection closes after this.
                    pipelined, _ = self.parser.trailing_data
                    return Readiness.AS_FAR_AS_IT_CAME if pipelined else Readiness.WHOLE
                else:
                    return Readiness.AS_FAR_AS_IT_CAME
        except h11.RemoteProtocolError:
            return Readiness.AS_FAR_AS_IT_CAME  # gunicorn gives its own status for it


def _declared_length(request: h11.Request) -> int:
    lengths = [int(value) for name, value in request.headers if name == b"content-length"]
    return max(lengths, default=0)


class BufferedThreadWorker(ThreadWorker):  # type: ignore[misc]  # gunicorn has no type hints
    def init_process(self) -> None:
        self.arrivals: dict[TConn, Arrival] = {}
        self.closing_after_answer: set[TConn] = set()
        self.next_sweep = 0.0
        self.max_body_bytes = load_settings().webhook_max_body_bytes
        cfg = self.cfg
        if cfg.is_ssl:
            raise RuntimeError("the buffered worker reads plain HTTP: end TLS at the proxy")
        # The largest head gunicorn accepts: h11 must not refuse one that gunicorn would take.
        self.max_head_bytes = (
            cfg.limit_request_line + cfg.limit_request_fields * (cfg.limit_request_field_size + 2)
        ) + 4
        super().init_process()  # ends in run()

    def accept(self, server: tuple[str, int], listener: socket.socket) -> None:
        try:
            sock, client = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        conn = TConn(self.cfg, sock, client, server)
        self.nr_conns += 1
        self.arrivals[conn] = self._arrival()
        with self._lock:
            self.poller.register(
                conn.sock, selectors.EVENT_READ, partial(self.on_client_socket_readable, conn)
            )

    def on_client_socket_readable(self, conn: TConn, client: socket.socket) -> None:
        arrival = self.arrivals.get(conn)
        if arrival is None:  # a kept-alive connection's next request begins
            with self._lock:
                try:
                    self._keep.remove(conn)
                except ValueError:
                    return  # closed as idle meanwhile
            arrival = self.arrivals[conn] = self._arrival()
        try:
            data = conn.sock.recv(RECV_BYTES)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._close(conn)
            return
        readiness = arrival.take(data, time.monotonic(), self.max_body_bytes)
        if readiness is Readiness.WAITING:
            return
        with self._lock:
            self.poller.unregister(conn.sock)
        del self.arrivals[conn]
        if readiness is Readiness.AS_FAR_AS_IT_CAME:
            self.closing_after_answer.add(conn)
        conn.init()
        conn.parser.unreader.unread(bytes(arrival.received))
        self.enqueue_req(conn)

    def handle(self, conn: TConn) -> tuple[bool, TConn]:
        conn.sock.settimeout(THREAD_SOCKET_SECONDS)
        keepalive, conn = super().handle(conn)
        if conn in self.closing_after_answer:
            self.closing_after_answer.discard(conn)
            keepalive = False
        return keepalive, conn

    def murder_keepalived(self) -> None:
        super().murder_keepalived()
        now = time.monotonic()
        if now < self.next_sweep:
            return
        self.next_sweep = now + SWEEP_SECONDS
        for conn in [conn for conn, arrival in self.arrivals.items() if arrival.deadline <= now]:
            self._close(conn)

    def _arrival(self) -> Arrival:
        return Arrival(time.monotonic() + HEAD_SECONDS, self.max_head_bytes)

    def _close(self, conn: TConn) -> None:
        """A connection that sent no whole request in time, or went away before one."""
        del self.arrivals[conn]
        with self._lock:
            self.poller.unregister(conn.sock)
        self.nr_conns -= 1
        conn.close()
