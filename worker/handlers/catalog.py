"""`product.*` and `price.*` events: keep our catalog (worker/catalog.py) current."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from worker.catalog import price_row, product_row
from worker.catalog_cache import catalog_changed
from worker.db.upsert import upsert

if TYPE_CHECKING:
    from worker.handlers import HandlerContext


def record_product(ctx: HandlerContext, product: dict[str, Any]) -> None:
    """`product.created` / `product.updated`: its metadata `category` decides line categories."""
    catalog_changed(ctx.session)
    upsert(ctx.session, product_row(product, ctx.account))


def record_price(ctx: HandlerContext, price: dict[str, Any]) -> None:
    """`price.created` / `price.updated` (the product may be an id or expanded)."""
    catalog_changed(ctx.session)
    upsert(ctx.session, price_row(price, ctx.account))
    product = price.get("product")
    if isinstance(product, dict):
        upsert(ctx.session, product_row(product, ctx.account))
