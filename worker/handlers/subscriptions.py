"""Subscription events: keep the newest state, and enforce the policy on changes made elsewhere.

A plan or add-on change made in the customer portal or the Dashboard reaches us only as
`customer.subscription.updated`. Stripe has already applied its own proration then, so the
worker corrects what the policy forbids (M3.downgrade) or requires now (D3.upgrade).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from worker.catalog import category_of, policy_items, price_row, product_info
from worker.db.models import Price, Subscription
from worker.db.upsert import upsert
from worker.errors import MalformedPayload
from worker.handlers.change_prorations import changed_item_ids, undo_change_prorations
from worker.handlers.customers import lock_customer
from worker.handlers.stripe_fields import ref_id, utc
from worker.policy import classify_change, proration_plan
from worker.stripe_gateway import is_ours

if TYPE_CHECKING:
    from worker.handlers import HandlerContext


def record_subscription(ctx: HandlerContext, sub: dict[str, Any]) -> None:
    """`customer.subscription.created|updated|deleted`: a state older than ours is ignored."""
    customer_id = ref_id(sub.get("customer"))
    if not sub.get("id") or not customer_id:
        raise MalformedPayload(f"{ctx.event_type} without subscription id or customer")
    lock_customer(ctx, customer_id)
    stored = ctx.session.get(Subscription, sub["id"])
    if stored is not None and stored.state_created > ctx.event_created:
        return  # delivered out of order: we already hold a newer state
    new_items = [subscription_item(ctx, item) for item in _item_list(sub.get("items"))]
    old_items = _previous_items(ctx) or (stored.items if stored is not None else None)
    ctx.session.merge(
        Subscription(
            id=sub["id"],
            customer=customer_id,
            status=sub.get("status") or "unknown",
            cancel_at_period_end=bool(sub.get("cancel_at_period_end")),
            current_period_start=utc(_period(sub, "start")),
            current_period_end=utc(_period(sub, "end")),
            items=new_items,
            pause_collection=(sub.get("pause_collection") or {}).get("behavior"),
            state_created=ctx.event_created,
            event_id=ctx.event_id,
        )
    )
    made_elsewhere = not is_ours(ctx.request_key)
    if ctx.event_type == "customer.subscription.updated" and old_items and made_elsewhere:
        enforce_change(ctx, customer_id, sub, old_items, new_items)


def enforce_change(
    ctx: HandlerContext,
    customer_id: str,
    sub: dict[str, Any],
    old_items: list[dict[str, Any]],
    new_items: list[dict[str, Any]],
) -> None:
    subscription_id = sub["id"]
    kind = classify_change(policy_items(old_items), policy_items(new_items))
    plan = proration_plan(ctx.policy, kind)
    if plan.undo_prorations:  # M3.downgrade: no credit, and nothing more for the paid period
        undo_change_prorations(ctx, customer_id, sub, changed_item_ids(old_items, new_items))
    if plan.invoice_pending_now:  # D3.upgrade: the upgrade is charged at once
        pending = [
            item
            for item in ctx.stripe.pending_invoice_items(customer_id)
            if item.get("proration")
            and int(item.get("amount") or 0) > 0
            and _subscription_of_item(item) in (subscription_id, None)
        ]
        if pending:
            ctx.stripe.invoice_pending_now(customer_id, subscription_id)


def subscription_item(ctx: HandlerContext, item: dict[str, Any]) -> dict[str, Any]:
    """A subscription item as stored: enough to classify a later change without Stripe."""
    price = item.get("price") or item.get("plan") or {}
    if isinstance(price, str):
        raise MalformedPayload("subscription item without its price object")
    row: Price = price_row(price)
    upsert(ctx.session, row)
    product = product_info(ctx.session, ctx.stripe, row.product_id) if row.product_id else None
    return {
        "id": item.get("id"),
        "price_id": row.id,
        "quantity": int(item.get("quantity") or 1),
        "category": category_of(row, product),
        "unit_amount": int(row.unit_amount or 0),
        "interval": row.interval or "month",
        "interval_count": row.interval_count or 1,
    }


def _previous_items(ctx: HandlerContext) -> list[dict[str, Any]] | None:
    """The items before this update, as Stripe lists them in `previous_attributes`."""
    previous = ctx.previous_attributes.get("items")
    if not previous:
        return None
    return [subscription_item(ctx, item) for item in _item_list(previous)]


def _subscription_of_item(item: dict[str, Any]) -> str | None:
    details = (item.get("parent") or {}).get("subscription_details") or {}
    return ref_id(details.get("subscription")) or ref_id(item.get("subscription"))


def _item_list(items: Any) -> list[dict[str, Any]]:
    if isinstance(items, dict):
        return list(items.get("data") or [])
    return list(items or [])


def _period(sub: dict[str, Any], edge: str) -> Any:
    # Newer API versions keep the period on each item; older ones on the subscription.
    items = _item_list(sub.get("items"))
    if items and items[0].get(f"current_period_{edge}") is not None:
        return items[0][f"current_period_{edge}"]
    return sub.get(f"current_period_{edge}")
