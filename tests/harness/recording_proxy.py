"""A loopback proxy in front of stripe-mock that records the headers of every request: what
stripe-mock never echoes (`Stripe-Account`), seen as the worker's processes really send it."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"}


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    stripe_account: str | None  # the Stripe-Account header, None when absent
    idempotency_key: str | None
    status: int


class RecordingProxy:
    """`with RecordingProxy(stripe_mock.url) as proxy:` ... `proxy.url`, `proxy.seen`."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def take(self) -> list[Seen]:
        """The requests seen since the last `take`."""
        with self._lock:
            seen, self.seen = self.seen, []
        return seen

    def __enter__(self) -> RecordingProxy:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                answer = requests.request(
                    self.command, proxy.upstream + self.path, headers=headers, data=body, timeout=30
                )
                with proxy._lock:
                    proxy.seen.append(
                        Seen(
                            self.command,
                            self.path.split("?")[0],
                            self.headers.get("Stripe-Account"),
                            self.headers.get("Idempotency-Key"),
                            answer.status_code,
                        )
                    )
                self.send_response(answer.status_code)
                for name, value in answer.headers.items():
                    if name.lower() not in HOP_BY_HOP:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_DELETE = _forward

            def log_message(self, *_: object) -> None:
                return None

        return Handler
