"""Database tables: the event log (source of truth for intake) and what handlers record."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC and always hands back an aware UTC datetime (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: the worker stores UTC only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


# The `account` of the platform's own events and objects. A connected account's is its `acct_…`
# id. Not NULL: the account is part of composite primary keys, where NULL never equals NULL.
PLATFORM = ""


def account_column() -> Mapped[str]:
    """The Stripe account a row belongs to, first in its table's key: `(account, id)`, so two
    accounts' objects of the same id never mix (ids are Stripe's, unique within one account)."""
    return mapped_column(String(255), primary_key=True, default=PLATFORM, server_default="")


class PayloadType(StrEnum):
    """How Stripe sent the event (an event destination's `event_payload`)."""

    SNAPSHOT = "snapshot"  # `object: "event"`: the object as it was, in `data.object`
    THIN = "thin"  # `object: "v2.core.event"`: names the object; its state is fetched


# Stripe's thin events for v1 objects are named as the snapshot types with `v1.` in front
# (`v1.invoice.paid`); processing fetches the object (worker/eventlog/thin.py), so the snapshot
# type's handler serves both.
THIN_PREFIX = "v1."


class EventStatus(StrEnum):
    RECEIVED = "received"
    PROCESSED = "processed"
    IGNORED = "ignored"
    FAILED = "failed"


# Every status an event can have, in the lifecycle's order: the filters of every ops surface.
EVENT_STATUSES: tuple[str, ...] = tuple(status.value for status in EventStatus)


class Event(Base):
    """One Stripe event as delivered, committed before the receiver answers 2xx."""

    __tablename__ = "events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)  # Stripe's evt_… id
    type: Mapped[str] = mapped_column(String(255))
    created: Mapped[datetime] = mapped_column(UTCDateTime())
    livemode: Mapped[bool] = mapped_column(Boolean)
    # `event.account`: the connected account it happened on; PLATFORM for the platform's own.
    account: Mapped[str] = mapped_column(String(255), default=PLATFORM, server_default="")
    api_version: Mapped[str | None] = mapped_column(String(64))
    customer: Mapped[str | None] = mapped_column(String(255), index=True)
    payload: Mapped[str] = mapped_column(Text)  # the raw body, byte for byte as signed
    payload_type: Mapped[str] = mapped_column(
        String(16), default=PayloadType.SNAPSHOT, server_default=PayloadType.SNAPSHOT
    )
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16), default=EventStatus.RECEIVED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_traceback: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_events_status_received_at", "status", "received_at"),
        Index("ix_events_type", "type"),
    )


class AccountStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    TERMINATED = "terminated"


class Customer(Base):
    """A Stripe customer we know; its row is the per-customer lock every handler takes."""

    __tablename__ = "customers"

    account: Mapped[str] = account_column()
    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    account_status: Mapped[str] = mapped_column(String(16), default=AccountStatus.ACTIVE)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Product(Base):
    """A product and its metadata `category` (plan, addon, usage, pass_through), if set."""

    __tablename__ = "products"

    account: Mapped[str] = account_column()
    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(255))
    category: Mapped[str | None] = mapped_column(String(32))


class Price(Base):
    """The catalog facts a line's category fallback and a plan's daily rate come from."""

    __tablename__ = "prices"

    account: Mapped[str] = account_column()
    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    product_id: Mapped[str | None] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(16))  # recurring | one_time
    usage_type: Mapped[str | None] = mapped_column(String(16))  # licensed | metered
    interval: Mapped[str | None] = mapped_column(String(8))
    interval_count: Mapped[int] = mapped_column(Integer, default=1)
    unit_amount: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))


class Invoice(Base):
    """A Stripe invoice and its payment: what a refund is decided on and issued against."""

    __tablename__ = "invoices"

    account: Mapped[str] = account_column()
    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    customer: Mapped[str] = mapped_column(String(255), index=True)
    number: Mapped[str | None] = mapped_column(String(255), index=True)
    status: Mapped[str] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(3))
    amount_paid: Mapped[int] = mapped_column(BigInteger)
    # What Stripe last reported refunded on the charge (charge.refunded); refunds rows add up too.
    amount_refunded_reported: Mapped[int] = mapped_column(BigInteger, default=0)
    # event.created of that report, or of the refund failure that re-read the charge: a late
    # charge.refunded from before a failure must not count the failed refund again.
    refunded_reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    billing_reason: Mapped[str | None] = mapped_column(String(64))
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    subscription_id: Mapped[str | None] = mapped_column(String(255))
    payment_intent_id: Mapped[str | None] = mapped_column(String(255), index=True)
    charge_id: Mapped[str | None] = mapped_column(String(255), index=True)
    customer_email: Mapped[str | None] = mapped_column(String(320))
    state_created: Mapped[datetime] = mapped_column(UTCDateTime())  # event.created of this state
    event_id: Mapped[str] = mapped_column(String(255))


class InvoiceLine(Base):
    __tablename__ = "invoice_lines"

    account: Mapped[str] = account_column()
    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    invoice_id: Mapped[str] = mapped_column(String(255), index=True)
    position: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(32))
    amount: Mapped[int] = mapped_column(BigInteger)
    interval: Mapped[str | None] = mapped_column(String(8))
    period_start: Mapped[datetime] = mapped_column(UTCDateTime())
    period_end: Mapped[datetime] = mapped_column(UTCDateTime())
    price_id: Mapped[str | None] = mapped_column(String(255))
    quantity: Mapped[int | None] = mapped_column(Integer)
    consumed: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str | None] = mapped_column(Text)


class Refund(Base):
    """Every refund on a payment we know of: ours, and those made by hand in the Dashboard."""

    __tablename__ = "refunds"

    account: Mapped[str] = account_column()
    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    charge_id: Mapped[str | None] = mapped_column(String(255), index=True)
    payment_intent_id: Mapped[str | None] = mapped_column(String(255), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(32))
    request_id: Mapped[str | None] = mapped_column(String(64))  # ours, else a manual refund
    created: Mapped[datetime] = mapped_column(UTCDateTime())
    # event.created of the stored state (None: recorded from our own create call, the weakest);
    # with the status order it keeps a late `refund.created` from undoing a `refund.failed`.
    state_created: Mapped[datetime | None] = mapped_column(UTCDateTime())
    failure_reason: Mapped[str | None] = mapped_column(String(64))


class RefundRequestStatus(StrEnum):
    REVIEW = "review"  # waiting for a person (refunds approve / reject)
    APPROVED = "approved"  # decided; the refund is being issued
    REFUNDED = "refunded"
    DENIED = "denied"
    REJECTED = "rejected"  # a reviewer said no
    FAILED = "failed"  # Stripe refused the refund
    # Stripe accepted the refund, then it failed or was canceled (refund.failed): the money
    # never went back; `refunds approve` tries again with a new idempotency key.
    REFUND_FAILED = "refund_failed"


REFUND_REQUEST_STATUSES: tuple[str, ...] = tuple(status.value for status in RefundRequestStatus)


class RefundRequest(Base):
    __tablename__ = "refund_requests"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # ours: unique everywhere
    # The account of the customer and invoice it names; its refund is made on that account.
    account: Mapped[str] = mapped_column(String(255), default=PLATFORM, server_default="")
    customer: Mapped[str] = mapped_column(String(255), index=True)
    invoice_id: Mapped[str] = mapped_column(String(255), index=True)
    reason: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    line_ids: Mapped[list[str] | None] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16), index=True)
    outcome: Mapped[str] = mapped_column(String(16))
    proposed_amount: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int | None] = mapped_column(BigInteger)  # what was (or will be) refunded
    currency: Mapped[str] = mapped_column(String(3))
    policy: Mapped[str] = mapped_column(String(64))
    policy_version: Mapped[str | None] = mapped_column(String(32))
    clauses: Mapped[list[str]] = mapped_column(JSON)
    decision: Mapped[dict[str, Any]] = mapped_column(JSON)
    decided_by: Mapped[str | None] = mapped_column(String(255))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_note: Mapped[str | None] = mapped_column(Text)
    refund_id: Mapped[str | None] = mapped_column(String(255))
    error: Mapped[str | None] = mapped_column(Text)
    # Which refund this is: each attempt after a failed refund has its own idempotency key.
    refund_attempt: Mapped[int] = mapped_column(Integer, default=1, server_default="1")


class Subscription(Base):
    """The newest subscription state we have seen (by event.created); older states are ignored."""

    __tablename__ = "subscriptions"

    account: Mapped[str] = account_column()
    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    customer: Mapped[str] = mapped_column(String(255), index=True)
    status: Mapped[str] = mapped_column(String(32))
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, default=False)
    current_period_start: Mapped[datetime | None] = mapped_column(UTCDateTime())
    current_period_end: Mapped[datetime | None] = mapped_column(UTCDateTime())
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    pause_collection: Mapped[str | None] = mapped_column(String(32))
    state_created: Mapped[datetime] = mapped_column(UTCDateTime())
    event_id: Mapped[str] = mapped_column(String(255))


class Dispute(Base):
    __tablename__ = "disputes"

    account: Mapped[str] = account_column()
    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    charge_id: Mapped[str | None] = mapped_column(String(255), index=True)
    payment_intent_id: Mapped[str | None] = mapped_column(String(255), index=True)
    customer: Mapped[str | None] = mapped_column(String(255), index=True)
    reason: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(64))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    # suspend | reinstate | terminate | record, and the clause that decided it
    action: Mapped[str | None] = mapped_column(String(16))
    clause: Mapped[str | None] = mapped_column(String(32))
    funds_withdrawn: Mapped[bool] = mapped_column(Boolean, default=False)
    state_created: Mapped[datetime] = mapped_column(UTCDateTime())
    # Stripe reported it lost at some point (an appeal may reopen it): M6 termination is final.
    lost: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")


class StripeCall(Base):
    """The audit trail of every mutating Stripe call, and our own guard against doing it twice."""

    __tablename__ = "stripe_calls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    method: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[str | None] = mapped_column(String(255))
    idempotency_key: Mapped[str] = mapped_column(String(255), index=True)
    outcome: Mapped[str] = mapped_column(String(16))  # ok | error
    result_id: Mapped[str | None] = mapped_column(String(255))
    error: Mapped[str | None] = mapped_column(Text)
    event_id: Mapped[str | None] = mapped_column(String(255), index=True)
    request_id: Mapped[str | None] = mapped_column(String(64), index=True)


class ConsoleSession(Base):
    """One ops console sign-in, held by the server so that logging out, or a new ops token,
    ends it for every copy of its cookie (the cookie itself carries only the session's id)."""

    __tablename__ = "console_sessions"

    # SHA-256 of the id in the cookie: a copy of this table signs nobody in.
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    operator: Mapped[str] = mapped_column(String(80))
    # Which ops token signed it in (an HMAC of it, never the token): another token ends it.
    token_fingerprint: Mapped[str] = mapped_column(String(64))
    signed_in_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AuthFailures(Base):
    """Wrong ops tokens from one client address, and until when that client must wait."""

    __tablename__ = "auth_failures"

    client: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime())
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
