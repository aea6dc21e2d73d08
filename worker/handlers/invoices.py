"""Invoice events: keep each invoice, its payment and its lines, as the policy engine needs them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import delete

from worker.catalog import category_of, keep_price, price_info, price_row
from worker.db.models import Invoice, InvoiceLine
from worker.errors import MalformedPayload
from worker.handlers.customers import lock_customer
from worker.handlers.kept_state import keep
from worker.handlers.line_amounts import paid_for_line
from worker.handlers.stripe_fields import ref_id, subscription_of_invoice, utc

if TYPE_CHECKING:
    from worker.handlers import HandlerContext


def record_invoice(ctx: HandlerContext, invoice: dict[str, Any]) -> None:
    """`invoice.paid`, `invoice.payment_failed`, `invoice.voided`: the newest state wins."""
    customer_id = ref_id(invoice.get("customer"))
    if not invoice.get("id") or not customer_id:
        raise MalformedPayload(f"{ctx.event_type} without invoice id or customer")
    lock_customer(ctx, customer_id, invoice.get("customer_email"))
    stored = ctx.session.get(Invoice, (ctx.account, invoice["id"]))
    if stored is not None and stored.state_created > ctx.event_created:
        return  # an older state delivered late: keep the newer one
    paid_at = (invoice.get("status_transitions") or {}).get("paid_at")
    if ctx.event_type == "invoice.paid" and not isinstance(paid_at, int):
        raise MalformedPayload("invoice.paid without status_transitions.paid_at")
    payment_intent, charge = _payment(ctx, invoice, stored)
    keep(
        ctx.session,
        stored,
        Invoice(
            account=ctx.account,
            id=invoice["id"],
            customer=customer_id,
            number=invoice.get("number"),
            status=invoice.get("status") or ctx.event_type.removeprefix("invoice."),
            currency=str(invoice.get("currency") or "").lower(),
            amount_paid=int(invoice.get("amount_paid") or 0),
            amount_refunded_reported=stored.amount_refunded_reported if stored else 0,
            billing_reason=invoice.get("billing_reason"),
            paid_at=utc(paid_at),
            subscription_id=subscription_of_invoice(invoice),
            payment_intent_id=payment_intent,
            charge_id=charge,
            customer_email=invoice.get("customer_email"),
            state_created=ctx.event_created,
            event_id=ctx.event_id,
        ),
    )
    _replace_lines(ctx, invoice, stored is not None)


def _replace_lines(ctx: HandlerContext, invoice: dict[str, Any], stored_before: bool) -> None:
    listing = invoice.get("lines") or {}
    lines = listing.get("data") or []
    if listing.get("has_more"):
        lines = ctx.stripe.invoice_lines(invoice["id"])
    if stored_before:  # a new invoice has no lines yet: they are written with it, only here
        ctx.session.execute(
            delete(InvoiceLine).where(
                InvoiceLine.account == ctx.account, InvoiceLine.invoice_id == invoice["id"]
            )
        )
    for position, line in enumerate(lines):
        price_id = _price_of(line)
        if isinstance(line.get("price"), dict):  # older API versions embed the whole price
            keep_price(ctx.session, price_row(line["price"], ctx.account))
        price, product = price_info(ctx.session, ctx.stripe, price_id) if price_id else (None, None)
        period = line.get("period") or {}
        metadata = line.get("metadata") or {}
        ctx.session.add(
            InvoiceLine(
                account=ctx.account,
                id=line["id"],
                invoice_id=invoice["id"],
                position=position,
                category=category_of(price, product),
                # What the customer paid for the line (tax in, discounts out), so a line
                # refunded in full gives back what it cost: see worker/handlers/line_amounts.py.
                amount=paid_for_line(line),
                interval=price.interval if price and price.interval in ("month", "year") else None,
                period_start=utc(period.get("start")) or ctx.event_created,
                period_end=utc(period.get("end")) or ctx.event_created,
                price_id=price_id,
                quantity=line.get("quantity"),
                # An add-on counts as used once the product records consumption on its line.
                consumed=str(metadata.get("consumed", "")).lower() in ("true", "1", "yes"),
                description=line.get("description"),
            )
        )


def _payment(
    ctx: HandlerContext, invoice: dict[str, Any], stored: Invoice | None
) -> tuple[str | None, str | None]:
    """The payment a refund goes to: from the payload (older API versions, or expanded
    `payments`), else what we stored before, else fetched from Stripe once, when paid."""
    payment_intent, charge = ref_id(invoice.get("payment_intent")), ref_id(invoice.get("charge"))
    for entry in (invoice.get("payments") or {}).get("data") or []:
        if entry.get("status", "paid") != "paid":
            continue  # an open or canceled payment (the default one, at times) holds no money
        payment = entry.get("payment") or {}
        payment_intent = payment_intent or ref_id(payment.get("payment_intent"))
        charge = charge or ref_id(payment.get("charge"))
    if payment_intent or charge:
        return payment_intent, charge
    if stored is not None and (stored.payment_intent_id or stored.charge_id):
        return stored.payment_intent_id, stored.charge_id
    if invoice.get("status") != "paid" or not invoice.get("amount_paid"):
        return None, None
    payment = ctx.stripe.invoice_payment(invoice["id"]) or {}
    return ref_id(payment.get("payment_intent")), ref_id(payment.get("charge"))


def _price_of(line: dict[str, Any]) -> str | None:
    details = (line.get("pricing") or {}).get("price_details") or {}
    return ref_id(details.get("price")) or ref_id(line.get("price"))
