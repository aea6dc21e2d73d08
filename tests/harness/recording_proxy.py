"""A loopback proxy in front of stripe-mock that records the headers of every request: what
stripe-mock never echoes (`Stripe-Account`), seen as the worker's processes really send it."""

from __future__ import annotations

from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler

from .forwarding_proxy import ForwardingProxy


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    stripe_account: str | None  # the Stripe-Account header, None when absent
    idempotency_key: str | None
    status: int


class RecordingProxy(ForwardingProxy):
    """`with RecordingProxy(stripe_mock.url) as proxy:` ... `proxy.url`, `proxy.seen`."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream)
        self.seen: list[Seen] = []

    def take(self) -> list[Seen]:
        """The requests seen since the last `take`."""
        with self._lock:
            seen, self.seen = self.seen, []
        return seen

    def answered(self, request: BaseHTTPRequestHandler, status: int) -> None:
        headers = request.headers
        seen = Seen(
            request.command,
            request.path.split("?")[0],
            headers.get("Stripe-Account"),
            headers.get("Idempotency-Key"),
            status,
        )
        with self._lock:
            self.seen.append(seen)
