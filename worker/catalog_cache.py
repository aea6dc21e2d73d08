"""A process's copy of the catalog rows handlers read for every invoice line and subscription item
(prices, products): two SELECTs per line, and an upsert per item, for rows that rarely change.

Correct across processes: every catalog change reaches us as a `product.*` or `price.*` event,
and processing one counts an attempt on its row in the same transaction as the change. So the
count of catalog events and the sum of their attempts (the stamp) changes whenever the catalog
may have, and a transaction's first look at the cache compares it (one indexed query on the
event log): a different stamp empties the cache. A catalog handler in this transaction marks
the cache unusable until it commits. Rows are kept only once read back from the database and
published when their transaction commits (a rolled-back one may have written them).

Prices are cached with every field we store: Stripe never changes a price's product, type,
recurrence, amount or currency after it is created, so a payload's copy equal to the stored row
needs no upsert (one that differs is upserted, and kept as written). Products fetched from
Stripe on a miss are inserted only if missing, which never changes a cached one.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from worker.db.models import THIN_PREFIX, Event, Price, Product

Row = TypeVar("Row", Price, Product)

_CATALOG_TYPES = ("product.created", "product.updated", "price.created", "price.updated")
# A thin catalog event (`v1.product.updated`) changes the catalog as its snapshot twin does.
CATALOG_EVENTS = _CATALOG_TYPES + tuple(THIN_PREFIX + name for name in _CATALOG_TYPES)
_INFO = "catalog_cache"  # the session's view of the cache, in `session.info`


@dataclass
class _Cache:
    stamp: tuple[int, int] | None = None
    # Transient rows, read, never added; by (account, id), as the tables are keyed (Connect).
    prices: dict[tuple[str, str], Price] = field(default_factory=dict)
    products: dict[tuple[str, str], Product] = field(default_factory=dict)


@dataclass
class _SessionView:
    """One transaction's use of the cache: checked once, and what it read, to publish."""

    cache: _Cache
    usable: bool
    stamp: tuple[int, int] | None
    prices: dict[tuple[str, str], Price] = field(default_factory=dict)
    products: dict[tuple[str, str], Product] = field(default_factory=dict)


_caches: dict[str, _Cache] = {}  # by database URL: a test process meets many databases
_lock = threading.Lock()  # a Celery thread pool may share the process


def cached_price(session: Session, account: str, price_id: str) -> Price | None:
    """`account`'s price, from the cache or the database (then kept); None if not stored."""
    view = _view(session)
    return _cached(session, Price, view.usable, view.cache.prices, view.prices, (account, price_id))


def cached_product(session: Session, account: str, product_id: str) -> Product | None:
    """`account`'s product, from the cache or the database (then kept); None if not stored."""
    view = _view(session)
    return _cached(
        session, Product, view.usable, view.cache.products, view.products, (account, product_id)
    )


def _cached(
    session: Session,
    model: type[Row],
    usable: bool,
    shared: dict[tuple[str, str], Row],
    read: dict[tuple[str, str], Row],
    key: tuple[str, str],
) -> Row | None:
    """The process's copy if the cache is usable, else this transaction's, else the database's
    (kept for this transaction, published if it commits)."""
    if usable and key in shared:
        return shared[key]
    found = read.get(key)
    if found is None:
        row = session.get(model, key)
        if row is None:
            return None
        found = read[key] = _copy(row)
    return found


def same_row(stored: Price, seen: Price) -> bool:
    return _values(stored) == _values(seen)


def written(session: Session, price: Price) -> None:
    """This transaction upserted `price`: its copy is what to publish if it commits."""
    _view(session).prices[(price.account, price.id)] = _copy(price)


def catalog_changed(session: Session) -> None:
    """A catalog handler wrote in this transaction: read the database until it commits."""
    view = _view(session)
    view.usable = False
    view.stamp = None  # the next transaction compares the stamp again
    view.prices.clear()
    view.products.clear()


def _view(session: Session) -> _SessionView:
    view: _SessionView | None = session.info.get(_INFO)
    if view is None:
        url = session.get_bind().engine.url.render_as_string(hide_password=False)
        with _lock:
            cache = _caches.setdefault(url, _Cache())
        stamp = _stamp(session)
        view = _SessionView(cache, usable=stamp == cache.stamp, stamp=stamp)
        session.info[_INFO] = view
    return view


def _stamp(session: Session) -> tuple[int, int]:
    count, attempts = session.execute(
        select(func.count(), func.coalesce(func.sum(Event.attempts), 0)).where(
            Event.type.in_(CATALOG_EVENTS)
        )
    ).one()
    return int(count), int(attempts)


def _copy(row: Any) -> Any:
    """A transient copy of a persistent row, safe to share once its session is gone."""
    return type(row)(**_values(row))


def _values(row: Any) -> dict[str, Any]:
    return {attr.key: getattr(row, attr.key) for attr in row.__mapper__.column_attrs}


@event.listens_for(Session, "after_commit")
def _publish(session: Session) -> None:
    view: _SessionView | None = session.info.get(_INFO)
    if view is None or view.stamp is None or session.in_nested_transaction():
        return  # a savepoint released: its rows are published with the whole transaction
    with _lock:
        cache = view.cache
        if cache.stamp != view.stamp:
            cache.prices.clear()
            cache.products.clear()
            cache.stamp = view.stamp
        cache.prices.update(view.prices)
        cache.products.update(view.products)


@event.listens_for(Session, "after_soft_rollback")
def _discard(session: Session, _previous: Any) -> None:
    # Any rollback, a savepoint's too, may have undone a row read back after its write.
    view: _SessionView | None = session.info.get(_INFO)
    if view is not None:
        view.prices.clear()
        view.products.clear()


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction: Any) -> None:
    if transaction.parent is None:  # the session's next transaction compares the stamp again
        session.info.pop(_INFO, None)
