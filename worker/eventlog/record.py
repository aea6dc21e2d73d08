"""A stored event as the ops surfaces print it (`events list|show --format json`, /ops/events)."""

from __future__ import annotations

from typing import Any

from worker.db.models import Event


def event_record(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "type": event.type,
        "status": event.status,
        "attempts": event.attempts,
        "customer": event.customer,
        "created": event.created.isoformat(),
        "received_at": event.received_at.isoformat(),
        "processed_at": event.processed_at.isoformat() if event.processed_at else None,
        "last_error": event.last_error,
        "payload_type": event.payload_type,  # snapshot, or thin: its object read from Stripe
    }
