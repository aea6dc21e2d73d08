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
from http.server import BaseHTTPRequestHandler

from tests.harness.forwarding_proxy import Answer, ForwardingProxy

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


class RateLimitedProxy(ForwardingProxy):
    """`with RateLimitedProxy(upstream, rate) as proxy:` ... `proxy.url`, `proxy.rejected`."""

    def __init__(self, upstream: str, rate: float) -> None:
        super().__init__(upstream)
        self.bucket = TokenBucket(rate)
        self.forwarded_at: list[float] = []  # time.time() of each forwarded request
        self.rejected = 0

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

    def refuse(self, request: BaseHTTPRequestHandler) -> Answer | None:
        with self._lock:
            if not self.bucket.take():
                self.rejected += 1
                return 429, {"Stripe-Rate-Limited-Reason": "global-rate"}, RATE_LIMITED_BODY
            self.forwarded_at.append(time.time())
        return None


def paced_worker_env(limit: float, endpoint_limit: float) -> dict[str, str]:
    """The worker's budget settings to stay under a proxy allowing `limit` calls/s,
    `endpoint_limit` on one endpoint, with the whole rate its own (one worker)."""
    return {
        "STRIPE_RATE_LIMIT": f"{limit:g}",
        "STRIPE_ENDPOINT_RATE_LIMIT": f"{endpoint_limit:g}",
        "STRIPE_RATE_SHARE": "1",
    }
