"""Products and prices: where a line's category and a plan's daily rate come from.

Kept current by `product.*` and `price.*` events (worker/handlers/catalog.py); anything missing is
fetched from Stripe once. Handlers and commands both read it, so neither imports the other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from worker.catalog_cache import cached_price, cached_product, same_row, written
from worker.db.models import Price, Product
from worker.db.upsert import upsert
from worker.policy import SubscriptionItem, line_category

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from worker.stripe.gateway import StripeGateway


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
    the first time. Read-only rows (worker/catalog_cache.py): the process keeps them between
    transactions."""
    account = stripe.account
    price = cached_price(session, account, price_id)
    if price is None:
        fetched = stripe.price(price_id)
        upsert(session, price_row(fetched, account))
        expanded = fetched.get("product")
        if isinstance(expanded, dict):
            upsert(session, product_row(expanded, account), update=False)
        price = cached_price(session, account, price_id)
        assert price is not None  # just written
    product = cached_product(session, account, price.product_id) if price.product_id else None
    return price, product


def product_info(session: Session, stripe: StripeGateway, product_id: str) -> Product:
    """The product from the catalog of the gateway's account, fetched from Stripe the first time
    (read-only, cached)."""
    product = cached_product(session, stripe.account, product_id)
    if product is None:
        upsert(session, product_row(stripe.product(product_id), stripe.account))
        product = cached_product(session, stripe.account, product_id)
        assert product is not None  # just written
    return product


def keep_price(session: Session, price: Price) -> None:
    """Store a price as a payload shows it, unless that very row is stored already: the upsert
    would change nothing, yet lock the price's row to the end of the transaction."""
    stored = cached_price(session, price.account, price.id)
    if stored is None or not same_row(stored, price):
        upsert(session, price)
        written(session, price)


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
