"""Plan and add-on changes, and cancellation, made by us with the policy's proration."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select

from worker.catalog import category_of, policy_items, price_info
from worker.db.models import PLATFORM, Customer, Subscription
from worker.errors import InvalidRequest
from worker.policy import cancellation, classify_change, proration_plan
from worker.runtime import Runtime
from worker.stripe.gateway import StripeGateway


class SubscriptionError(InvalidRequest):
    """A change that cannot be made as asked; the message says why."""


@dataclass(frozen=True)
class SubscriptionChange:
    """A plan or add-on change as made: its kind and the proration the policy chose."""

    subscription: str
    change: str
    proration_behavior: str
    clause: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SubscriptionCancellation:
    """A cancellation as made: at the period's end (`ends_at`, UTC) or at once."""

    subscription: str
    cancel_at_period_end: bool
    ends_at: str | None
    clause: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def change_subscription(
    runtime: Runtime,
    subscription_id: str,
    *,
    price: str | None = None,
    addon_item: str | None = None,
    quantity: int | None = None,
    account: str = PLATFORM,
) -> SubscriptionChange:
    """Switch the plan to `price`, or set an add-on item's quantity, prorated as the policy says.

    M3.downgrade: a Mittrik downgrade is made with `proration_behavior=none`; M.upgrade and
    D3.upgrade invoice an upgrade at once; D3.downgrade and D3.addons credit or charge pro rata.
    The subscription is `account`'s (a connected account's acct_…, or the platform's).
    """
    with runtime.sessions.begin() as session:
        sub = _subscription(session, subscription_id, account)
        session.scalar(
            select(Customer)
            .where(Customer.account == account, Customer.id == sub.customer)
            .with_for_update()
        )
        source = (
            "change-"
            + hashlib.sha256(
                f"{subscription_id}|{price}|{addon_item}|{quantity}|{sub.event_id}".encode()
            ).hexdigest()[:24]
        )
        stripe = StripeGateway(runtime.stripe, session, source, account=account)
        old_items = sub.items
        if price is not None:
            plan_item = next((i for i in old_items if i["category"] == "plan"), None)
            if plan_item is None:
                raise SubscriptionError(f"{subscription_id} has no plan item to change")
            new_price = _catalog_item(session, stripe, price)
            new_items = [
                {**new_price, "id": i["id"], "quantity": i["quantity"]} if i is plan_item else i
                for i in old_items
            ]
            change = [{"id": plan_item["id"], "price": price}]
        elif addon_item is not None and quantity is not None:
            if quantity < 0:
                raise SubscriptionError("quantity must be 0 or more")
            if not any(i["id"] == addon_item for i in old_items):
                ids = ", ".join(i["id"] for i in old_items)
                raise SubscriptionError(f"{addon_item} is not an item of {subscription_id}: {ids}")
            new_items = [
                {**i, "quantity": quantity} if i["id"] == addon_item else i for i in old_items
            ]
            change = [{"id": addon_item, "quantity": quantity}]
        else:
            raise SubscriptionError("give --price, or --addon with --quantity")
        kind = classify_change(policy_items(old_items), policy_items(new_items))
        if kind == "no_change":
            raise SubscriptionError(f"{subscription_id} already has that plan and quantities")
        plan = proration_plan(runtime.policy_for(account), kind)
        stripe.change_subscription(
            subscription_id, change, plan.proration_behavior, f"change_{kind}"
        )
        return SubscriptionChange(
            subscription=subscription_id,
            change=kind,
            proration_behavior=plan.proration_behavior,
            clause=plan.clause,
        )


def cancel_subscription(
    runtime: Runtime, subscription_id: str, account: str = PLATFORM
) -> SubscriptionCancellation:
    """M3.cancel / D1.cancel: cancel at the end of the period already paid for."""
    with runtime.sessions.begin() as session:
        sub = _subscription(session, subscription_id, account)
        plan = cancellation(runtime.policy_for(account))
        stripe = StripeGateway(
            runtime.stripe, session, f"cancel-{subscription_id}-{sub.event_id}", account=account
        )
        if plan.cancel_at_period_end:
            stripe.cancel_at_period_end(subscription_id)
        else:
            stripe.cancel_subscription_now(subscription_id)
        return SubscriptionCancellation(
            subscription=subscription_id,
            cancel_at_period_end=plan.cancel_at_period_end,
            ends_at=sub.current_period_end.isoformat() if sub.current_period_end else None,
            clause=plan.clause,
        )


def _subscription(session: Any, subscription_id: str, account: str) -> Subscription:
    sub = session.get(Subscription, (account, subscription_id))
    if sub is None:
        of = f" of {account}" if account else ""
        raise SubscriptionError(
            f"unknown subscription {subscription_id}{of}: no customer.subscription event "
            "recorded yet"
        )
    return sub


def _catalog_item(session: Any, stripe: StripeGateway, price_id: str) -> dict[str, Any]:
    price, product = price_info(session, stripe, price_id)
    return {
        "price_id": price.id,
        "category": category_of(price, product),
        "unit_amount": int(price.unit_amount or 0),
        "interval": price.interval or "month",
        "interval_count": price.interval_count or 1,
    }
