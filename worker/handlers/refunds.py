"""Refund events: every refund on a payment we know, ours or made by hand in the Dashboard,
so the refundable remainder a decision uses stays right.

Each refund keeps its newest state, ordered by `event.created` and, within one second, by how
far a refund has gone (pending < requires_action < succeeded < failed/canceled): a late
`refund.created` (pending) never undoes a `refund.failed`. A refund that failed or was canceled
gives its amount back to what remains refundable, and our request says so to support.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select

from worker.db.models import Invoice, Refund, RefundRequest, RefundRequestStatus
from worker.db.upsert import upsert
from worker.errors import MalformedPayload
from worker.handlers.customers import lock_customer, locked_customer
from worker.handlers.stripe_fields import ref_id, utc

if TYPE_CHECKING:
    from worker.handlers import HandlerContext

# Stripe's refund lifecycle: pending → (requires_action →) succeeded | failed | canceled, and a
# succeeded refund can still fail later (the bank returns it), never the reverse.
STATUS_ORDER = {"pending": 0, "requires_action": 1, "succeeded": 2, "failed": 3, "canceled": 3}
UNDONE = ("failed", "canceled")  # the money never went back: it is refundable again


def record_refund(ctx: HandlerContext, refund: dict[str, Any]) -> None:
    """`refund.created` / `refund.updated` / `refund.failed` (sent for every refund since
    2024-10-28)."""
    if not refund.get("id"):
        raise MalformedPayload(f"{ctx.event_type} without refund id")
    _lock_payment_customer(ctx, refund)
    kept = keep_newest(ctx, refund)
    if kept is not None and kept.status in UNDONE:
        refund_undone(ctx, kept)


def record_charge_refunds(ctx: HandlerContext, charge: dict[str, Any]) -> None:
    """`charge.refunded`: its refunds, and the total Stripe says is refunded on the charge."""
    for refund in (charge.get("refunds") or {}).get("data") or []:
        keep_newest(ctx, refund)
    refs = [ref for ref in (charge.get("id"), ref_id(charge.get("payment_intent"))) if ref]
    for invoice in _invoices_paid_by(ctx, refs):
        at = invoice.refunded_reported_at
        if at is not None and ctx.event_created < at:
            continue  # a report older than the one kept (a refund may have failed since)
        reported = int(charge.get("amount_refunded") or 0)
        if at is not None and ctx.event_created == at and charge.get("id"):
            # Same second as the stored report: only Stripe's charge now says which is newer.
            reported = int(ctx.stripe.charge(charge["id"]).get("amount_refunded") or 0)
        invoice.amount_refunded_reported = reported
        invoice.refunded_reported_at = ctx.event_created


def keep_newest(ctx: HandlerContext, refund: dict[str, Any]) -> Refund | None:
    """Store the refund's state unless the stored one is newer; return the row now kept."""
    seen = refund_row(refund, ctx)
    stored = ctx.session.get(Refund, (ctx.account, seen.id), with_for_update=True)
    if stored is not None and not is_newer(seen, stored):
        return None
    if stored is not None and seen.request_id is None:
        seen.request_id = stored.request_id  # a payload without metadata keeps what we know
    upsert(ctx.session, seen)
    return seen


def is_newer(seen: Refund, stored: Refund) -> bool:
    """By event time, then by status order; our own record (no event time) is the weakest."""
    if stored.state_created is None:
        return True
    assert seen.state_created is not None
    return (seen.state_created, rank(seen.status)) >= (stored.state_created, rank(stored.status))


def rank(status: str) -> int:
    return STATUS_ORDER.get(status, 0)


def refund_undone(ctx: HandlerContext, refund: Refund) -> None:
    """A refund failed or was canceled: the payment is refundable again, and the request that
    issued it waits for support, with the reason, to be retried (`refunds approve`)."""
    request = ctx.session.scalar(
        select(RefundRequest)
        .where(
            RefundRequest.account == ctx.account,
            or_(RefundRequest.refund_id == refund.id, RefundRequest.id == refund.request_id),
            RefundRequest.status == RefundRequestStatus.REFUNDED,
        )
        .with_for_update()
    )
    if request is not None and request.refund_id == refund.id:
        request.status = RefundRequestStatus.REFUND_FAILED
        request.error = (
            f"refund {refund.id} {refund.status} ({refund.failure_reason or 'no reason given'}): "
            f"run `billing-worker refunds approve {request.id} --by NAME` to refund again"
        )
    if refund.charge_id:
        # charge.refunded reports only grow the refunded total; a failure shrinks it, so take
        # Stripe's charge as it is now.
        charge = ctx.stripe.charge(refund.charge_id)
        refs = [ref for ref in (refund.charge_id, refund.payment_intent_id) if ref]
        for invoice in _invoices_paid_by(ctx, refs):
            invoice.amount_refunded_reported = int(charge.get("amount_refunded") or 0)
            invoice.refunded_reported_at = max(
                ctx.event_created, invoice.refunded_reported_at or ctx.event_created
            )


def refund_row(refund: dict[str, Any], ctx: HandlerContext) -> Refund:
    return Refund(
        account=ctx.account,
        id=refund["id"],
        charge_id=ref_id(refund.get("charge")),
        payment_intent_id=ref_id(refund.get("payment_intent")),
        amount=int(refund.get("amount") or 0),
        currency=str(refund.get("currency") or "").lower(),
        status=str(refund.get("status") or "pending"),
        request_id=(refund.get("metadata") or {}).get("refund_request_id"),
        created=utc(refund.get("created")) or ctx.event_created,
        state_created=ctx.event_created,
        failure_reason=refund.get("failure_reason"),
    )


def _invoices_paid_by(ctx: HandlerContext, refs: list[str]) -> list[Invoice]:
    if not refs:
        return []
    return list(
        ctx.session.scalars(
            select(Invoice)
            .where(
                Invoice.account == ctx.account,
                or_(Invoice.charge_id.in_(refs), Invoice.payment_intent_id.in_(refs)),
            )
            .with_for_update()
        )
    )


def _lock_payment_customer(ctx: HandlerContext, refund: dict[str, Any]) -> None:
    """Two events of one refund handled at once must not both pass the ordering check: take
    the paying customer's lock, as every handler does (none for a payment we do not know)."""
    refs = [r for r in (ref_id(refund.get("charge")), ref_id(refund.get("payment_intent"))) if r]
    if not refs:
        return
    paying = (
        select(Invoice.customer)
        .where(
            Invoice.account == ctx.account,
            or_(Invoice.charge_id.in_(refs), Invoice.payment_intent_id.in_(refs)),
        )
        .limit(1)
    )
    # The customer found and locked in one statement (its id never changes, so reading it
    # before the lock is granted reads it right); only a customer not stored takes two.
    if ctx.session.scalar(locked_customer(ctx, paying.scalar_subquery())) is None:
        customer = ctx.session.scalar(paying)
        if customer:
            lock_customer(ctx, customer)
