"""Event handlers by Stripe event type: the registry the task dispatches through."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from worker.db.models import PLATFORM, THIN_PREFIX
from worker.policy import Policy
from worker.stripe.gateway import StripeGateway


@dataclass
class HandlerContext:
    """What a handler may use: its unit of work's session, the event, Stripe, the policy."""

    session: Session
    event_id: str
    event_type: str
    event_created: datetime
    stripe: StripeGateway
    policy: Policy
    previous_attributes: dict[str, Any] = field(default_factory=dict)
    # The idempotency key of the API request that caused the event, if any: ours start "bw:".
    request_key: str | None = None
    # `event.account`: the connected account whose objects these are, or PLATFORM. Every row a
    # handler reads or writes is of this account; `stripe` and `policy` are this account's too.
    account: str = PLATFORM


Handler = Callable[[HandlerContext, dict[str, Any]], None]


def _registry() -> dict[str, Handler]:
    from worker.handlers import catalog, customers, disputes, invoices, refunds, subscriptions

    # An explicit table, so a reader sees every event type the worker acts on in one place.
    return {
        "customer.created": customers.record_customer,
        "customer.updated": customers.record_customer,
        "product.created": catalog.record_product,
        "product.updated": catalog.record_product,
        "price.created": catalog.record_price,
        "price.updated": catalog.record_price,
        "invoice.paid": invoices.record_invoice,
        "invoice.payment_failed": invoices.record_invoice,
        "invoice.voided": invoices.record_invoice,
        "customer.subscription.created": subscriptions.record_subscription,
        "customer.subscription.updated": subscriptions.record_subscription,
        "customer.subscription.deleted": subscriptions.record_subscription,
        "charge.dispute.created": disputes.dispute_changed,
        "charge.dispute.closed": disputes.dispute_changed,
        "charge.dispute.funds_withdrawn": disputes.dispute_changed,
        "charge.dispute.funds_reinstated": disputes.dispute_changed,
        "charge.dispute.updated": disputes.dispute_changed,
        "charge.refunded": refunds.record_charge_refunds,
        "refund.created": refunds.record_refund,
        "refund.updated": refunds.record_refund,
        "refund.failed": refunds.record_refund,
        # Stripe's older name for a refund's update, still sent beside refund.updated
        # (https://docs.stripe.com/api/events/types#event_types-charge.refund.updated).
        "charge.refund.updated": refunds.record_refund,
    }


HANDLERS: dict[str, Handler] = _registry()


def handled_type(event_type: str, thin: bool) -> str:
    """The handler table's name for an event: a thin `v1.invoice.paid` is `invoice.paid`."""
    return event_type.removeprefix(THIN_PREFIX) if thin else event_type
