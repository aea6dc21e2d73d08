"""POST /webhooks/stripe: verify, commit, then ring the bell. No business rules here."""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import DBAPIError

from webhooks.signature import SignatureInvalid, verify_signature
from worker.intake import MalformedEvent, parse_event, store_event

log = logging.getLogger(__name__)
bp = Blueprint("intake", __name__)


def refuse(status: int, reason: str) -> ResponseReturnValue:
    return jsonify(error=reason), status


@bp.post("/webhooks/stripe")
def receive_stripe_event() -> ResponseReturnValue:
    wiring = current_app.extensions["billing"]
    settings = wiring.settings
    body = request.get_data(cache=False)  # raw bytes: the signature covers them exactly
    try:
        verify_signature(
            body,
            request.headers.get("Stripe-Signature"),
            wiring.webhook_secrets,
            settings.webhook_tolerance_seconds,
        )
        event = parse_event(body.decode("utf-8"))
    except (SignatureInvalid, MalformedEvent) as exc:
        log.info("webhook refused: %s", exc)
        return refuse(400, str(exc))
    if settings.accept_livemode != "any" and event.livemode != (settings.accept_livemode == "live"):
        log.info(
            "webhook refused: %s event at a %s endpoint",
            _mode(event.livemode),
            settings.accept_livemode,
        )
        return refuse(400, f"{_mode(event.livemode)} event refused by this endpoint")
    try:
        stored = store_event(wiring.sessions, event)
    except DBAPIError as exc:
        log.error("webhook not stored, database unavailable: %s", type(exc).__name__)
        return refuse(503, "database unavailable, retry later")
    if stored.needs_enqueue:
        ring(wiring.enqueue, stored.event_id)
    return jsonify(received=True, duplicate=stored.duplicate), 200


def ring(enqueue: Callable[[str], None], event_id: str) -> None:
    """Queue the event; if the broker is down the event is safe and the sweeper queues it later."""
    try:
        enqueue(event_id)
    except Exception as exc:  # noqa: BLE001 - any broker failure: stored is what matters
        log.warning(
            "event %s stored but not queued (%s); the sweeper will retry",
            event_id,
            type(exc).__name__,
        )


def _mode(livemode: bool) -> str:
    return "live-mode" if livemode else "test-mode"
