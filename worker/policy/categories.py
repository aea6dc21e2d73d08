"""Stripe's vocabulary turned into the policy's: line categories and kinds of purchase."""

from typing import Literal

Category = Literal["plan", "addon", "usage", "pass_through"]
CATEGORIES: tuple[Category, ...] = ("plan", "addon", "usage", "pass_through")

PurchaseKind = Literal["new_purchase", "renewal", "change"]


class UnknownCategory(ValueError):
    """A product's `category` metadata names no category the policy knows."""


def line_category(
    product_category: str | None,
    *,
    recurring: bool,
    metered: bool = False,
) -> Category:
    """The category of an invoice line, from its product's metadata `category` when set.

    Without it the spec's fallbacks apply: a metered price is `usage`, any other recurring price
    a `plan`, a one-time price an `addon`. A metadata value that is set but unknown is an error
    rather than a fallback: a typo must not quietly turn an add-on into a refundable plan.
    """
    if product_category is not None and product_category.strip():
        name = product_category.strip().lower()
        for category in CATEGORIES:
            if name == category:
                return category
        raise UnknownCategory(
            f"product metadata category {product_category!r} is not one of {', '.join(CATEGORIES)}"
        )
    if metered:
        return "usage"
    return "plan" if recurring else "addon"


def purchase_kind(billing_reason: str | None) -> PurchaseKind:
    """Renewal or new purchase, from Stripe's `invoice.billing_reason`.

    `subscription_cycle` is a renewal, `subscription_update` a mid-cycle change (whose plan lines
    follow the rules of a new purchase); `subscription_create`, `manual` (a one-off invoice) and
    any other value are new purchases.
    """
    if billing_reason == "subscription_cycle":
        return "renewal"
    if billing_reason == "subscription_update":
        return "change"
    return "new_purchase"
