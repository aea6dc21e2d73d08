"""Refund events: every refund on a payment we know, ours or made by hand in the Dashboard,
so the refundable remainder a decision uses stays right."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, update

from worker.db.models import Invoice, Refund
from worker.db.upsert import upsert
from worker.errors import MalformedPayload
from worker.handlers.stripe_fields import ref_id, utc

if TYPE_CHECKING:
    from worker.handlers import HandlerContext


def record_refund(ctx: HandlerContext, refund: dict[str, Any]) -> None:
    """`refund.created` / `refund.updated`."""
    if not refund.get("id"):
        raise MalformedPayload(f"{ctx.event_type} without refund id")
    upsert(ctx.session, refund_row(refund, ctx))


def record_charge_refunds(ctx: HandlerContext, charge: dict[str, Any]) -> None:
    """`charge.refunded`: its refunds, and the total Stripe says is refunded on the charge."""
    for refund in (charge.get("refunds") or {}).get("data") or []:
        upsert(ctx.session, refund_row(refund, ctx))
    refs = [ref for ref in (charge.get("id"), ref_id(charge.get("payment_intent"))) if ref]
    reported = int(charge.get("amount_refunded") or 0)
    ctx.session.execute(
        update(Invoice)
        .where(or_(Invoice.charge_id.in_(refs), Invoice.payment_intent_id.in_(refs)))
        .where(Invoice.amount_refunded_reported < reported)
        .values(amount_refunded_reported=reported)
    )


def refund_row(refund: dict[str, Any], ctx: HandlerContext) -> Refund:
    return Refund(
        id=refund["id"],
        charge_id=ref_id(refund.get("charge")),
        payment_intent_id=ref_id(refund.get("payment_intent")),
        amount=int(refund.get("amount") or 0),
        currency=str(refund.get("currency") or "").lower(),
        status=str(refund.get("status") or "pending"),
        request_id=(refund.get("metadata") or {}).get("refund_request_id"),
        created=utc(refund.get("created")) or ctx.event_created,
    )
