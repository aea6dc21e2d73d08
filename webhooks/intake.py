"""POST /webhooks/stripe: verify, commit, then ring the bell. No business rules here."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import structlog
from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import DBAPIError

from webhooks.current import current_runtime, group_intake, webhook_secrets
from webhooks.signature import SignatureInvalid, endpoint_mismatch, verify_signature
from worker import metrics
from worker.db.models import PayloadType
from worker.eventlog.intake import MalformedEvent, parse_event

log = structlog.get_logger(__name__)
bp = Blueprint("intake", __name__)

# The type label of a delivery refused before its body could be trusted or read as an event.
UNVERIFIED = "unverified"
UNKNOWN = "unknown"
# The two acknowledgements, written as jsonify writes them but once: jsonify took 20 µs of each
# delivery's CPU to serialise the same bytes again.
_ACKNOWLEDGED = {
    duplicate: json.dumps({"duplicate": duplicate, "received": True}, separators=(",", ":")) + "\n"
    for duplicate in (False, True)
}


def count_too_large() -> None:
    """A delivery over WEBHOOK_MAX_BODY_BYTES (413): refused unread, so its type is unknown."""
    metrics.record_received(UNVERIFIED, "too_large")


def refuse(status: int, reason: str) -> ResponseReturnValue:
    return jsonify(error=reason), status


@bp.post("/webhooks/stripe")
def receive_stripe_event() -> ResponseReturnValue:
    started = time.perf_counter()
    try:
        return _receive()
    finally:
        metrics.INTAKE_SECONDS.observe(time.perf_counter() - started)


def _receive() -> ResponseReturnValue:
    runtime = current_runtime()
    settings = runtime.settings
    body = request.get_data(cache=False)  # raw bytes: the signature covers them exactly
    connect_secrets = settings.stripe_connect_webhook_secrets
    try:
        signer = verify_signature(
            body,
            request.headers.get("Stripe-Signature"),
            [*webhook_secrets(), *connect_secrets],
            settings.webhook_tolerance_seconds,
        )
    except SignatureInvalid as exc:
        metrics.record_signature_failure(exc.reason)
        metrics.record_received(UNVERIFIED, "refused")
        log.info("webhook refused", reason=str(exc))
        return refuse(400, str(exc))
    try:
        event = parse_event(body.decode("utf-8"))
    except MalformedEvent as exc:
        metrics.record_received(UNKNOWN, "refused")
        log.info("webhook refused", reason=str(exc))
        return refuse(400, str(exc))
    # Bound to this delivery's lines only, not the thread's context: this thread may commit and
    # log for a whole group of deliveries (worker/eventlog/group_intake.py).
    elog = log.bind(event_id=event.id, event_type=event.type, customer=event.customer)
    # A v1 webhook endpoint is either an account or a Connect endpoint, so a snapshot event
    # signed with the other kind's secret means swapped settings: said, but stored all the same.
    # Its `account` is signed, so it is acted on for the right account; and an event destination
    # may send both kinds under one secret (its `events_from`), so refusing could lose events.
    thin = event.payload_type == PayloadType.THIN
    mismatch = None if thin else endpoint_mismatch(event.account, signer in connect_secrets)
    if mismatch is not None:
        elog.warning("webhook endpoint mismatch", reason=mismatch, account=event.account)
    if settings.accept_livemode != "any" and event.livemode != (settings.accept_livemode == "live"):
        metrics.record_received(event.type, "refused")
        elog.info(
            "webhook refused",
            reason=f"{_mode(event.livemode)} event at a {settings.accept_livemode} endpoint",
        )
        return refuse(400, f"{_mode(event.livemode)} event refused by this endpoint")
    try:
        stored = group_intake().store(event)  # committed, with those arriving with it
    except DBAPIError as exc:
        metrics.record_received(event.type, "unavailable")
        elog.error("webhook not stored, database unavailable", error=type(exc).__name__)
        return refuse(503, "database unavailable, retry later")
    metrics.record_received(event.type, "duplicate" if stored.duplicate else "stored")
    elog.info("webhook stored", duplicate=stored.duplicate, status=str(stored.status))
    if stored.needs_enqueue and not stored.rung:
        ring(runtime.enqueue, stored.event_id, elog)
    return current_app.response_class(_ACKNOWLEDGED[stored.duplicate], mimetype="application/json")


def ring(
    enqueue: Callable[[str], None], event_id: str, elog: structlog.typing.FilteringBoundLogger = log
) -> None:
    """Queue the event; if the broker is down the event is safe and the sweeper queues it later."""
    try:
        enqueue(event_id)
    except Exception as exc:  # noqa: BLE001 - any broker failure: stored is what matters
        elog.warning(
            "event stored but not queued; the sweeper will retry",
            event_id=event_id,
            error=type(exc).__name__,
        )


def _mode(livemode: bool) -> str:
    return "live-mode" if livemode else "test-mode"
