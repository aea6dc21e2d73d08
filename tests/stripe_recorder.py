"""Record the requests our Stripe client really sends to stripe-mock (no stand-in: the request
still goes to stripe-mock, which validates it against Stripe's OpenAPI spec)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import stripe
from stripe_double import Sent

from worker.stripe.client import API_VERSION


class RecordingHTTPClient(stripe.RequestsClient):
    """Records each request in the Stripe double's `Sent` form (stripe-mock never replays, so
    `replayed` stays False)."""

    def __init__(self) -> None:
        super().__init__(timeout=10)
        self.sent: list[Sent] = []
        # The Stripe-Account header of each request in `sent` (None: the platform's own).
        self.stripe_accounts: list[str | None] = []

    def request(self, method: str, url: str, headers: Any, post_data: Any = None):  # type: ignore[override]
        body, status, response_headers = super().request(method, url, headers, post_data)
        parts = urlsplit(url)
        raw = post_data.decode() if isinstance(post_data, bytes) else (post_data or parts.query)
        self.sent.append(
            Sent(
                method=method.upper(),
                path=parts.path,
                params=dict(parse_qsl(raw or "", keep_blank_values=True)),
                idempotency_key=(headers or {}).get("Idempotency-Key"),
                status=status,
            )
        )
        self.stripe_accounts.append((headers or {}).get("Stripe-Account"))
        return body, status, response_headers

    def mutations(self) -> list[Sent]:
        return [r for r in self.sent if r.method in ("POST", "DELETE")]

    def clear(self) -> None:
        self.sent.clear()
        self.stripe_accounts.clear()


def recording_client(api_base: str) -> tuple[stripe.StripeClient, RecordingHTTPClient]:
    recorder = RecordingHTTPClient()
    client = stripe.StripeClient(
        "sk_test_123",
        stripe_version=API_VERSION,
        base_addresses={"api": api_base},
        max_network_retries=0,
        http_client=recorder,
    )
    return client, recorder
