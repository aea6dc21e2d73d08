"""Idempotency keys: one per (account, event or refund request, action, object), so a retry, a
replay or a crash between the call and the commit cannot act twice."""

from __future__ import annotations

from worker.db.models import PLATFORM

KEY_PREFIX = "bw"  # marks our own changes: an event caused by them needs no enforcement
# Every object we create carries its call's key in its metadata, so the object is found again
# on Stripe's list for it after Stripe forgot the key (24 h) or our audit row was rolled back.
KEY_METADATA = "bw_idempotency_key"


def idempotency_key(
    source_id: str, action: str, object_id: str | None = None, account: str = PLATFORM
) -> str:
    """`bw:[<account>:]<source>:<action>[:<object>]`: a connected account's keys name it, so two
    accounts' objects of the same id never share a key (nor our audit row); the platform's keep
    the form they had before Connect, so earlier audit rows still guard a replay."""
    return ":".join(part for part in (KEY_PREFIX, account, source_id, action, object_id) if part)


def is_ours(key: str | None) -> bool:
    return bool(key) and str(key).startswith(KEY_PREFIX + ":")
