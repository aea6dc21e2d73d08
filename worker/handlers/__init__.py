"""Event handlers by Stripe event type: the registry the task dispatches through."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from worker.handlers import invoices


@dataclass(frozen=True)
class HandlerContext:
    """What a handler may use: the session of its unit of work, and the event being handled."""

    session: Session
    event_id: str
    event_type: str


Handler = Callable[[HandlerContext, dict[str, Any]], None]

# An explicit table, so a reader sees every event type the worker acts on in one place.
HANDLERS: dict[str, Handler] = {
    "invoice.paid": invoices.record_invoice_paid,
}
