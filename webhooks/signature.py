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
) -> None:
    """Raise SignatureInvalid unless one secret signed `body` at a time within the tolerance.

    stripe-python checks the HMAC; the clock check is ours because Stripe's only refuses old
    timestamps, and a timestamp far in the future is as suspect as a stale one.
    """
    if not header:
        raise SignatureInvalid("missing Stripe-Signature header", "missing_header")
    try:
        payload = body.decode("utf-8")
    except UnicodeDecodeError:
        raise SignatureInvalid("body is not UTF-8", "not_utf8") from None
    if not any(_signed_by(payload, header, secret) for secret in secrets):
        raise SignatureInvalid("no valid signature for this payload", "no_valid_signature")
    timestamp = _timestamp(header)
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance_seconds:
        raise SignatureInvalid("timestamp outside the tolerance zone", "timestamp_out_of_tolerance")


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
