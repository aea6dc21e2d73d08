"""The suite's webhook secrets, and signed request headers as Stripe would send them."""

from __future__ import annotations

from webhooks.signature import sign

WEBHOOK_SECRET = "whsec_test_primary_0123456789"
OLD_WEBHOOK_SECRET = "whsec_test_rotated_out_987654"
CONNECT_WEBHOOK_SECRET = "whsec_test_connect_2468013579"  # the Connect endpoint's


def signed_headers(
    payload: str, secret: str = WEBHOOK_SECRET, timestamp: int | None = None
) -> dict[str, str]:
    return {
        "Stripe-Signature": sign(payload, secret, timestamp),
        "Content-Type": "application/json",
    }
