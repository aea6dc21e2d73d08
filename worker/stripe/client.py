"""The client every Stripe call goes through: the pinned API version, timeouts, stripe-python's
network retries, and pacing by the shared budget (budget/) before every HTTP request."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import stripe

from worker.config import Settings
from worker.metrics import record_rate_limited, record_stripe_request
from worker.stripe import local
from worker.stripe.budget import StripeBudget, budget_from_settings, endpoint_of

# Pinned so a Stripe-side default change never alters what our handlers parse.
API_VERSION = "2026-10-28.endive"
TIMEOUT_SECONDS = (5.0, 30.0)  # connect, read
NETWORK_RETRIES = 2  # Stripe's own retries reuse our idempotency key, so they are safe


def build_client(settings: Settings, budget: StripeBudget | None = None) -> stripe.StripeClient:
    """The client every Stripe call goes through, paced by the shared budget (`budget`, or the
    settings' one; none when STRIPE_RATE_LIMIT=0)."""
    address = local.api_base(settings)
    no_stripe = address is None and local.wants_local_stripe(settings)
    http: stripe.HTTPClient = (
        NoStripeClient()
        if no_stripe
        else PacedRequestsClient(budget or budget_from_settings(settings), timeout=TIMEOUT_SECONDS)
    )
    return stripe.StripeClient(
        settings.stripe_api_key or "sk_test_123",
        stripe_version=API_VERSION,
        base_addresses={"api": address} if address else None,  # type: ignore[arg-type]
        max_network_retries=NETWORK_RETRIES,
        http_client=http,
    )


class PacedRequestsClient(stripe.RequestsClient):
    """stripe-python's requests client, waiting for a slot in Stripe's budget before every HTTP
    request: reads, writes, each page of a list and stripe-python's own network retries alike.
    Also counts each request and each 429 (a 429 stays a retryable error: `classify`)."""

    def __init__(self, budget: StripeBudget | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.budget = budget

    def request(self, method: str, url: str, headers: Any, post_data: Any = None) -> Any:
        send = super().request
        return self._paced(method, url, lambda: send(method, url, headers, post_data))

    def request_stream(self, method: str, url: str, headers: Any, post_data: Any = None) -> Any:
        send = super().request_stream
        return self._paced(method, url, lambda: send(method, url, headers, post_data))

    def _paced(self, method: str, url: str, send: Callable[[], Any]) -> Any:
        endpoint = endpoint_of(method, url)
        if self.budget is not None:
            self.budget.wait_for_slot(endpoint)
        try:
            response = send()
        except stripe.APIConnectionError:
            record_stripe_request(endpoint, None)
            raise
        body, status, headers = response
        record_stripe_request(endpoint, status)
        if status == 429:
            reason = rate_limited_reason(body, headers)
            record_rate_limited(endpoint, reason or "none")
            if self.budget is not None:
                self.budget.report_429(endpoint, reason)
        return response


def rate_limited_reason(body: Any, headers: Mapping[str, str] | None) -> str | None:
    """Stripe-Rate-Limited-Reason; a 429 without it for a lock timeout is a busy object, not a
    spent budget (Stripe's rate-limits page)."""
    reason = (headers or {}).get("Stripe-Rate-Limited-Reason")
    if reason:
        return reason
    if isinstance(body, bytes | str) and "lock_timeout" in str(body):
        return "lock_timeout"
    return None


class NoStripeClient(stripe.HTTPClient):
    """Answers every call as Stripe answers a bad key, with our message: the caller's error
    handling (a failed event, a failed refund request) then says what to set. Here, not in
    worker/stripe/local.py, which `config check` reads and which must not import stripe."""

    name = "no-stripe"

    def request(self, method: str, url: str, headers: Any, post_data: Any = None, **_: Any) -> Any:
        body = json.dumps({"error": {"type": "invalid_request_error", "message": local.NO_STRIPE}})
        return body, 401, {}

    def request_stream(
        self, method: str, url: str, headers: Any, post_data: Any = None, **_: Any
    ) -> Any:
        return self.request(method, url, headers, post_data)

    def close(self) -> None:
        return None
