"""The one place that talks to Stripe: a configured StripeClient and error classification."""

from __future__ import annotations

import stripe

from worker.config import Settings
from worker.errors import FinalError, RetryableError

# Pinned so a Stripe-side default change never alters what our handlers parse.
API_VERSION = "2026-10-28.endive"
TIMEOUT_SECONDS = (5.0, 30.0)  # connect, read
NETWORK_RETRIES = 2  # Stripe's own retries reuse our idempotency key, so they are safe


def build_client(settings: Settings) -> stripe.StripeClient:
    base = {"api": settings.stripe_api_base} if settings.stripe_api_base else None
    return stripe.StripeClient(
        settings.stripe_api_key,
        stripe_version=API_VERSION,
        base_addresses=base,  # type: ignore[arg-type]
        max_network_retries=NETWORK_RETRIES,
        http_client=stripe.RequestsClient(timeout=TIMEOUT_SECONDS),
    )


def classify(error: stripe.StripeError) -> RetryableError | FinalError:
    """Rate limits, Stripe's 5xx and lost connections are worth retrying; nothing else is."""
    status = error.http_status or 0
    if isinstance(error, stripe.RateLimitError | stripe.APIConnectionError) or status >= 500:
        return RetryableError(f"{type(error).__name__}: {error.user_message or error}")
    return FinalError(f"{type(error).__name__}: {error.user_message or error}")
