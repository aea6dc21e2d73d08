"""A proxy in front of stripe-mock that spends a rate budget the way Stripe does, on 127.0.0.1.

stripe-mock answers every request; Stripe answers `429 Too Many Requests` (with
`Stripe-Rate-Limited-Reason: global-rate`) once an account is over its rate. The proxy keeps a
token bucket of `rate` tokens refilled at `rate` per second (Stripe's own limiter design: a
token bucket, so one second's worth may come back to back), forwards a request that gets a
token and answers 429 to one that does not. It counts both, and keeps the arrival time of each
forwarded request so a test can count requests per window.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

RATE_LIMITED_BODY = json.dumps(
    {
        "error": {
            "type": "invalid_request_error",
            "code": "rate_limit",
            "message": "Request rate limit exceeded. Learn more about rate limits here "
            "https://stripe.com/docs/rate-limits.",
        }
    }
).encode()
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"}


class TokenBucket:
    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.tokens = rate
        self.updated = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = time.monotonic()
            self.tokens = min(self.rate, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens >= 1:
                self.tokens -= 1
                return True
            return False


class RateLimitedProxy:
    """`with RateLimitedProxy(upstream, rate) as proxy:` ... `proxy.url`, `proxy.rejected`."""

    def __init__(self, upstream: str, rate: float) -> None:
        self.upstream = upstream.rstrip("/")
        self.bucket = TokenBucket(rate)
        self.forwarded_at: list[float] = []  # time.time() of each forwarded request
        self.rejected = 0
        self._lock = threading.Lock()
        self._local = threading.local()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def forwarded(self) -> int:
        return len(self.forwarded_at)

    def most_in_any_window(self, seconds: float = 1.0) -> int:
        """The largest number of forwarded requests that arrived within `seconds` of each other."""
        times = sorted(self.forwarded_at)
        most, start = 0, 0
        for end, at in enumerate(times):
            while at - times[start] >= seconds:
                start += 1
            most = max(most, end - start + 1)
        return most

    def __enter__(self) -> RateLimitedProxy:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as Stripe's clients use it

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if not proxy.bucket.take():
                    with proxy._lock:
                        proxy.rejected += 1
                    self._answer(
                        429,
                        {"Stripe-Rate-Limited-Reason": "global-rate"},
                        RATE_LIMITED_BODY,
                    )
                    return
                with proxy._lock:
                    proxy.forwarded_at.append(time.time())
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                answer = proxy._session().request(
                    self.command, proxy.upstream + self.path, headers=headers, data=body
                )
                kept = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP}
                self._answer(answer.status_code, kept, answer.content)

            def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if not any(name.lower() == "content-type" for name in headers):
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_DELETE = _forward

            def log_message(self, *_: object) -> None:  # quiet: thousands of requests
                pass

        return Handler
