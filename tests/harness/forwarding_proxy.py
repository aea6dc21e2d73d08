"""A proxy on 127.0.0.1 in front of stripe-mock, in a thread of this process: the base of the
proxies that count, record or refuse what the worker's processes send to Stripe.

`with Proxy(upstream) as proxy:` ... `proxy.url`. A subclass may `refuse` a request (its own
answer instead of stripe-mock's) and sees each forwarded request's answer in `answered`.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

import requests

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"}
Answer = tuple[int, dict[str, str], bytes]  # status, headers, body


class ForwardingProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self._lock = threading.Lock()
        self._local = threading.local()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def refuse(self, request: BaseHTTPRequestHandler) -> Answer | None:
        """An answer of the proxy's own instead of forwarding `request`; None forwards it."""
        return None

    def answered(self, request: BaseHTTPRequestHandler, status: int) -> None:
        """Called with each forwarded request and the status stripe-mock answered."""

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def forward(self, request: BaseHTTPRequestHandler, body: bytes | None) -> Answer:
        session = getattr(self._local, "session", None)
        if session is None:  # one keep-alive session per server thread
            session = self._local.session = requests.Session()
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        answer = session.request(
            request.command, self.upstream + request.path, headers=headers, data=body, timeout=30
        )
        kept = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP}
        return answer.status_code, kept, answer.content


def _handler(proxy: ForwardingProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as Stripe's clients use it

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            answer = proxy.refuse(self)
            if answer is None:
                answer = proxy.forward(self, body)
                proxy.answered(self, answer[0])
            status, headers, content = answer
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if not any(name.lower() == "content-type" for name in headers):
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        do_GET = do_POST = do_DELETE = _forward

        def log_message(self, *_: object) -> None:  # quiet: thousands of requests
            pass

    return Handler
