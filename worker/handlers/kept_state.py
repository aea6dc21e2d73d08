"""The newest state of an object a handler keeps (an invoice, a subscription), written over the
row it read under its customer's lock."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy.orm import Session

from worker.db.models import Invoice, Subscription

Kept = TypeVar("Kept", Invoice, Subscription)


def keep(session: Session, stored: Kept | None, state: Kept) -> None:
    """`state` over `stored`, the row the handler read (None: not stored yet).

    `session.merge` would read a missing row again before inserting it: the handler's own read,
    under the customer's lock, already said it is missing, so it is inserted as it is.
    """
    if stored is None:
        session.add(state)
    else:
        session.merge(state)  # `stored` is in the session: no read, one UPDATE of what changed
