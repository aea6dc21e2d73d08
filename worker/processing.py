"""Run one stored event through its handler and record the outcome on the event row."""

from __future__ import annotations

import json
import logging
import traceback

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from worker.db.models import Event, EventStatus, utcnow
from worker.errors import RetryableError
from worker.handlers import HANDLERS, Handler, HandlerContext

log = logging.getLogger(__name__)

# Only a `received` event is processed by the task; replay also re-runs the others.
PENDING = (EventStatus.RECEIVED,)


def process_event(
    sessions: sessionmaker[Session],
    event_id: str,
    *,
    last_attempt: bool = True,
    statuses: tuple[str, ...] = PENDING,
    handlers: dict[str, Handler] = HANDLERS,
) -> str:
    """Handle the event in one transaction holding its row lock; return its new status.

    A retryable error leaves the event `received` (the caller retries) unless this is the
    last attempt; any other error parks it as `failed` with its reason, ready to replay.
    """
    try:
        with sessions.begin() as session:
            event = session.get(Event, event_id, with_for_update=True)
            if event is None:
                log.error("event %s is not stored", event_id)
                return "missing"
            if event.status not in statuses:
                return event.status  # already done: a duplicate delivery or a second doorbell
            event.attempts += 1
            handler = handlers.get(event.type)
            if handler is None:
                event.status = EventStatus.IGNORED
            else:
                data = json.loads(event.payload)["data"]["object"]
                handler(HandlerContext(session, event.id, event.type), data)
                event.status = EventStatus.PROCESSED
            event.processed_at = utcnow()
            event.last_error = None
            event.last_traceback = None
            return event.status
    except (RetryableError, DBAPIError) as exc:
        if not last_attempt:
            _record_failure(sessions, event_id, exc, EventStatus.RECEIVED)
            raise RetryableError(str(exc)) from exc
        _record_failure(sessions, event_id, exc, EventStatus.FAILED)
        return EventStatus.FAILED
    except Exception as exc:  # noqa: BLE001 - any other error is final: park it with its reason
        _record_failure(sessions, event_id, exc, EventStatus.FAILED)
        return EventStatus.FAILED


def _record_failure(
    sessions: sessionmaker[Session], event_id: str, exc: BaseException, status: str
) -> None:
    """Write the reason in a fresh transaction, since the handler's own was rolled back."""
    reason = f"{type(exc).__name__}: {exc}"[:2000]
    log.warning("event %s %s: %s", event_id, status, reason)
    try:
        with sessions.begin() as session:
            event = session.get(Event, event_id, with_for_update=True)
            if event is None:
                return
            event.attempts += 1
            event.status = status
            event.last_error = reason
            event.last_traceback = "".join(traceback.format_exception(exc))[-8000:]
    except DBAPIError as db_exc:
        # The database itself is down: let the task retry rather than lose the outcome.
        raise RetryableError(f"cannot record failure: {db_exc}") from db_exc
