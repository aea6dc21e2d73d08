"""Stripe-Signature verification on the raw body, against every secret in rotation."""

from __future__ import annotations

import time
from collections.abc import Sequence

from stripe import SignatureVerificationError, WebhookSignature


class SignatureInvalid(Exception):
    """Why a request's signature was refused; the message is safe to return to the caller."""

    def __init__(self, message: str, reason: str = "invalid") -> None:
        super().__init__(message)
        self.reason = reason  # a short label for the signature-failure metric


def verify_signature(
    body: bytes,
    header: str | None,
    secrets: Sequence[str],
    tolerance_seconds: int,
    now: float | None = None,
) -> str:
    """The secret that signed `body` at a time within the tolerance, else SignatureInvalid.

    stripe-python checks the HMAC; the clock check is ours because Stripe's only refuses old
    timestamps, and a timestamp far in the future is as suspect as a stale one.
    """
    if not header:
        raise SignatureInvalid("missing Stripe-Signature header", "missing_header")
    try:
        payload = body.decode("utf-8")
    except UnicodeDecodeError:
        raise SignatureInvalid("body is not UTF-8", "not_utf8") from None
    signer = next((secret for secret in secrets if _signed_by(payload, header, secret)), None)
    if signer is None:
        raise SignatureInvalid("no valid signature for this payload", "no_valid_signature")
    timestamp = _timestamp(header)
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance_seconds:
        raise SignatureInvalid("timestamp outside the tolerance zone", "timestamp_out_of_tolerance")
    return signer


def endpoint_mismatch(account: str, signed_by_connect: bool) -> str | None:
    """Why an event does not fit the kind of endpoint whose secret signed it, if it does not.

    A v1 Connect endpoint sends only connected accounts' events, each naming its `account`; an
    account endpoint sends only the platform's own, which name none. An event breaking this
    points at swapped settings (or an event destination sending from both, `events_from`).
    """
    if signed_by_connect and not account:
        return (
            "event signed with a Connect endpoint's secret (STRIPE_CONNECT_WEBHOOK_SECRETS) "
            "names no account: a Connect endpoint sends only connected accounts' events"
        )
    if account and not signed_by_connect:
        return (
            f"event of connected account {account} signed with the platform endpoint's secret "
            "(STRIPE_WEBHOOK_SECRETS): connected accounts' events come from a Connect endpoint, "
            "whose secret goes in STRIPE_CONNECT_WEBHOOK_SECRETS"
        )
    return None


def _signed_by(payload: str, header: str, secret: str) -> bool:
    try:
        WebhookSignature.verify_header(payload, header, secret, tolerance=None)
    except SignatureVerificationError:
        return False
    return True


def _timestamp(header: str) -> int:
    # Only reached after a signature matched, so the header parsed for stripe-python too.
    for item in header.split(","):
        key, _, value = item.partition("=")
        if key.strip() == "t":
            return int(value)
    raise SignatureInvalid("no timestamp in Stripe-Signature header", "no_timestamp")


def sign(payload: str, secret: str, timestamp: int | None = None) -> str:
    """A Stripe-Signature header for `payload`, as Stripe would send it (tests, send-test)."""
    return WebhookSignature.generate_signature_header(payload, secret, timestamp)
