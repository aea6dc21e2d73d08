"""Realistic Stripe objects and events for the fixtures (`events trigger`, `demo`), the tests and
the benchmarks.

Shapes follow Stripe's API reference (API version pinned in the gateway); ids are random so
every call makes a new event.
"""

from __future__ import annotations

import json
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from worker.stripe.client import API_VERSION  # events come at the version the gateway pins

LEGACY_API_VERSION = "2024-06-20"  # invoice lines still embedded their price


def int_now() -> int:
    return int(time.time())


def new_id(prefix: str) -> str:
    return f"{prefix}_test{secrets.token_hex(10)}"


def event(
    event_type: str,
    obj: dict[str, Any],
    *,
    created: int | None = None,
    event_id: str | None = None,
    livemode: bool = False,
    api_version: str = API_VERSION,
) -> dict[str, Any]:
    return {
        "id": event_id or new_id("evt"),
        "object": "event",
        "api_version": api_version,
        "created": created if created is not None else int(time.time()),
        "data": {"object": obj},
        "livemode": livemode,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }


# Where each object a handler acts on is read: a thin event's `related_object.url`.
API_PATHS = {
    "customer": "/v1/customers",
    "product": "/v1/products",
    "price": "/v1/prices",
    "invoice": "/v1/invoices",
    "subscription": "/v1/subscriptions",
    "dispute": "/v1/disputes",
    "charge": "/v1/charges",
    "refund": "/v1/refunds",
}


def thin_event(snapshot: dict[str, Any], *, twin: bool = False) -> dict[str, Any]:
    """The thin version of a snapshot event, as an event destination with `event_payload:
    thin` sends it: `v1.` + its type, naming its object instead of holding it. With `twin`, it
    names the snapshot event (`snapshot_event`), as while Stripe sends both kinds."""
    obj = snapshot["data"]["object"]
    created = datetime.fromtimestamp(snapshot["created"], UTC)
    thin: dict[str, Any] = {
        "id": new_id("evt"),
        "object": "v2.core.event",
        "type": f"v1.{snapshot['type']}",
        "created": created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "livemode": snapshot.get("livemode", False),
        "context": snapshot.get("account"),
        "related_object": {
            "id": obj["id"],
            "type": obj["object"],
            "url": f"{API_PATHS[obj['object']]}/{obj['id']}",
        },
    }
    request = snapshot.get("request") or {}
    if request.get("idempotency_key"):
        thin["reason"] = {"type": "request", "request": dict(request)}
    if twin:
        thin["snapshot_event"] = snapshot["id"]
    return thin


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
    """A paid subscription invoice in the shape of API version 2024-06-20, which embeds the
    line's price and names the payment intent: a handler needs nothing from Stripe for it."""
    paid_at = paid_at if paid_at is not None else int(time.time())
    period_end = paid_at + (365 if interval == "year" else 30) * 86400
    invoice_id = new_id("in")
    growth = price(
        "price_test_growth", "prod_test_growth", amount_paid, interval=interval, currency=currency
    )
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
        "charge": new_id("ch"),
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
                    "price": growth,
                    "proration": False,
                    "quantity": 1,
                    "subscription": "sub_test_alice",
                    "subscription_item": "si_test_alice",
                    "type": "subscription",
                }
            ],
            "has_more": False,
            "total_count": 1,
            "url": f"/v1/invoices/{invoice_id}/lines",
        },
        "livemode": False,
        "metadata": {},
        "number": number or f"A1B2-{secrets.randbelow(10000):04d}",
        "paid": True,
        "payment_intent": new_id("pi"),
        "period_start": paid_at,
        "period_end": paid_at,
        "status": "paid",
        "status_transitions": {
            "finalized_at": paid_at - 4,
            "marked_uncollectible_at": None,
            "paid_at": paid_at,
            "voided_at": None,
        },
        "subscription": "sub_test_alice",
        "subtotal": amount_paid,
        "total": amount_paid,
    }


def invoice_paid_event(**kwargs: Any) -> dict[str, Any]:
    return event("invoice.paid", invoice(**kwargs), api_version=LEGACY_API_VERSION)


def line(
    *,
    amount: int,
    price: str,
    period_start: int,
    period_end: int,
    currency: str = "usd",
    description: str = "",
    consumed: bool = False,
    quantity: int = 1,
) -> dict[str, Any]:
    """An invoice line item as the pinned API version shows it."""
    return {
        "id": new_id("il"),
        "object": "line_item",
        "amount": amount,
        "currency": currency,
        "description": description,
        "livemode": False,
        "metadata": {"consumed": "true"} if consumed else {},
        "period": {"start": period_start, "end": period_end},
        "pricing": {
            "price_details": {"price": price, "product": f"prod_for_{price}"},
            "type": "price_details",
            "unit_amount_decimal": str(amount // max(quantity, 1)),
        },
        "quantity": quantity,
    }


def invoice_with_lines(
    lines: list[dict[str, Any]],
    *,
    customer: str,
    paid_at: int,
    billing_reason: str = "subscription_create",
    currency: str = "usd",
    payment_intent: str | None = None,
    subscription: str | None = None,
    number: str | None = None,
) -> dict[str, Any]:
    """A paid invoice with its `payments` expanded, as `invoices.retrieve(expand=[payments])`."""
    obj = invoice(
        customer=customer,
        amount_paid=sum(item["amount"] for item in lines),
        currency=currency,
        billing_reason=billing_reason,
        paid_at=paid_at,
        number=number,
    )
    for legacy in ("charge", "payment_intent", "subscription", "paid"):
        del obj[legacy]
    obj["lines"]["data"] = lines
    obj["lines"]["total_count"] = len(lines)
    obj["payments"] = {
        "object": "list",
        "data": [
            {
                "object": "invoice_payment",
                "id": new_id("inpay"),
                "is_default": True,
                "status": "paid",
                "payment": {
                    "type": "payment_intent",
                    "payment_intent": payment_intent or new_id("pi"),
                },
            }
        ],
        "has_more": False,
    }
    if subscription:
        obj["parent"] = {
            "type": "subscription_details",
            "subscription_details": {"subscription": subscription},
        }
    return obj


def product(product_id: str, category: str | None, name: str = "") -> dict[str, Any]:
    return {
        "id": product_id,
        "object": "product",
        "active": True,
        "name": name or product_id,
        "metadata": {"category": category} if category else {},
        "livemode": False,
    }


def price(
    price_id: str,
    product_id: str,
    unit_amount: int,
    *,
    interval: str | None = "month",
    usage_type: str = "licensed",
    currency: str = "usd",
) -> dict[str, Any]:
    recurring = (
        {"interval": interval, "interval_count": 1, "usage_type": usage_type, "meter": None}
        if interval
        else None
    )
    return {
        "id": price_id,
        "object": "price",
        "active": True,
        "currency": currency,
        "product": product_id,
        "recurring": recurring,
        "type": "recurring" if interval else "one_time",
        "unit_amount": unit_amount,
        "livemode": False,
        "metadata": {},
    }


def subscription(
    subscription_id: str,
    customer: str,
    items: list[tuple[str, dict[str, Any], int]],
    *,
    period_start: int,
    period_end: int,
    status: str = "active",
) -> dict[str, Any]:
    """`items`: (subscription item id, price object, quantity)."""
    return {
        "id": subscription_id,
        "object": "subscription",
        "customer": customer,
        "status": status,
        "cancel_at_period_end": False,
        "pause_collection": None,
        "items": {
            "object": "list",
            "data": [
                {
                    "id": item_id,
                    "object": "subscription_item",
                    "price": item_price,
                    "quantity": quantity,
                    "current_period_start": period_start,
                    "current_period_end": period_end,
                    "subscription": subscription_id,
                }
                for item_id, item_price, quantity in items
            ],
            "has_more": False,
        },
        "livemode": False,
        "metadata": {},
    }


def dispute(
    *,
    charge: str,
    payment_intent: str | None,
    reason: str = "fraudulent",
    status: str = "needs_response",
    amount: int = 120000,
    currency: str = "usd",
    dispute_id: str | None = None,
) -> dict[str, Any]:
    return {
        "id": dispute_id or new_id("dp"),
        "object": "dispute",
        "amount": amount,
        "charge": charge,
        "currency": currency,
        "payment_intent": payment_intent,
        "reason": reason,
        "status": status,
        "livemode": False,
        "metadata": {},
    }


def refund(
    *,
    payment_intent: str,
    amount: int,
    currency: str = "usd",
    status: str = "succeeded",
    refund_id: str | None = None,
    metadata: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "id": refund_id or new_id("re"),
        "object": "refund",
        "amount": amount,
        "charge": new_id("ch"),
        "currency": currency,
        "payment_intent": payment_intent,
        "status": status,
        "created": int(time.time()),
        "metadata": metadata or {},
    }


def body(evt: dict[str, Any]) -> str:
    """The body as Stripe sends it: pretty-printed JSON (the signature covers these bytes)."""
    return json.dumps(evt, indent=2)
