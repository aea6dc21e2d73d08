"""Stripe-Signature verification: every reason a request is refused, rotation, clock edges."""

import time

import pytest
from signing import OLD_WEBHOOK_SECRET, WEBHOOK_SECRET

from webhooks.signature import SignatureInvalid, sign, verify_signature

BODY = b'{"id": "evt_1", "object": "event", "type": "invoice.paid"}'
NOW = 1_750_000_000


def verify(header: str | None, *, body: bytes = BODY, secrets=(WEBHOOK_SECRET,), now=NOW) -> None:
    verify_signature(body, header, list(secrets), tolerance_seconds=300, now=now)


def test_a_body_signed_by_the_configured_secret_now_is_accepted() -> None:
    verify(sign(BODY.decode(), WEBHOOK_SECRET, NOW))


def test_missing_header_is_refused() -> None:
    with pytest.raises(SignatureInvalid, match="missing Stripe-Signature header"):
        verify(None)


@pytest.mark.parametrize("header", ["garbage", "t=abc,v1=00", "v1=deadbeef", f"t={NOW}"])
def test_unparseable_headers_are_refused(header: str) -> None:
    with pytest.raises(SignatureInvalid, match="no valid signature"):
        verify(header)


def test_a_forged_signature_is_refused() -> None:
    with pytest.raises(SignatureInvalid, match="no valid signature"):
        verify(sign(BODY.decode(), "whsec_attacker_guess", NOW))


def test_a_tampered_body_is_refused() -> None:
    header = sign(BODY.decode(), WEBHOOK_SECRET, NOW)
    with pytest.raises(SignatureInvalid, match="no valid signature"):
        verify(header, body=BODY.replace(b"evt_1", b"evt_2"))


def test_non_utf8_body_is_refused() -> None:
    with pytest.raises(SignatureInvalid, match="not UTF-8"):
        verify(sign("x", WEBHOOK_SECRET, NOW), body=b"\xff\xfe{}")


def test_rotation_accepts_either_of_two_secrets() -> None:
    both = (WEBHOOK_SECRET, OLD_WEBHOOK_SECRET)
    verify(sign(BODY.decode(), WEBHOOK_SECRET, NOW), secrets=both)
    verify(sign(BODY.decode(), OLD_WEBHOOK_SECRET, NOW), secrets=both)


def test_after_rotation_the_retired_secret_is_refused() -> None:
    with pytest.raises(SignatureInvalid):
        verify(sign(BODY.decode(), OLD_WEBHOOK_SECRET, NOW), secrets=(WEBHOOK_SECRET,))


@pytest.mark.parametrize("offset", [-300, 300, 0])
def test_timestamp_exactly_at_the_tolerance_is_accepted(offset: int) -> None:
    verify(sign(BODY.decode(), WEBHOOK_SECRET, NOW + offset))


@pytest.mark.parametrize("offset", [-301, 301])
def test_timestamp_one_second_past_the_tolerance_is_refused(offset: int) -> None:
    with pytest.raises(SignatureInvalid, match="timestamp outside the tolerance"):
        verify(sign(BODY.decode(), WEBHOOK_SECRET, NOW + offset))


def test_the_real_clock_is_used_by_default() -> None:
    header = sign(BODY.decode(), WEBHOOK_SECRET, int(time.time()))
    verify_signature(BODY, header, [WEBHOOK_SECRET], tolerance_seconds=300)
