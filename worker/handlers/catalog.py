"""Products and prices: where a line's category and a plan's daily rate come from.

Kept current by `product.*` and `price.*` events; anything missing is fetched from Stripe once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from worker.db.models import Price, Product
from worker.db.upsert import upsert
from worker.policy import line_category

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from worker.handlers import HandlerContext
    from worker.stripe_gateway import StripeGateway


def record_product(ctx: HandlerContext, product: dict[str, Any]) -> None:
    """`product.created` / `product.updated`: its metadata `category` decides line categories."""
    upsert(ctx.session, product_row(product))


def record_price(ctx: HandlerContext, price: dict[str, Any]) -> None:
    """`price.created` / `price.updated` (the product may be an id or expanded)."""
    upsert(ctx.session, price_row(price))
    product = price.get("product")
    if isinstance(product, dict):
        upsert(ctx.session, product_row(product))


def product_row(product: dict[str, Any]) -> Product:
    return Product(
        id=product["id"],
        name=product.get("name"),
        category=(product.get("metadata") or {}).get("category"),
    )


def price_row(price: dict[str, Any]) -> Price:
    product = price.get("product")
    recurring = price.get("recurring") or {}
    return Price(
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
    """The price and its product from our catalog, fetched from Stripe the first time."""
    price = session.get(Price, price_id)
    if price is None:
        fetched = stripe.price(price_id)
        upsert(session, price_row(fetched))
        expanded = fetched.get("product")
        if isinstance(expanded, dict):
            upsert(session, product_row(expanded), update=False)
        price = session.get_one(Price, price_id)
    product = session.get(Product, price.product_id) if price.product_id else None
    return price, product


def product_info(ctx: HandlerContext, product_id: str) -> Product:
    """The product from our catalog, fetched from Stripe the first time."""
    product = ctx.session.get(Product, product_id)
    if product is None:
        upsert(ctx.session, product_row(ctx.stripe.product(product_id)))
        product = ctx.session.get_one(Product, product_id)
    return product


def category_of(price: Price | None, product: Product | None) -> str:
    """The spec's line category; a price we cannot see is taken as a one-off add-on."""
    return line_category(
        product.category if product else None,
        recurring=price is not None and price.type == "recurring",
        metered=price is not None and price.usage_type == "metered",
    )
