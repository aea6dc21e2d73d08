"""Thin events at processing: the snapshot type's handler, run on the object as Stripe has it now.

A thin event names its object (`related_object`) and holds no state, so there is no stale
snapshot to order: whenever it is processed, the object fetched is the newest state. What a
snapshot event says in `request` (whose API call caused it) a thin one says in `reason.request`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from worker.db.models import Event
from worker.eventlog.intake import customer_of
from worker.handlers import HandlerContext, handled_type
from worker.runtime import Runtime
from worker.stripe.gateway import StripeGateway


def thin_context(
    session: Session, event: Event, payload: dict[str, Any], runtime: Runtime
) -> HandlerContext:
    """The handler's context, as its snapshot type's handler expects it."""
    return HandlerContext(
        session=session,
        event_id=event.id,
        event_type=handled_type(event.type, thin=True),
        event_created=event.created,
        stripe=StripeGateway(
            runtime.stripe,
            session,
            source_id(event.id, payload),
            event_id=event.id,
            account=event.account,  # its `context`: a connected account's calls name it
        ),
        policy=runtime.policy_for(event.account),
        request_key=request_key(payload),
        account=event.account,
    )


def fetched_object(context: HandlerContext, event: Event) -> dict[str, Any]:
    """The event's object read from Stripe now; the event learns its customer from it."""
    obj = context.stripe.related_object(event.payload)
    event.customer = event.customer or customer_of(obj)  # `events list --customer` finds it
    return obj


def request_key(payload: dict[str, Any]) -> str | None:
    """The idempotency key of the API request that caused the event (ours start "bw:")."""
    reason = payload.get("reason")
    request = reason.get("request") if isinstance(reason, dict) else None
    key = request.get("idempotency_key") if isinstance(request, dict) else None
    return key if isinstance(key, str) else None


def source_id(event_id: str, payload: dict[str, Any]) -> str:
    """What the gateway derives its idempotency keys from: the snapshot event this thin one
    mirrors, when Stripe names it (`snapshot_event`, while both kinds are sent during a move to
    thin events), so the two deliveries of one change cause each Stripe effect once."""
    twin = payload.get("snapshot_event")
    return twin if isinstance(twin, str) and twin else event_id
