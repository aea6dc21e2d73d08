"""Products and prices: where a line's category and a plan's daily rate come from.

Kept current by `product.*` and `price.*` events (worker/handlers/catalog.py); anything missing is
fetched from Stripe once. Handlers and commands both read it, so neither imports the other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from worker.db.models import Price, Product
from worker.db.upsert import upsert
from worker.policy import SubscriptionItem, line_category

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from worker.stripe_gateway import StripeGateway


def product_row(product: dict[str, Any], account: str) -> Product:
    return Product(
        account=account,
        id=product["id"],
        name=product.get("name"),
        category=(product.get("metadata") or {}).get("category"),
    )


def price_row(price: dict[str, Any], account: str) -> Price:
    product = price.get("product")
    recurring = price.get("recurring") or {}
    return Price(
        account=account,
        id=price["id"],
        product_id=product.get("id") if isinstance(product, dict) else product,
        type=price.get("type") or ("recurring" if recurring else "one_time"),
        usage_type=recurring.get("usage_type"),
        interval=recurring.get("interval"),
        interval_count=recurring.get("interval_count") or 1,
        unit_amount=price.get("unit_amount"),
        currency=str(price.get("currency") or "").lower(),
    )


def price_info(
    session: Session, stripe: StripeGateway, price_id: str
) -> tuple[Price, Product | None]:
    """The price and its product from the catalog of the gateway's account, fetched from Stripe
    the first time."""
    account = stripe.account
    price = session.get(Price, (account, price_id))
    if price is None:
        fetched = stripe.price(price_id)
        upsert(session, price_row(fetched, account))
        expanded = fetched.get("product")
        if isinstance(expanded, dict):
            upsert(session, product_row(expanded, account), update=False)
        price = session.get_one(Price, (account, price_id))
    product = session.get(Product, (account, price.product_id)) if price.product_id else None
    return price, product


def product_info(session: Session, stripe: StripeGateway, product_id: str) -> Product:
    """The product from the catalog of the gateway's account, fetched from Stripe the first time."""
    product = session.get(Product, (stripe.account, product_id))
    if product is None:
        upsert(session, product_row(stripe.product(product_id), stripe.account))
        product = session.get_one(Product, (stripe.account, product_id))
    return product


def category_of(price: Price | None, product: Product | None) -> str:
    """The spec's line category; a price we cannot see is taken as a one-off add-on."""
    return line_category(
        product.category if product else None,
        recurring=price is not None and price.type == "recurring",
        metered=price is not None and price.usage_type == "metered",
    )


def policy_items(items: list[dict[str, Any]]) -> list[SubscriptionItem]:
    """Stored subscription items as the policy engine classifies a change between them."""
    return [
        SubscriptionItem(
            price_id=item["price_id"],
            category=item["category"],
            unit_amount=item["unit_amount"],
            quantity=item["quantity"],
            interval=item["interval"],
            interval_count=item.get("interval_count", 1),
        )
        for item in items
    ]
