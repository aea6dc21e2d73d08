"""Chargebacks: suspend, reinstate or terminate the account as the policy says (M6 / D6)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select

from worker.db.models import AccountStatus, Customer, Dispute, Invoice
from worker.errors import FinalError, MalformedPayload
from worker.handlers.customers import lock_customer
from worker.handlers.stripe_fields import ref_id
from worker.metrics import record_account_action
from worker.policy import dispute_action

if TYPE_CHECKING:
    from worker.handlers import HandlerContext

LIVE_SUBSCRIPTION = ("active", "trialing", "past_due", "unpaid")


def dispute_opened(ctx: HandlerContext, dispute: dict[str, Any]) -> None:
    """`charge.dispute.created`: an "unauthorized" chargeback suspends (M6.dispute)."""
    customer, row = record_dispute(ctx, dispute)
    action = dispute_action(ctx.policy, "created", row.reason)
    if action.action == "suspend" and customer.account_status == AccountStatus.ACTIVE:
        suspend_account(ctx, customer)
    row.action, row.clause = action.action, action.clause


def dispute_closed(ctx: HandlerContext, dispute: dict[str, Any]) -> None:
    """`charge.dispute.closed`: won reinstates, lost terminates a suspended account."""
    customer, row = record_dispute(ctx, dispute)
    action = dispute_action(ctx.policy, "closed", row.reason, row.status)
    # Only an account this policy suspended is reinstated or terminated by the outcome.
    if customer.account_status == AccountStatus.SUSPENDED:
        if action.action == "reinstate":
            reinstate_account(ctx, customer)
        elif action.action == "terminate":
            terminate_account(ctx, customer)
    row.action, row.clause = action.action, action.clause


def record_dispute(ctx: HandlerContext, dispute: dict[str, Any]) -> tuple[Customer, Dispute]:
    """Every dispute event updates the record (funds withdrawn or reinstated, status)."""
    if not dispute.get("id"):
        raise MalformedPayload(f"{ctx.event_type} without dispute id")
    charge_id, payment_intent = ref_id(dispute.get("charge")), ref_id(dispute.get("payment_intent"))
    customer = lock_customer(ctx, _customer_of(ctx, dispute["id"], charge_id, payment_intent))
    row = ctx.session.get(Dispute, dispute["id"])
    if row is None:
        row = Dispute(id=dispute["id"], state_created=ctx.event_created, funds_withdrawn=False)
        ctx.session.add(row)
    if row.state_created <= ctx.event_created:  # never let an older state overwrite a newer
        row.charge_id, row.payment_intent_id = charge_id, payment_intent
        row.customer = customer.id
        row.reason = str(dispute.get("reason") or "general")
        row.status = str(dispute.get("status") or "needs_response")
        row.amount = int(dispute.get("amount") or 0)
        row.currency = str(dispute.get("currency") or "").lower()
        row.state_created = ctx.event_created
    if ctx.event_type == "charge.dispute.funds_withdrawn":
        row.funds_withdrawn = True
    elif ctx.event_type == "charge.dispute.funds_reinstated":
        row.funds_withdrawn = False
    return customer, row


def record_dispute_event(ctx: HandlerContext, dispute: dict[str, Any]) -> None:
    record_dispute(ctx, dispute)


def suspend_account(ctx: HandlerContext, customer: Customer) -> None:
    for sub in _subscriptions(ctx, customer.id, LIVE_SUBSCRIPTION):
        ctx.stripe.pause_collection(sub["id"])
    ctx.stripe.set_account_status(customer.id, AccountStatus.SUSPENDED)
    customer.account_status = AccountStatus.SUSPENDED
    record_account_action("suspend")


def reinstate_account(ctx: HandlerContext, customer: Customer) -> None:
    for sub in _subscriptions(ctx, customer.id, LIVE_SUBSCRIPTION):
        if sub.get("pause_collection"):
            ctx.stripe.resume_collection(sub["id"])
    ctx.stripe.set_account_status(customer.id, AccountStatus.ACTIVE)
    customer.account_status = AccountStatus.ACTIVE
    record_account_action("reinstate")


def terminate_account(ctx: HandlerContext, customer: Customer) -> None:
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
                or_(Invoice.charge_id.in_(refs), Invoice.payment_intent_id.in_(refs))
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
