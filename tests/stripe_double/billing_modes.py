"""How the double prorates a change of a subscription item, by the subscription's billing mode.

At the pinned API version a subscription created through the API is in **flexible** billing
mode unless `billing_mode[type]=classic` is asked for
(https://docs.stripe.com/changelog/clover/2025-09-30/billing-mode-default-flexible). The modes
differ in the credit for the unused time
(https://docs.stripe.com/billing/subscriptions/billing-mode/compare, "Credit proration
calculations"):

- classic: the credit is computed from the item's *current* price, quantity and discount, so a
  price changed earlier without proration is credited at the price the customer never paid;
- flexible: the credit is computed from the amount *originally debited*, one credit per
  original debit whose time is being credited.

The debit for the remaining time on the new price is the same in both modes. A proration is
per second of the item's current period, rounded half up (the double's `prorate`).

Discounts on prorations (https://docs.stripe.com/billing/subscriptions/prorations, "Prorations
and discounts": prorations are `discountable=false` and carry the discount in their `amount`;
https://docs.stripe.com/changelog/clover/2025-09-30/itemize-proration-discount-amounts): with
`proration_discounts=included` (and in classic) the item's `amount` is net of the discount and
the line lists the discount with amount 0; with `itemized` (flexible only) the `amount` is gross
and the line's `discount_amounts` hold the discount. Either way the customer pays the same.

What counts as an "original debit" is where the docs stop; the double's choice: the period's
own invoice (seeded with the subscription: each item's price × quantity, less the discount),
and every debit proration of the item that still exists (a deleted pending item debited
nothing). A debit's time is credited by the credits made against it that still exist; a
deleted credit gives its time back to the debit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stripe_double.tax import percent_of

CLASSIC = "classic"
FLEXIBLE = "flexible"


def billing_mode(mode: str, proration_discounts: str = "included") -> dict[str, Any]:
    """A subscription's `billing_mode` (https://docs.stripe.com/api/subscriptions/object)."""
    if mode not in (CLASSIC, FLEXIBLE):
        raise ValueError(f"billing mode is classic or flexible, not {mode!r}")
    if proration_discounts not in ("included", "itemized"):
        raise ValueError(f"proration_discounts is included or itemized: {proration_discounts!r}")
    flexible = {"proration_discounts": proration_discounts} if mode == FLEXIBLE else None
    return {"type": mode, "flexible": flexible, "updated_at": None}


def itemized(subscription: dict[str, Any] | None) -> bool:
    """Whether the subscription's prorations show gross amounts and their discounts apart."""
    mode = (subscription or {}).get("billing_mode") or {}
    return (mode.get("flexible") or {}).get("proration_discounts") == "itemized"


def prorate(amount: int, remaining: int, length: int) -> int:
    """`amount × remaining / length`, rounded half up (toward +inf for credits as debits)."""
    return (2 * amount * remaining + length) // (2 * length) if length > 0 else 0


@dataclass
class Debit:
    """What was charged for an item's time: the period's invoice, or a debit proration."""

    key: str  # the invoice item's id, or "period:<item>:<start>" for the period's invoice
    gross: int  # before the discount
    discount: int
    start: int
    end: int
    price: str  # the price and quantity debited, which its credit names
    quantity: int


@dataclass
class Proration:
    """One proration invoice item to make: its gross amount and discount (signed alike)."""

    gross: int
    discount: int
    price: str
    quantity: int
    description: str
    credits: str | None = None  # the debit a flexible credit reverses


@dataclass
class Debits:
    """The debits of each subscription item and which credit reverses which debit."""

    by_item: dict[str, list[Debit]] = field(default_factory=dict)
    credit_of: dict[str, str] = field(default_factory=dict)  # credit item id → debit key

    def add(self, item_id: str, debit: Debit) -> None:
        self.by_item.setdefault(item_id, []).append(debit)


def change_prorations(
    subscription: dict[str, Any],
    item: dict[str, Any],
    old_price: dict[str, Any],
    old_quantity: int,
    now: int,
    debits: Debits,
    find: Callable[[str], dict[str, Any] | None],
    discount_percent: float,
) -> list[Proration]:
    """The credit(s) and the debit a change of `item` at `now` leaves, by billing mode.
    `find(invoice_item_id)` is the invoice item, or None once deleted."""
    start, end = item["current_period_start"], item["current_period_end"]
    mode = (subscription.get("billing_mode") or {}).get("type", CLASSIC)
    # A subscription put into the state without `double.subscription` has no debit on record:
    # its credit falls back to the current price, as classic computes it.
    if mode == FLEXIBLE and item["id"] in debits.by_item:
        made = _flexible_credits(item, now, debits, find)
    else:
        gross = prorate(old_price["unit_amount"] * old_quantity, end - now, end - start)
        off = percent_of(gross, discount_percent)
        unused = f"Unused time on {old_price['id']}"
        made = [Proration(-gross, -off, old_price["id"], old_quantity, unused)]
    new_price, quantity = item["price"], item["quantity"]
    gross = prorate(new_price["unit_amount"] * quantity, end - now, end - start)
    off = percent_of(gross, discount_percent)
    made.append(
        Proration(gross, off, new_price["id"], quantity, f"Remaining time on {new_price['id']}")
    )
    return made


def _flexible_credits(
    item: dict[str, Any],
    now: int,
    debits: Debits,
    find: Callable[[str], dict[str, Any] | None],
) -> list[Proration]:
    """One credit per original debit with time left after `now`, from its own amounts."""
    credits = []
    for debit in debits.by_item.get(item["id"], []):
        if not debit.key.startswith("period:") and find(debit.key) is None:
            continue
        credited_from = [
            int(credit["period"]["start"])
            for credit_id, key in debits.credit_of.items()
            if key == debit.key and (credit := find(credit_id)) is not None
        ]
        until = min([debit.end, *credited_from])
        if not (debit.start <= now < until):
            continue
        length = debit.end - debit.start
        gross = prorate(debit.gross, until - now, length)
        off = prorate(debit.discount, until - now, length)
        credits.append(
            Proration(
                -gross, -off, debit.price, debit.quantity,
                f"Unused time on {debit.price}", credits=debit.key,
            )
        )  # fmt: skip
    return credits
