"""Subscription events: keep the newest state, and enforce the policy on changes made elsewhere.

A plan or add-on change made in the customer portal or the Dashboard reaches us only as
`customer.subscription.updated`. Stripe has already applied its own proration then, so the
worker corrects what the policy forbids (M3.downgrade) or requires now (D3.upgrade).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from worker.catalog import category_of, keep_price, policy_items, price_row, product_info
from worker.db.models import Price, Subscription
from worker.errors import MalformedPayload
from worker.handlers.change_prorations import changed_item_ids, undo_change_prorations
from worker.handlers.customers import lock_customer
from worker.handlers.kept_state import keep
from worker.handlers.stripe_fields import ref_id, utc
from worker.policy import classify_change, proration_plan
from worker.stripe.keys import is_ours

if TYPE_CHECKING:
    from worker.handlers import HandlerContext


def record_subscription(ctx: HandlerContext, sub: dict[str, Any]) -> None:
    """`customer.subscription.created|updated|deleted`: a state older than ours is ignored."""
    customer_id = ref_id(sub.get("customer"))
    if not sub.get("id") or not customer_id:
        raise MalformedPayload(f"{ctx.event_type} without subscription id or customer")
    lock_customer(ctx, customer_id)
    stored = ctx.session.get(Subscription, (ctx.account, sub["id"]))
    if stored is not None and stored.state_created > ctx.event_created:
        return  # delivered out of order: we already hold a newer state
    if not _items_complete(sub):
        # A payload without its items' prices (a thin event, an older shape): Stripe's current
        # object is the truth, so read it rather than guess.
        sub = {**sub, "items": ctx.stripe.subscription(sub["id"]).get("items")}
    raw_items = _item_list(sub.get("items"))
    new_items = [subscription_item(ctx, item) for item in raw_items]
    old_items = _previous_items(ctx, raw_items, stored) or (
        stored.items if stored is not None else None
    )
    state, state_items = sub, new_items
    if ctx.event_type == "customer.subscription.updated" and _same_second_as_stored(ctx, stored):
        # `event.created` counts whole seconds: two changes within one second cannot be ordered
        # by it, so the last processed must not win. Stripe's current object is stored instead
        # (DESIGN.md guarantee 3); the change this event describes is still enforced below.
        state = ctx.stripe.subscription(sub["id"])
        state_items = [subscription_item(ctx, item) for item in _item_list(state.get("items"))]
    keep(
        ctx.session,
        stored,
        Subscription(
            account=ctx.account,
            id=sub["id"],
            customer=customer_id,
            status=state.get("status") or "unknown",
            cancel_at_period_end=bool(state.get("cancel_at_period_end")),
            current_period_start=utc(_period(state, "start")),
            current_period_end=utc(_period(state, "end")),
            items=state_items,
            pause_collection=(state.get("pause_collection") or {}).get("behavior"),
            state_created=ctx.event_created,
            event_id=ctx.event_id,
        ),
    )
    made_elsewhere = not is_ours(ctx.request_key)
    if ctx.event_type == "customer.subscription.updated" and old_items and made_elsewhere:
        enforce_change(ctx, customer_id, sub, old_items, new_items)


def _same_second_as_stored(ctx: HandlerContext, stored: Subscription | None) -> bool:
    """Another event's state of the same second is stored (a replay of that event is not a tie)."""
    return (
        stored is not None
        and stored.state_created == ctx.event_created
        and stored.event_id != ctx.event_id
    )


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
    row: Price = price_row(price, ctx.account)
    keep_price(ctx.session, row)
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


def _previous_items(
    ctx: HandlerContext, current: list[dict[str, Any]], stored: Subscription | None
) -> list[dict[str, Any]] | None:
    """The items before this update, as Stripe lists them in `previous_attributes`.

    Stripe names only what changed: an item may carry just its `id` and old `quantity`, no
    `price` (the price did not change). A missing field is taken from our stored item of the
    same id (the state before this update), else from the same item now; an item we cannot
    identify makes the whole list unknown (None), and the caller falls back to what we stored.
    """
    previous = ctx.previous_attributes.get("items")
    if not previous:
        return None
    stored_by_id = {i.get("id"): i for i in (stored.items if stored is not None else [])}
    current_by_id = {i.get("id"): i for i in current if i.get("id")}
    items: list[dict[str, Any]] = []
    for item in _item_list(previous):
        if not isinstance(item, dict):
            return None
        if isinstance(item.get("price"), str):  # an id only: the catalog knows the rest
            item = {**item, "price": ctx.stripe.price(item["price"])}
        if isinstance(item.get("price") or item.get("plan"), dict):
            items.append(subscription_item(ctx, item))
        elif item.get("id") in stored_by_id:
            was = stored_by_id[item["id"]]
            quantity = item.get("quantity", was.get("quantity"))
            items.append({**was, "quantity": int(quantity if quantity is not None else 1)})
        elif item.get("id") in current_by_id:
            items.append(subscription_item(ctx, {**current_by_id[item["id"]], **item}))
        else:
            return None
    return items


def _items_complete(sub: dict[str, Any]) -> bool:
    return all(
        isinstance(item, dict) and isinstance(item.get("price") or item.get("plan"), dict)
        for item in _item_list(sub.get("items"))
    )


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
