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


class EventStatus(StrEnum):
    RECEIVED = "received"
    PROCESSED = "processed"
    IGNORED = "ignored"
    FAILED = "failed"


class Event(Base):
    """One Stripe event as delivered, committed before the receiver answers 2xx."""

    __tablename__ = "events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)  # Stripe's evt_… id
    type: Mapped[str] = mapped_column(String(255))
    created: Mapped[datetime] = mapped_column(UTCDateTime())
    livemode: Mapped[bool] = mapped_column(Boolean)
    account: Mapped[str | None] = mapped_column(String(255))
    api_version: Mapped[str | None] = mapped_column(String(64))
    customer: Mapped[str | None] = mapped_column(String(255), index=True)
    payload: Mapped[str] = mapped_column(Text)  # the raw body, byte for byte as signed
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


class InvoicePayment(Base):
    """A paid invoice as `invoice.paid` reported it: what the policy engine decides refunds on."""

    __tablename__ = "invoice_payments"

    invoice_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    customer: Mapped[str] = mapped_column(String(255), index=True)
    number: Mapped[str | None] = mapped_column(String(255), index=True)
    amount_paid: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    paid_at: Mapped[datetime] = mapped_column(UTCDateTime())
    billing_reason: Mapped[str | None] = mapped_column(String(64))
    event_id: Mapped[str] = mapped_column(String(255))
    raw: Mapped[dict[str, Any]] = mapped_column(JSON)
