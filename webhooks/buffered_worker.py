"""gunicorn's threaded worker, reading each request whole before a thread sees it.

gunicorn's gthread worker gives a connection to a thread as soon as its first bytes arrive, and
the thread then reads the rest of the request blocking, for as long as the client takes: 100
clients sending a byte a second held every thread, and /healthz and Stripe's deliveries waited
behind them (issue 25). Here the worker's own loop, which already watches every idle connection,
reads a request without blocking until it is whole (httptools tells when, by Content-Length or
chunked encoding), and only then gives it to a thread, its bytes already in gunicorn's parser.
So a thread never waits on a client, and a request has bounds: its head within HEAD_SECONDS of
the connection's opening (or, kept alive, of its first byte), then its body within BODY_SECONDS;
a connection past its bound is closed unanswered. Idle kept-alive connections are gunicorn's,
closed after `keepalive` seconds (webhooks/gunicorn_conf.py).

gunicorn itself still parses and answers every request, refusals included (a head too large, a
body over the app's limit): what httptools refuses, a head or body over its limit, or a
pipelined request goes to a thread as far as it came, and the connection closes after the answer.
"""

from __future__ import annotations

import enum
import errno
import selectors
import socket
import time
from functools import partial

import httptools
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


class Arrival:
    """One request's bytes so far, and the moment it must be whole by. httptools (uvicorn's
    parser, llhttp in C: a few microseconds a delivery) calls the `on_*` methods as it reads."""

    def __init__(self, deadline: float, max_head_bytes: int, max_body_bytes: int) -> None:
        self.deadline = deadline
        self.max_head_bytes = max_head_bytes
        self.max_body_bytes = max_body_bytes
        self.received = bytearray()
        self.messages = 0
        self.head_done = False
        self.declared_length = 0
        self.body_bytes = 0
        self.whole = False
        self.parser = httptools.HttpRequestParser(self)

    def take(self, data: bytes, now: float) -> Readiness:
        self.received += data
        had_head = self.head_done
        try:
            self.parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade):  # gunicorn answers it
            return Readiness.AS_FAR_AS_IT_CAME
        if self.head_done and not had_head:
            self.deadline = now + BODY_SECONDS
        if self.messages > 1:  # a pipelined next request is not served: closed after this one
            return Readiness.AS_FAR_AS_IT_CAME
        if self.whole:
            return Readiness.WHOLE
        too_long = not self.head_done and len(self.received) > self.max_head_bytes
        too_large = max(self.declared_length, self.body_bytes) > self.max_body_bytes
        # Refused from what came (gunicorn's 431, the app's 413): nothing more to wait for.
        return Readiness.AS_FAR_AS_IT_CAME if too_long or too_large else Readiness.WAITING

    def on_message_begin(self) -> None:
        self.messages += 1

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"content-length":
            self.declared_length = max(self.declared_length, int(value))

    def on_headers_complete(self) -> None:
        self.head_done = True

    def on_body(self, body: bytes) -> None:
        self.body_bytes += len(body)

    def on_message_complete(self) -> None:
        self.whole = True


class BufferedThreadWorker(ThreadWorker):  # type: ignore[misc]  # gunicorn has no type hints
    def init_process(self) -> None:
        self.arrivals: dict[TConn, Arrival] = {}
        self.closing_after_answer: set[TConn] = set()
        self.next_sweep = 0.0
        self.max_body_bytes = load_settings().webhook_max_body_bytes
        cfg = self.cfg
        if cfg.is_ssl:
            raise RuntimeError("the buffered worker reads plain HTTP: end TLS at the proxy")
        # The largest head gunicorn accepts: one longer is refused without waiting for its end.
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
        readiness = arrival.take(data, time.monotonic())
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

    def handle_request(self, req: object, conn: TConn) -> bool:
        if conn in self.closing_after_answer:
            # The answer says `Connection: close`: a client told nothing would send its next
            # request on this connection as it closes, and see it cut without an answer.
            req.must_close = True  # type: ignore[attr-defined]
        return bool(super().handle_request(req, conn))

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
        return Arrival(time.monotonic() + HEAD_SECONDS, self.max_head_bytes, self.max_body_bytes)

    def _close(self, conn: TConn) -> None:
        """A connection that sent no whole request in time, or went away before one."""
        del self.arrivals[conn]
        with self._lock:
            self.poller.unregister(conn.sock)
        self.nr_conns -= 1
        conn.close()
