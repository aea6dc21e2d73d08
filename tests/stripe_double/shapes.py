"""The rest of each object as Stripe sends it: the fields the double's rules do not use, which
Stripe's API reference says every object of that kind carries (null, false, an empty list, the
account's defaults). State keeps only what its rules need; the wire shows the whole object.

One function per object kind, each adding what is missing with `setdefault`, so a field the
state does set (now or in a later rule) always wins; and dropping what `State.put` gives every
kind (`created`, `livemode`, `metadata`) where Stripe's object of that kind has no such field.
`complete` applies them to an answer and to every object nested in it (list pages, invoice
lines, subscription items, expanded fields).
tests/integration/test_double_conforms_to_openapi.py checks the result against Stripe's spec.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from typing import Any

Obj = dict[str, Any]
Handler = Callable[..., Obj]

# The platform itself is the invoice's issuer and nothing is taxed automatically: the double
# models no Connect `on_behalf_of` and no Stripe Tax.
SELF = {"type": "self"}
NO_AUTOMATIC_TAX = {"enabled": False, "disabled_reason": None, "liability": None}


def in_stripes_shape(handler: Handler) -> Handler:
    """A route handler whose answer is a completed copy: the state's objects stay as they are,
    so a field derived here (say `attempted`) is derived again on the next read."""

    @functools.wraps(handler)
    def answer(*args: Any, **kwargs: Any) -> Obj:
        return complete(copy.deepcopy(handler(*args, **kwargs)))

    return answer


def complete(body: Any) -> Any:
    """`body` with every object in it, however deep, given Stripe's remaining fields."""
    if isinstance(body, list):
        for value in body:
            complete(value)
    elif isinstance(body, dict):
        shape = SHAPES.get(body.get("object", ""))
        if shape is not None and not body.get("deleted"):  # a deletion is just id and flag
            shape(body)
        for value in body.values():
            complete(value)
    return body


def _defaults(obj: Obj, nulls: str = "", **fields: Any) -> None:
    """The fields `obj` lacks: null those named in `nulls` (separated by spaces), the others as
    given."""
    for name in nulls.split():
        obj.setdefault(name, None)
    for name, value in fields.items():
        obj.setdefault(name, copy.deepcopy(value))


def customer(obj: Obj) -> None:
    # https://docs.stripe.com/api/customers/object
    _defaults(
        obj,
        nulls="address default_source description discount email name phone shipping test_clock",
        balance=0,
        delinquent=False,
        invoice_prefix=obj["id"].rsplit("_", 1)[-1][:8].upper(),
        invoice_settings={
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        next_invoice_sequence=1,
        preferred_locales=[],
        tax_exempt="none",
    )


def product(obj: Obj) -> None:
    # https://docs.stripe.com/api/products/object
    _defaults(
        obj,
        nulls=(
            "default_price description package_dimensions shippable statement_descriptor tax_code "
            "unit_label url"
        ),
        images=[],
        marketing_features=[],
        updated=obj["created"],
    )


def price(obj: Obj) -> None:
    # https://docs.stripe.com/api/prices/object: the double's prices are flat, per unit.
    _defaults(
        obj,
        nulls="custom_unit_amount lookup_key nickname tiers_mode transform_quantity",
        billing_scheme="per_unit",
        tax_behavior="unspecified",
        unit_amount_decimal=str(obj["unit_amount"]),
    )


def subscription(obj: Obj) -> None:
    # https://docs.stripe.com/api/subscriptions/object
    items = obj["items"]["data"]
    first = items[0] if items else {}
    ended = obj["status"] in ("canceled", "incomplete_expired")
    _defaults(
        obj,
        nulls=(
            "billing_cycle_anchor_config cancel_at days_until_due default_payment_method "
            "description next_pending_invoice_item_invoice pending_update schedule test_clock "
            "trial_end trial_start"
        ),
        automatic_tax=NO_AUTOMATIC_TAX,
        # The current period's start is a date the anchor aligns to, which is all it says.
        billing_cycle_anchor=first.get("current_period_start", obj["created"]),
        billing_schedules=[],
        cancellation_details={
            "comment": None,
            "feedback": None,
            "reason": "cancellation_requested" if ended else None,
        },
        collection_method="charge_automatically",
        currency=first["price"]["currency"] if first else "usd",
        discounts=[],
        ended_at=obj.get("canceled_at") if ended else None,
        invoice_settings={"account_tax_ids": None, "issuer": SELF},
        start_date=obj["created"],
    )
    # The state keeps the billing mode (billing_modes.py) but not when it was adopted: with the
    # subscription, which is when it was created.
    mode = obj.get("billing_mode")
    if mode and mode.get("updated_at") is None:
        mode["updated_at"] = obj["created"]
    obj["items"].setdefault("total_count", len(items))
    obj["items"].setdefault("url", f"/v1/subscription_items?subscription={obj['id']}")


def subscription_item(obj: Obj) -> None:
    # https://docs.stripe.com/api/subscription_items/object
    _defaults(
        obj,
        nulls="billing_thresholds",
        created=obj["current_period_start"],
        discounts=[],
        metadata={},
        tax_rates=[],
    )


def charge(obj: Obj) -> None:
    # https://docs.stripe.com/api/charges/object: a card charge, captured at once.
    _defaults(
        obj,
        nulls="description failure_code failure_message receipt_email statement_descriptor",
        billing_details=dict.fromkeys(("address", "email", "name", "phone", "tax_id")),
        captured=True,
    )


def payment_intent(obj: Obj) -> None:
    # https://docs.stripe.com/api/payment_intents/object
    _defaults(
        obj,
        nulls="canceled_at cancellation_reason description last_payment_error payment_method",
        amount_capturable=0,
        capture_method="automatic_async",
        confirmation_method="automatic",
        payment_method_types=["card"],
    )


def refund(obj: Obj) -> None:
    # https://docs.stripe.com/api/refunds/object: a refund has no `livemode`.
    obj.pop("livemode", None)
    _defaults(obj, nulls="receipt_number source_transfer_reversal transfer_reversal")


# Every piece of evidence a dispute can hold; null until submitted.
EVIDENCE_FIELDS = (
    "access_activity_log", "billing_address", "cancellation_policy",
    "cancellation_policy_disclosure", "cancellation_rebuttal", "customer_communication",
    "customer_email_address", "customer_name", "customer_purchase_ip", "customer_signature",
    "duplicate_charge_documentation", "duplicate_charge_explanation", "duplicate_charge_id",
    "product_description", "receipt", "refund_policy", "refund_policy_disclosure",
    "refund_refusal_explanation", "service_date", "service_documentation", "shipping_address",
    "shipping_carrier", "shipping_date", "shipping_documentation", "shipping_tracking_number",
    "uncategorized_file", "uncategorized_text",
)  # fmt: skip


def dispute(obj: Obj) -> None:
    # https://docs.stripe.com/api/disputes/object: no evidence submitted yet.
    _defaults(
        obj,
        balance_transactions=[],
        enhanced_eligibility_types=[],
        evidence={field: None for field in EVIDENCE_FIELDS} | {"enhanced_evidence": {}},
        evidence_details={
            "due_by": None,
            "enhanced_eligibility": {},
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
        },
    )


def customer_balance_transaction(obj: Obj) -> None:
    # https://docs.stripe.com/api/customer_balance_transactions/object
    _defaults(obj, nulls="checkout_session credit_note invoice")


def _priced_or_not(obj: Obj) -> None:
    """An item the double made from an amount alone names no price: its `pricing` then has no
    `price_details`, which Stripe's schema never shows as null (when present it names a price
    and its product)."""
    pricing = obj.get("pricing") or {}
    if "price_details" in pricing and pricing["price_details"] is None:
        del pricing["price_details"]


def invoiceitem(obj: Obj) -> None:
    # https://docs.stripe.com/api/invoiceitems/object: `discountable` is "always false for
    # prorations"; `proration_details` is an object on every item, not only on prorations.
    # Its time is `date`: an invoice item has no `created`.
    obj.pop("created", None)
    _priced_or_not(obj)
    if obj.get("proration_details") is None:
        obj["proration_details"] = {"credited_items": None}
    obj["proration_details"].setdefault("discount_amounts", [])
    _defaults(
        obj,
        nulls="test_clock",
        discountable=not obj["proration"],
        discounts=[],
        net_amount=obj["amount"],
        quantity_decimal=str(obj["quantity"]),
        tax_rates=[],
    )


def invoice(obj: Obj) -> None:
    # https://docs.stripe.com/api/invoices/object. State sets collection (`attempted`,
    # `auto_advance`) on the invoices it keeps; a preview is never attempted nor advanced.
    _defaults(
        obj,
        nulls="default_payment_method description due_date next_payment_attempt",
        amount_overpaid=0,
        amount_paid=0,
        amount_paid_off_stripe=0,
        amount_remaining=obj.get("amount_due", 0) - obj.get("amount_paid", 0),
        amount_shipping=0,
        attempt_count=0,
        attempted=False,
        auto_advance=False,
        automatic_tax={**NO_AUTOMATIC_TAX, "provider": None, "status": None},
        collection_method="charge_automatically",
        default_tax_rates=[],
        discounts=[],
        issuer=SELF,
        livemode=False,
        metadata={},
        payment_settings={
            "default_mandate": None,
            "payment_method_options": None,
            "payment_method_types": None,
        },
        # "Start/end of the usage period during which invoice items were added to this
        # invoice": the double adds them all at once, when it creates the invoice.
        period_end=obj.get("created"),
        period_start=obj.get("created"),
        post_payment_credit_notes_amount=0,
        pre_payment_credit_notes_amount=0,
        total_discount_amounts=[],
    )
    obj["status_transitions"] = {
        "finalized_at": None,
        "marked_uncollectible_at": None,
        "paid_at": None,
        "voided_at": None,
        **(obj.get("status_transitions") or {}),
    }


def line_item(obj: Obj) -> None:
    # https://docs.stripe.com/api/invoice-line-item/object: the double has no discounts or
    # taxes, so the subtotal is the amount. Prorations are never discountable.
    proration = _line_is_proration(obj)
    _priced_or_not(obj)
    _credited_items_only(obj)
    _defaults(
        obj,
        nulls="parent",
        discount_amounts=[],
        discountable=not proration,
        discounts=[],
        livemode=False,
        metadata={},
        pretax_credit_amounts=[],
        subtotal=obj["amount"],
        taxes=[],
    )


def _credited_items_only(line: Obj) -> None:
    """A line's `parent.<kind>.proration_details` names only the credited items; the discount
    its invoice item's details carry is the line's own `discount_amounts`."""
    parent = line.get("parent") or {}
    details = (parent.get(parent.get("type", "")) or {}).get("proration_details")
    if details:
        for name in set(details) - {"credited_items"}:
            del details[name]


def _line_is_proration(line: Obj) -> bool:
    parent = line.get("parent") or {}
    return bool((parent.get(parent.get("type", "")) or {}).get("proration"))


def invoice_payment(obj: Obj) -> None:
    # https://docs.stripe.com/api/invoice-payment/object: no `metadata` on it.
    obj.pop("metadata", None)
    obj["status_transitions"] = {
        "canceled_at": None,
        "paid_at": None,
        **(obj.get("status_transitions") or {}),
    }


SHAPES: dict[str, Callable[[Obj], None]] = {
    "charge": charge,
    "customer": customer,
    "customer_balance_transaction": customer_balance_transaction,
    "dispute": dispute,
    "invoice": invoice,
    "invoice_payment": invoice_payment,
    "invoiceitem": invoiceitem,
    "line_item": line_item,
    "payment_intent": payment_intent,
    "price": price,
    "product": product,
    "refund": refund,
    "subscription": subscription,
    "subscription_item": subscription_item,
}
