"""Reading Stripe payloads: references that may be ids or expanded objects, epoch times."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def ref_id(value: Any) -> str | None:
    """A Stripe reference is an id, or the object itself when expanded."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def utc(epoch: Any) -> datetime | None:
    return datetime.fromtimestamp(epoch, UTC) if isinstance(epoch, int) else None


def subscription_of_invoice(invoice: dict[str, Any]) -> str | None:
    """The subscription an invoice bills: `parent.subscription_details` at the pinned API
    version, the top-level `subscription` on older ones."""
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    return ref_id(details.get("subscription")) or ref_id(invoice.get("subscription"))
