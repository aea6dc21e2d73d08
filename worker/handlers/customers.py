"""Customers: the per-customer lock, and the email a refund request may name.

A batch of events takes its customers' locks up front, in one statement (`lock_customers`):
a handler then finds its customer locked already, instead of a statement of its own each.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Select, select, tuple_
from sqlalchemy.orm import Session

from worker.db.models import AccountStatus, Customer, Event
from worker.db.upsert import insert_for
from worker.errors import UnknownCustomer

if TYPE_CHECKING:
    from worker.handlers import HandlerContext


def lock_customer(ctx: HandlerContext, customer_id: str, email: str | None = None) -> Customer:
    """Take the customer's row lock for this transaction, learning the customer once: from the
    payload when it names the account email (an invoice does), else from Stripe.

    Handlers for one customer never run at the same time: the lock is `SELECT … FOR UPDATE`
    on PostgreSQL (across processes and hosts); SQLite serialises every write transaction.
    """
    locked: dict[tuple[str, str], Customer] = ctx.session.info.get(_LOCKED, {})
    customer = locked.get((ctx.account, customer_id))
    if customer is None:
        customer = ctx.session.scalar(locked_customer(ctx, customer_id))
    if customer is not None:
        return customer
    if email is None:
        found = ctx.stripe.customer(customer_id)
        if found is None or found.get("deleted"):
            raise UnknownCustomer(
                f"unknown customer {customer_id}: not in our records and Stripe has no such one"
            )
        email = found.get("email")
    _insert_if_missing(ctx, customer_id, email)
    return ctx.session.scalars(locked_customer(ctx, customer_id)).one()


_LOCKED = "locked_customers"  # session.info: (account, id) -> a customer locked up front


def lock_customers_of(session: Session, events: Iterable[Event]) -> None:
    """Take the row locks of the stored customers the events name, in one statement held to
    the commit, in a stable order (two batches never wait on each other crosswise)."""
    wanted = sorted({(event.account, event.customer) for event in events if event.customer})
    if not wanted:
        return
    rows = session.scalars(
        select(Customer)
        .where(tuple_(Customer.account, Customer.id).in_(wanted))
        .order_by(Customer.account, Customer.id)
        .with_for_update()
    ).all()
    session.info[_LOCKED] = {(row.account, row.id): row for row in rows}


def locked_customer(ctx: HandlerContext, customer_id: str | ColumnElement[str]) -> Select[Customer]:
    """The statement that reads the customer of this event's account and takes its row lock:
    the lock is per (account, customer)."""
    return (
        select(Customer)
        .where(Customer.account == ctx.account, Customer.id == customer_id)
        .with_for_update()
    )


def _insert_if_missing(ctx: HandlerContext, customer_id: str, email: str | None) -> None:
    # Two workers may meet the same new customer at once: the second insert is a no-op.
    ctx.session.execute(
        insert_for(ctx.session, Customer)
        .values(
            account=ctx.account, id=customer_id, email=email, account_status=AccountStatus.ACTIVE
        )
        .on_conflict_do_nothing(index_elements=["account", "id"])
    )


def record_customer(ctx: HandlerContext, customer: dict[str, Any]) -> None:
    """`customer.created` / `customer.updated`: keep the email a refund request may name."""
    _insert_if_missing(ctx, customer["id"], customer.get("email"))
    row = ctx.session.scalars(locked_customer(ctx, customer["id"])).one()
    row.email = customer.get("email") or row.email
