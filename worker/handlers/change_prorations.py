"""Undo the proration of one subscription change made elsewhere (M3.downgrade), so the change
ends as if made with `proration_behavior=none`.

How Stripe marks a change's prorations (classic billing mode, the pinned API version): a price
or quantity change of a subscription item leaves two proration items — a credit for the unused
time on the old price and a debit for the remaining time on the new one. Both name the item
(`parent.subscription_details.subscription_item` while pending; on an invoice line,
`parent.subscription_item_details.subscription_item`) and both start their `period` at the
moment of the change. `proration_details.credited_items` links a credit to the *original*
debit it reverses (the old price's line on an earlier invoice), not to its partner, so it does
not identify a change. One change is therefore: same subscription, a changed item, and the
latest proration moment not after the event and no more than 5 minutes before it (POLICY-SPEC.md,
"Which proration is this change's"). A change made with `proration_behavior=none` made none, so
it has nothing to undo, even while an earlier change's prorations stand pending or on the
subscription's latest invoice. Items of other subscriptions, other items, earlier changes and
one-off items are left alone. In flexible billing mode (the default for subscriptions created at
the pinned API version) a change may credit several earlier debits, one credit each; they all
start at the change's moment, so they are all this change's.

Where the portal is configured with `always_invoice`, the prorations are already on a paid
invoice (`latest_invoice` of the subscription). What the customer was actually credited or
charged for them is reversed: each line's amount with its discounts taken off and its exclusive
tax added (`paid_for_line`, as refunds count it). A net credit (a downgrade) went to the
customer's balance or lowered that invoice, so the balance is debited by it; a net charge is
refunded from the invoice's paid payment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from worker.errors import FinalError
from worker.handlers.line_amounts import paid_for_line
from worker.handlers.stripe_fields import ref_id
from worker.policy import made_by_change

if TYPE_CHECKING:
    from worker.handlers import HandlerContext


def changed_item_ids(old_items: list[dict[str, Any]], new_items: list[dict[str, Any]]) -> set[str]:
    """Items whose price or quantity changed, or that were added or removed."""
    old = {item["id"]: (item["price_id"], item["quantity"]) for item in old_items}
    new = {item["id"]: (item["price_id"], item["quantity"]) for item in new_items}
    return {item_id for item_id in old.keys() | new.keys() if old.get(item_id) != new.get(item_id)}


def undo_change_prorations(
    ctx: HandlerContext,
    customer_id: str,
    subscription: dict[str, Any],
    changed: set[str],
) -> None:
    sub_id = subscription["id"]
    pending = ctx.stripe.pending_invoice_items(customer_id)
    items = _this_change(ctx, [i for i in pending if _of_change(i, sub_id, changed)])
    for item in items:
        ctx.stripe.delete_invoice_item(item["id"])
    invoice_id = ref_id(subscription.get("latest_invoice"))
    if items or not invoice_id:
        return
    lines = ctx.stripe.invoice_lines(invoice_id)
    invoiced = _this_change(ctx, [line for line in lines if _of_change(line, sub_id, changed)])
    net = sum(paid_for_line(line) for line in invoiced)
    if net < 0:
        currency = str(invoiced[0].get("currency") or "")
        ctx.stripe.debit_customer_balance(customer_id, -net, currency, invoice_id)
    elif net > 0:
        payment = ctx.stripe.invoice_payment(invoice_id)
        if payment is None:
            raise FinalError(f"invoice {invoice_id} has no paid payment to refund {net} from")
        ctx.stripe.refund(
            payment_intent=ref_id(payment.get("payment_intent")),
            charge=ref_id(payment.get("charge")),
            amount=net,
            metadata={"invoice": invoice_id, "clause": "M3.downgrade"},
        )


def _of_change(obj: dict[str, Any], subscription_id: str, changed: set[str]) -> bool:
    parent = obj.get("parent") or {}
    details = (
        parent.get("subscription_details")
        or parent.get("subscription_item_details")
        or parent.get("invoice_item_details")
        or {}
    )
    if not (obj.get("proration") or details.get("proration")):
        return False
    # An item naming no subscription at all is taken to be of this one, as before this module
    # (stripe-mock's one fixture item names none); one naming another subscription never is.
    owner = ref_id(details.get("subscription")) or ref_id(obj.get("subscription"))
    if owner not in (subscription_id, None):
        return False
    # A payload without the item (older API versions) is taken to be of the changed item.
    item = ref_id(details.get("subscription_item")) or ref_id(obj.get("subscription_item"))
    return item is None or item in changed


def _this_change(ctx: HandlerContext, prorations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The prorations made at the latest moment not after the event and within
    5 minutes before it (`made_by_change`): this change's (none for a change that made none)."""
    event_at = ctx.event_created.timestamp()
    moments = [m for m in map(_start, prorations) if m is not None and made_by_change(m, event_at)]
    latest = max(moments, default=None)
    return [p for p in prorations if latest is not None and _start(p) == latest]


def _start(obj: dict[str, Any]) -> int | None:
    start = (obj.get("period") or {}).get("start")
    return int(start) if start is not None else None
