"""Run one stored event through its handler and record the outcome on the event row."""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Callable
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from worker.db.models import Event, EventStatus, PayloadType, StripeCall, utcnow
from worker.db.session import once_more_after_disconnect
from worker.errors import MalformedPayload, RetryableError
from worker.eventlog.stretches import Attempt, run_in_stretches
from worker.eventlog.thin import fetched_object, thin_context
from worker.handlers import HANDLERS, Handler, HandlerContext, handled_type
from worker.handlers.customers import lock_customers_of
from worker.logging import bind_event
from worker.runtime import Runtime
from worker.stripe.gateway import StripeGateway

log = logging.getLogger(__name__)

# Only a `received` event is processed by the task; replay also re-runs the others.
PENDING = (EventStatus.RECEIVED,)
RETRY = "retry"  # a batch's outcome for an event left `received` after a retryable error


def process_event(
    runtime: Runtime,
    event_id: str,
    *,
    last_attempt: bool = True,
    statuses: tuple[str, ...] = PENDING,
    handlers: dict[str, Handler] = HANDLERS,
) -> str:
    """Handle the event in one transaction holding its row lock; return its new status.

    A retryable error leaves the event `received` (the caller retries) unless this is the
    last attempt; any other error parks it as `failed` with its reason, ready to replay.
    Stripe calls made before a failure are audited afterwards, in the failure's transaction.
    """
    sessions = runtime.sessions
    attempts: list[Attempt] = []  # the last try's is the one whose failed calls are audited
    try:
        # A pooled connection dead since a PostgreSQL restart fails the first statement: the
        # pool is invalidated and the event is handled once more (its Stripe keys make it safe).
        return once_more_after_disconnect(
            lambda: _handle(runtime, event_id, statuses, handlers, attempts)
        )
    except (RetryableError, DBAPIError) as exc:
        failed = attempts[-1].failed_calls if attempts else []
        if not last_attempt:
            _record_failure(sessions, event_id, exc, EventStatus.RECEIVED, failed)
            raise RetryableError(str(exc)) from exc
        _record_failure(sessions, event_id, exc, EventStatus.FAILED, failed)
        return EventStatus.FAILED
    except Exception as exc:  # noqa: BLE001 - any other error is final: park it with its reason
        failed = attempts[-1].failed_calls if attempts else []
        _record_failure(sessions, event_id, exc, EventStatus.FAILED, failed)
        return EventStatus.FAILED


def _handle(
    runtime: Runtime,
    event_id: str,
    statuses: tuple[str, ...],
    handlers: dict[str, Handler],
    attempts: list[Attempt],
) -> str:
    """One try: the event's row lock, handler and outcome in one transaction."""
    attempt = Attempt()
    attempts.append(attempt)
    bind_event(event_id)  # every line of this event's work says which event it is
    with runtime.sessions.begin() as session:
        event = session.get(Event, event_id, with_for_update=True)
        if event is None:
            log.error("event %s is not stored", event_id)
            return "missing"
        return _run_locked(session, runtime, event, statuses, handlers, attempt)


def _run_locked(
    session: Session,
    runtime: Runtime,
    event: Event,
    statuses: tuple[str, ...],
    handlers: dict[str, Handler],
    attempt: Attempt,
) -> str:
    if event.status not in statuses:
        refund_request = refund_request_id_in(json.loads(event.payload))
        bind_event(event.id, event.type, event.customer, refund_request)
        return event.status  # already done: a duplicate delivery or a second doorbell
    event.status = run_handler(session, runtime, event, handlers, attempt)
    # Counted with the outcome, in one UPDATE of the row (before the handler, the handler's
    # first query would flush it as an UPDATE of its own); a failure counts its own attempt.
    event.attempts += 1
    event.processed_at = utcnow()
    event.last_error = None
    event.last_traceback = None
    return event.status


def run_handler(
    session: Session,
    runtime: Runtime,
    event: Event,
    handlers: dict[str, Handler],
    attempt: Attempt,
) -> str:
    """The event's handler on its object, if its type has one: `processed`, else `ignored`.
    The caller holds the event's row lock and records the outcome on its row."""
    payload = json.loads(event.payload)  # parsed once: for the log context and the handler
    bind_event(event.id, event.type, event.customer, refund_request_id_in(payload))
    is_thin = event.payload_type == PayloadType.THIN
    handler = handlers.get(handled_type(event.type, is_thin))
    if handler is None:
        return EventStatus.IGNORED
    context = (thin_context if is_thin else _context)(session, event, payload, runtime)
    attempt.stripe = context.stripe  # its failed calls, appended to while it runs
    # A thin event holds no object: its snapshot type's handler gets Stripe's, now.
    obj = fetched_object(context, event) if is_thin else payload_object(event.type, payload)
    handler(context, obj)
    return EventStatus.PROCESSED


def process_events(
    runtime: Runtime,
    event_ids: list[str],
    *,
    statuses: tuple[str, ...] = PENDING,
    handlers: dict[str, Handler] = HANDLERS,
) -> list[str]:
    """Run several events in turn in one transaction, each a final attempt (a replay's): one
    commit (and its WAL flush) for all, their row locks taken in one statement, and the
    catalog checked once (worker/catalog_cache.py).

    The locks are held to the commit, taken in the order given (replay's), and the events run
    in that order, so each customer's events still run in order. An error rolls back that
    event's work only (worker/eventlog/stretches.py), and its failure (reason, failed Stripe
    calls) is written on its row in the same transaction, so the others keep their work and
    their own outcome. Only if the transaction itself is lost (the database gone) is every
    event run again alone by `process_event`: a Stripe call rolled back with it is repeated
    under the same idempotency key, as after a crash between the call and the commit
    (DESIGN.md guarantee 2).
    """
    try:
        return once_more_after_disconnect(
            lambda: _handle_all(runtime, event_ids, statuses, handlers)
        )
    except DBAPIError as exc:
        log.warning("batch of %d events lost (%s): running each alone", len(event_ids), exc)
    return [
        process_event(runtime, event_id, last_attempt=True, statuses=statuses, handlers=handlers)
        for event_id in event_ids
    ]


def _handle_all(
    runtime: Runtime,
    event_ids: list[str],
    statuses: tuple[str, ...],
    handlers: dict[str, Handler],
) -> list[str]:
    with runtime.sessions.begin() as session:
        # Every event's row lock in one statement, in the order given (replay's keyset order),
        # held to the commit; the rows are kept referenced so each event finds its own in the
        # session without a query (its identity map holds rows weakly).
        locked = {
            event.id: event
            for event in session.scalars(
                select(Event)
                .where(Event.id.in_(event_ids))
                .order_by(Event.received_at, Event.id)
                .with_for_update()
            )
        }
        outcomes: dict[str, str] = {}
        to_run: list[Event] = []
        for event_id in event_ids:
            event = locked.get(event_id)
            if event is None:
                log.error("event %s is not stored", event_id)
                outcomes[event_id] = "missing"
            elif event.status not in statuses:
                outcomes[event_id] = _run_locked(  # left as it is
                    session, runtime, event, statuses, handlers, Attempt()
                )
            else:
                to_run.append(event)

        ran = run_locked_batch(session, runtime, to_run, handlers, last_attempt=True)
        return [outcomes.get(event_id) or ran[event_id] for event_id in event_ids]


def run_locked_batch(
    session: Session,
    runtime: Runtime,
    events: list[Event],
    handlers: dict[str, Handler],
    *,
    last_attempt: bool = False,
    on_each: Callable[[], None] = lambda: None,
    until_stripe: bool = False,
) -> dict[str, str]:
    """Run `events`, whose row locks the session holds, in the order given and in stretches;
    record their outcomes in the session's transaction: event id -> a status, or RETRY for an
    event left `received` with its attempt counted after a retryable error (never on the last
    attempt, where every error parks the event). `on_each` is called before each event; with
    `until_stripe`, the events after the first that reached Stripe are left, not run."""

    def run(event: Event, attempt: Attempt) -> str:
        on_each()
        return run_handler(session, runtime, event, handlers, attempt)

    def failed(event: Event, exc: Exception, attempt: Attempt) -> str:
        # As `process_event` sorts errors.
        retry = not last_attempt and isinstance(exc, (RetryableError, DBAPIError))
        log.warning("event %s %s: %s", event.id, RETRY if retry else "failed", _reason(exc))
        status = EventStatus.RECEIVED if retry else EventStatus.FAILED
        _mark(session, event, exc, status, attempt.failed_calls)
        return RETRY if retry else EventStatus.FAILED

    lock_customers_of(session, events)
    outcomes = run_in_stretches(session, events, run, failed, until_stripe=until_stripe)
    record_done(session, done_rows(outcomes))
    return outcomes


def record_done(session: Session, done: list[dict[str, Any]]) -> None:
    """The outcomes of a batch's events that ended `processed` or `ignored`, as `_run_locked`
    records one, in one statement (a pipeline of updates) instead of an UPDATE per event."""
    if done:
        session.execute(_RECORD_DONE, done)


def done_rows(outcomes: dict[str, str]) -> list[dict[str, Any]]:
    """`record_done`'s rows: the events of `outcomes` (id -> status) that ended done."""
    at = utcnow()
    return [
        {"event_id": event_id, "status": status, "at": at}
        for event_id, status in outcomes.items()
        if status in (EventStatus.PROCESSED, EventStatus.IGNORED)
    ]


_RECORD_DONE = (
    update(Event.__table__)
    .where(Event.__table__.c.id == bindparam("event_id"))
    .values(
        status=bindparam("status"),
        attempts=Event.__table__.c.attempts + 1,  # counted with the outcome
        processed_at=bindparam("at"),
        last_error=None,
        last_traceback=None,
    )
)


def refund_request_id_in(payload: dict[str, Any]) -> str | None:
    """The refund-request id our own refunds carry in their metadata, if the event is one."""
    obj = (payload.get("data") or {}).get("object") or {}
    metadata = obj.get("metadata") if isinstance(obj, dict) else None
    value = metadata.get("refund_request_id") if isinstance(metadata, dict) else None
    return value if isinstance(value, str) and value else None


def payload_object(event_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    obj = (payload.get("data") or {}).get("object")
    if not obj:
        raise MalformedPayload(f"{event_type} event has no data.object for its handler")
    return obj


def _context(
    session: Session, event: Event, payload: dict[str, Any], runtime: Runtime
) -> HandlerContext:
    request = payload.get("request")
    return HandlerContext(
        session=session,
        event_id=event.id,
        event_type=event.type,
        event_created=event.created,
        stripe=StripeGateway(
            runtime.stripe, session, event.id, event_id=event.id, account=event.account
        ),
        policy=runtime.policy_for(event.account),
        previous_attributes=(payload.get("data") or {}).get("previous_attributes") or {},
        request_key=request.get("idempotency_key") if isinstance(request, dict) else None,
        account=event.account,
    )


def _record_failure(
    sessions: sessionmaker[Session],
    event_id: str,
    exc: BaseException,
    status: str,
    failed_calls: list[StripeCall],
) -> None:
    """Write the reason in a fresh transaction, since the handler's own was rolled back."""
    log.warning("event %s %s: %s", event_id, status, _reason(exc))
    try:
        with sessions.begin() as session:
            event = session.get(Event, event_id, with_for_update=True)
            if event is None:
                session.add_all(failed_calls)
                return
            _mark(session, event, exc, status, failed_calls)
    except DBAPIError as db_exc:
        # The database itself is down: let the task retry rather than lose the outcome.
        raise RetryableError(f"cannot record failure: {db_exc}") from db_exc


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


def _mark(
    session: Session,
    event: Event,
    exc: BaseException,
    status: str,
    failed_calls: list[StripeCall],
) -> None:
    """The attempt's outcome on the event's row, and the Stripe calls it made that failed."""
    session.add_all(failed_calls)
    event.attempts += 1
    event.status = status
    event.last_error = _reason(exc)
    event.last_traceback = "".join(traceback.format_exception(exc))[-8000:]
