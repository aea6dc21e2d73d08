"""The benchmarks' events: realistic 4 KiB Stripe payloads with unique ids, signed as Stripe signs.

Built from `worker.samples`, with the fields a real invoice and subscription carry that the
samples leave out, so a body is as large as a production one (about 4 KiB pretty-printed).
The catalog and customers are named here so the processing and replay benchmarks can seed them
first and every event finds what it refers to.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from worker import samples

TARGET_BYTES = 4096
DAY = 86400

# (price id, product category, unit amount, interval): a plan ladder and an add-on.
PLAN_SCALE = ("price_bench_scale_month", "plan", 30000, "month")
PLAN_STARTER = ("price_bench_starter_month", "plan", 4000, "month")
PLAN_YEAR = ("price_bench_growth_year", "plan", 120000, "year")
AGENTS = ("price_bench_agents", "addon", 1500, "month")
CATALOG = (PLAN_SCALE, PLAN_STARTER, PLAN_YEAR, AGENTS)


def customer_id(index: int) -> str:
    return f"cus_bench{index:06d}"


def payment_intent_of(customer: str) -> str:
    """The payment of the one paid invoice each seeded customer has (what a dispute names)."""
    return f"pi_bench_{customer}"


def product_id(price_id: str) -> str:
    return f"prod_for_{price_id}"


def price_object(spec: tuple[str, str, int, str]) -> dict[str, Any]:
    price_id, _category, amount, interval = spec
    return samples.price(price_id, product_id(price_id), amount, interval=interval)


def catalog_events() -> list[dict[str, Any]]:
    """product.created and price.created for every price the benchmark events name."""
    events = []
    for spec in CATALOG:
        events.append(
            samples.event("product.created", samples.product(product_id(spec[0]), spec[1]))
        )
        events.append(samples.event("price.created", price_object(spec)))
    return events


def customer_created(customer: str) -> dict[str, Any]:
    obj = {"id": customer, "object": "customer", "email": f"{customer}@example.com", "metadata": {}}
    return samples.event("customer.created", obj)


# The fields of a real invoice and subscription that `worker.samples` leaves out.
_INVOICE_EXTRAS: dict[str, Any] = {
    "customer_address": {
        "city": "Berlin",
        "country": "DE",
        "line1": "Torstraße 1",
        "line2": None,
        "postal_code": "10119",
        "state": None,
    },
    "customer_tax_exempt": "none",
    "ending_balance": 0,
    "issuer": {"type": "self"},
    "starting_balance": 0,
    "total_taxes": [],
}
_SUBSCRIPTION_EXTRAS: dict[str, Any] = {
    "application": None,
    "application_fee_percent": None,
    "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
    "billing_cycle_anchor_config": None,
    "billing_thresholds": None,
    "cancel_at": None,
    "canceled_at": None,
    "cancellation_details": {"comment": None, "feedback": None, "reason": None},
    "collection_method": "charge_automatically",
    "currency": "usd",
    "days_until_due": None,
    "default_payment_method": "pm_bench_card",
    "default_source": None,
    "default_tax_rates": [],
    "description": None,
    "discounts": [],
    "ended_at": None,
    "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
    "latest_invoice": None,
    "next_pending_invoice_item_invoice": None,
    "on_behalf_of": None,
    "payment_settings": {
        "payment_method_options": None,
        "payment_method_types": None,
        "save_default_payment_method": "off",
    },
    "pending_invoice_item_interval": None,
    "pending_setup_intent": None,
    "pending_update": None,
    "schedule": None,
    "test_clock": None,
    "transfer_data": None,
    "trial_end": None,
    "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
    "trial_start": None,
}


def padded(evt: dict[str, Any], obj: dict[str, Any]) -> dict[str, Any]:
    """Bring the body to about TARGET_BYTES with an order reference in the object's metadata,
    the way an integration tags its objects; the rest of the size is real fields."""
    size = len(samples.body(evt))
    room = TARGET_BYTES - size - len('"order_reference": "",\n      ')
    if room > 0:
        obj.setdefault("metadata", {})["order_reference"] = ("ord-" + evt["id"] * 200)[:room]
    return evt


def invoice_paid(customer: str, *, paid_at: int | None = None, number: int = 1) -> dict[str, Any]:
    """A paid invoice for the year plan and two agent seats, its payment expanded."""
    paid_at = paid_at if paid_at is not None else int(time.time()) - DAY
    period = {"period_start": paid_at, "period_end": paid_at + 365 * DAY}
    lines = [
        samples.line(amount=PLAN_YEAR[2], price=PLAN_YEAR[0], description="Growth plan", **period),
        samples.line(
            amount=2 * AGENTS[2],
            price=AGENTS[0],
            quantity=2,
            description="2 × Agent seat",
            **period,
        ),
    ]
    obj = samples.invoice_with_lines(
        lines,
        customer=customer,
        paid_at=paid_at,
        payment_intent=payment_intent_of(customer) if number == 1 else None,
        subscription=f"sub_bench_{customer}",
        number=f"BENCH-{customer[-6:]}-{number:04d}",
    )
    obj.update(_INVOICE_EXTRAS)
    return padded(samples.event("invoice.paid", obj), obj)


# When the portal downgrades of the processing mix were made (stripe-mock's pending proration
# starts then): an hour before the benchmark began.
PORTAL_CHANGE_AT = int(time.time()) - 3600


def subscription_object(customer: str, plan: tuple[str, str, int, str]) -> dict[str, Any]:
    start = int(time.time()) - 15 * DAY
    obj = samples.subscription(
        f"sub_bench_{customer}",
        customer,
        [(f"si_bench_{customer}", price_object(plan), 1)],
        period_start=start,
        period_end=start + 30 * DAY,
    )
    obj.update(_SUBSCRIPTION_EXTRAS)
    return obj


def subscription_updated(customer: str, *, downgrade: bool = False) -> dict[str, Any]:
    """`customer.subscription.updated`: a portal downgrade (scale → starter, which Mittrik
    enforces by deleting the pending credit), or a renewal flag flipped (nothing to enforce)."""
    if downgrade:
        obj = subscription_object(customer, PLAN_STARTER)
        previous: dict[str, Any] = {"items": subscription_object(customer, PLAN_SCALE)["items"]}
    else:
        obj = subscription_object(customer, PLAN_SCALE)
        previous = {"cancel_at_period_end": True}
    # A downgrade's event comes a moment after the change its prorations start at.
    created = PORTAL_CHANGE_AT + 2 if downgrade else None
    evt = samples.event("customer.subscription.updated", obj, created=created)
    evt["data"]["previous_attributes"] = previous
    return padded(evt, obj)


def dispute_created(customer: str) -> dict[str, Any]:
    """A fraudulent chargeback on the customer's paid invoice: Mittrik suspends (M6.dispute)."""
    dispute = samples.dispute(
        charge=f"ch_bench_{customer}", payment_intent=payment_intent_of(customer)
    )
    return samples.event("charge.dispute.created", dispute)


def intake_event(index: int) -> dict[str, Any]:
    """The intake mix: `invoice.paid` and `customer.subscription.updated`, half each."""
    customer = customer_id(index % 1000)
    if index % 2:
        return subscription_updated(customer)
    return invoice_paid(customer, number=index + 2)


@dataclass(frozen=True)
class SignedDelivery:
    event_id: str
    body: bytes
    headers: dict[str, str]


def signed(evt: dict[str, Any], secret: str, timestamp: int | None = None) -> SignedDelivery:
    from webhooks.signature import sign  # stripe-python: slow to import, the loadgen signs alone

    body = samples.body(evt)
    headers = {
        "Stripe-Signature": sign(body, secret, timestamp),
        "Content-Type": "application/json",
    }
    return SignedDelivery(evt["id"], body.encode(), headers)
