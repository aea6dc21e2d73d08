"""Chargebacks: the account follows its disputes (M6 / D6, "Chargebacks over time").

Every dispute event stores the dispute's newest state (by `event.created`; a tie re-reads the
dispute from Stripe), then the account is moved from the state we enforced to the one the
policy computes from all its disputes: suspend, reinstate or terminate, each once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select

from worker.db.models import AccountStatus, Customer, Dispute, Invoice
from worker.errors import FinalError, MalformedPayload
from worker.handlers.customers import lock_customer
from worker.handlers.stripe_fields import ref_id, subscription_of_invoice
from worker.metrics import record_account_action
from worker.policy import DisputeState, account_state
from worker.policy.disputes import order_of, remember
from worker.stripe.gateway import COLLECTION_STOPPED

if TYPE_CHECKING:
    from worker.handlers import HandlerContext

LIVE_SUBSCRIPTION = ("active", "trialing", "past_due", "unpaid")


def dispute_changed(ctx: HandlerContext, dispute: dict[str, Any]) -> None:
    """Any `charge.dispute.*` event: record the dispute, then enforce the account's state.

    The order events arrive in does not matter: a `created` handled after its `closed`
    (backfill lists newest first; a replay) finds the newer state stored and changes nothing.
    """
    customer, row = record_dispute(ctx, dispute)
    verdict = account_state(_disputes_of(ctx, customer.id), ctx.policy)
    action = _move_account(ctx, customer, verdict.state)
    row.action, row.clause = action or row.action or "record", verdict.clause


def record_dispute(ctx: HandlerContext, dispute: dict[str, Any]) -> tuple[Customer, Dispute]:
    """Keep the dispute's newest state; funds withdrawn or reinstated follow the event type."""
    if not dispute.get("id"):
        raise MalformedPayload(f"{ctx.event_type} without dispute id")
    charge_id, payment_intent = ref_id(dispute.get("charge")), ref_id(dispute.get("payment_intent"))
    customer = lock_customer(ctx, _customer_of(ctx, dispute["id"], charge_id, payment_intent))
    row = ctx.session.get(Dispute, (ctx.account, dispute["id"]))
    order = order_of(row.state_created if row else None, ctx.event_created)
    if order == "tie" and row is not None and row.status != _seen(dispute).status:
        # event.created has 1-second granularity: two states of the same second cannot be
        # ordered from their events, so Stripe's current dispute decides. (The same state
        # again, as a replay brings it, needs no look.)
        dispute, order = ctx.stripe.dispute(dispute["id"]), "newer"
    if row is None:
        row = Dispute(account=ctx.account, id=dispute["id"], funds_withdrawn=False, lost=False)
        ctx.session.add(row)
    stored = _state_of(row) if row.status else None
    kept = remember(stored, _seen(dispute), order)
    if order == "newer":
        row.charge_id, row.payment_intent_id = charge_id, payment_intent
        row.customer = customer.id
        row.amount = int(dispute.get("amount") or 0)
        row.currency = str(dispute.get("currency") or "").lower()
        row.state_created = ctx.event_created
    row.reason, row.status, row.lost = kept.reason, kept.status, kept.was_lost
    if ctx.event_type == "charge.dispute.funds_withdrawn":
        row.funds_withdrawn = True
    elif ctx.event_type == "charge.dispute.funds_reinstated":
        row.funds_withdrawn = False
    ctx.session.flush()
    return customer, row


def _seen(dispute: dict[str, Any]) -> DisputeState:
    return DisputeState(
        id=dispute["id"],
        reason=str(dispute.get("reason") or "general"),
        status=str(dispute.get("status") or "needs_response"),
    )


def _state_of(row: Dispute) -> DisputeState:
    return DisputeState(id=row.id, reason=row.reason, status=row.status, lost=bool(row.lost))


def _disputes_of(ctx: HandlerContext, customer_id: str) -> list[DisputeState]:
    rows = ctx.session.scalars(
        select(Dispute).where(Dispute.account == ctx.account, Dispute.customer == customer_id)
    )
    return [_state_of(row) for row in rows]


def _move_account(ctx: HandlerContext, customer: Customer, wanted: str) -> str | None:
    """From the state we enforced to the computed one; None when nothing has to change.

    Terminated is final (M6: a later win does not reinstate), and an account already in the
    wanted state gets no call at all: closing a dispute that never suspended changes nothing.
    """
    current = customer.account_status
    if current == wanted or current == AccountStatus.TERMINATED:
        return None
    if wanted == AccountStatus.TERMINATED:
        terminate_account(ctx, customer)
        return "terminate"
    if wanted == AccountStatus.SUSPENDED:
        suspend_account(ctx, customer)
        return "suspend"
    reinstate_account(ctx, customer)
    return "reinstate"


def suspend_account(ctx: HandlerContext, customer: Customer) -> None:
    """M6.dispute: pause the live subscriptions, and stop collecting their invoices already
    open, which a pause alone leaves Stripe retrying."""
    paused = set()
    for sub in _subscriptions(ctx, customer.id, LIVE_SUBSCRIPTION):
        ctx.stripe.pause_collection(sub["id"])
        paused.add(sub["id"])
    open_invoices = ctx.stripe.open_invoices(customer.id) if paused else []
    for invoice in open_invoices:
        if invoice.get("auto_advance") and subscription_of_invoice(invoice) in paused:
            ctx.stripe.stop_collection(invoice["id"])
    ctx.stripe.set_account_status(customer.id, AccountStatus.SUSPENDED)
    customer.account_status = AccountStatus.SUSPENDED
    record_account_action("suspend")


def reinstate_account(ctx: HandlerContext, customer: Customer) -> None:
    """Resume the paused subscriptions, and collect again the open invoices that suspension
    stopped (and only those: one stopped by hand stays stopped)."""
    for sub in _subscriptions(ctx, customer.id, LIVE_SUBSCRIPTION):
        if sub.get("pause_collection"):
            ctx.stripe.resume_collection(sub["id"])
    for invoice in ctx.stripe.open_invoices(customer.id):
        if (invoice.get("metadata") or {}).get(COLLECTION_STOPPED):
            ctx.stripe.restart_collection(invoice["id"])
    ctx.stripe.set_account_status(customer.id, AccountStatus.ACTIVE)
    customer.account_status = AccountStatus.ACTIVE
    record_account_action("reinstate")


def terminate_account(ctx: HandlerContext, customer: Customer) -> None:
    """Cancel now; open invoices whose collection suspension stopped stay stopped (finance
    decides whether to void or collect them)."""
    for sub in _subscriptions(ctx, customer.id, LIVE_SUBSCRIPTION):
        ctx.stripe.cancel_subscription_now(sub["id"])
    ctx.stripe.set_account_status(customer.id, AccountStatus.TERMINATED)
    customer.account_status = AccountStatus.TERMINATED
    record_account_action("terminate")


def _subscriptions(
    ctx: HandlerContext, customer_id: str, statuses: tuple[str, ...]
) -> list[dict[str, Any]]:
    # Stripe's list is the truth: a subscription we never heard of is still charged.
    return [s for s in ctx.stripe.subscriptions_of(customer_id) if s.get("status") in statuses]


def _customer_of(
    ctx: HandlerContext, dispute_id: str, charge_id: str | None, payment_intent: str | None
) -> str:
    """The disputed payment's customer: from our invoices, else from the charge at Stripe."""
    refs = [ref for ref in (charge_id, payment_intent) if ref]
    if refs:
        customer = ctx.session.scalar(
            select(Invoice.customer).where(
                Invoice.account == ctx.account,
                or_(Invoice.charge_id.in_(refs), Invoice.payment_intent_id.in_(refs)),
            )
        )
        if customer:
            return customer
    if charge_id:
        customer = ref_id(ctx.stripe.charge(charge_id).get("customer"))
        if customer:
            return customer
    raise FinalError(
        f"dispute {dispute_id}: charge {charge_id or payment_intent} matches no invoice we know "
        "and Stripe names no customer for it"
    )
