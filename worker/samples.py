"""Realistic Stripe events for `events send-test`, the tests and the benchmarks.

Shapes follow Stripe's API reference (API version pinned in the gateway); ids are random so
every call makes a new event.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

API_VERSION = "2025-03-31.basil"


def new_id(prefix: str) -> str:
    return f"{prefix}_test{secrets.token_hex(10)}"


def event(
    event_type: str,
    obj: dict[str, Any],
    *,
    created: int | None = None,
    event_id: str | None = None,
    livemode: bool = False,
) -> dict[str, Any]:
    return {
        "id": event_id or new_id("evt"),
        "object": "event",
        "api_version": API_VERSION,
        "created": created if created is not None else int(time.time()),
        "data": {"object": obj},
        "livemode": livemode,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }


def invoice(
    *,
    customer: str = "cus_test_alice",
    amount_paid: int = 120000,
    currency: str = "usd",
    billing_reason: str = "subscription_create",
    paid_at: int | None = None,
    interval: str = "year",
    number: str | None = None,
) -> dict[str, Any]:
    paid_at = paid_at if paid_at is not None else int(time.time())
    period_end = paid_at + (365 if interval == "year" else 30) * 86400
    invoice_id = new_id("in")
    return {
        "id": invoice_id,
        "object": "invoice",
        "account_country": "US",
        "account_name": "Mittrik",
        "amount_due": amount_paid,
        "amount_paid": amount_paid,
        "amount_remaining": 0,
        "attempt_count": 1,
        "attempted": True,
        "billing_reason": billing_reason,
        "collection_method": "charge_automatically",
        "created": paid_at - 5,
        "currency": currency,
        "customer": customer,
        "customer_email": "alice@example.com",
        "customer_name": "Alice Example",
        "hosted_invoice_url": f"https://invoice.stripe.com/i/acct_test/{invoice_id}",
        "lines": {
            "object": "list",
            "data": [
                {
                    "id": new_id("il"),
                    "object": "line_item",
                    "amount": amount_paid,
                    "currency": currency,
                    "description": f"1 × Growth plan (at {amount_paid} / {interval})",
                    "invoice": invoice_id,
                    "livemode": False,
                    "metadata": {},
                    "period": {"start": paid_at, "end": period_end},
                    "pricing": {
                        "price_details": {"price": "price_test_growth", "product": "prod_growth"},
                        "type": "price_details",
                        "unit_amount_decimal": str(amount_paid),
                    },
                    "quantity": 1,
                    "parent": {
                        "type": "subscription_item_details",
                        "subscription_item_details": {
                            "subscription": "sub_test_alice",
                            "subscription_item": "si_test_alice",
                            "proration": False,
                        },
                    },
                }
            ],
            "has_more": False,
            "total_count": 1,
            "url": f"/v1/invoices/{invoice_id}/lines",
        },
        "livemode": False,
        "metadata": {},
        "number": number or f"A1B2-{secrets.randbelow(10000):04d}",
        "period_start": paid_at,
        "period_end": paid_at,
        "status": "paid",
        "status_transitions": {
            "finalized_at": paid_at - 4,
            "marked_uncollectible_at": None,
            "paid_at": paid_at,
            "voided_at": None,
        },
        "subtotal": amount_paid,
        "total": amount_paid,
    }


def invoice_paid_event(**kwargs: Any) -> dict[str, Any]:
    return event("invoice.paid", invoice(**kwargs))


SAMPLE_EVENTS = {"invoice.paid": invoice_paid_event}


def body(evt: dict[str, Any]) -> str:
    """The body as Stripe sends it: pretty-printed JSON (the signature covers these bytes)."""
    return json.dumps(evt, indent=2)
