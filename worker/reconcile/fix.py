"""Bring one finding back to the policy's end state, through the same gateway as every handler:
an idempotency key of reconciliation's own kind (`bw:[<account>:]reconcile-<run>:<action>:<id>`),
an audit row in `stripe_calls`, the shared rate budget, and an effect check before any retry.

A second `--fix` finds nothing to do: each run compares first, and acts only on what differs.
A run that crashed in the middle (its call made at Stripe, our commit lost) is safe for the
same reason: the re-run reads Stripe, sees the effect, and has nothing left to do; where the
effect is a refund we had not recorded, the re-run records it (a recording remedy, no write).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from worker.db.models import Customer
from worker.handlers.disputes import dispute_changed
from worker.handlers.refunds import record_refund
from worker.metrics import record_account_action
from worker.reconcile.findings import Finding, Remedy

if TYPE_CHECKING:
    from worker.handlers import HandlerContext

SOURCE_PREFIX = "reconcile-"  # no ":" in a source: keys are split on it


def source_of(run_id: str) -> str:
    return f"{SOURCE_PREFIX}{run_id}"


def apply_remedy(ctx: HandlerContext, finding: Finding) -> None:
    """One finding's remedy. Recording remedies do what the missed event's handler would have
    done (and a dispute's enforces the account, as its event would have)."""
    stripe, object_id = ctx.stripe, finding.object_id
    match finding.remedy:
        case Remedy.PAUSE:
            stripe.pause_collection(object_id)
        case Remedy.RESUME:
            stripe.resume_collection(object_id)
        case Remedy.STOP_INVOICE:
            stripe.stop_collection(object_id)
        case Remedy.RESTART_INVOICE:
            stripe.restart_collection(object_id)
        case Remedy.CANCEL_NOW:
            stripe.cancel_subscription_now(object_id)
        case Remedy.CANCEL_AT_PERIOD_END:
            stripe.cancel_at_period_end(object_id)
        case Remedy.DELETE_PRORATION:
            stripe.delete_invoice_item(object_id)
        case Remedy.MARK_STATUS:
            stripe.set_account_status(finding.customer, str(finding.state))
        case Remedy.RECORD_STATUS:
            _record_status(ctx, finding)
        case Remedy.RECORD_DISPUTE:
            assert finding.stripe_object is not None
            dispute_changed(ctx, finding.stripe_object)
        case Remedy.RECORD_REFUND:
            assert finding.stripe_object is not None
            record_refund(ctx, finding.stripe_object)
        case None:
            raise ValueError(f"{finding.kind} has no remedy")


def _record_status(ctx: HandlerContext, finding: Finding) -> None:
    customer = ctx.session.scalar(
        select(Customer).where(Customer.account == ctx.account, Customer.id == finding.customer)
    )
    if customer is None or customer.account_status == finding.state:
        return
    action = {"suspended": "suspend", "terminated": "terminate"}.get(str(finding.state))
    customer.account_status = str(finding.state)
    record_account_action(action or "reinstate")
