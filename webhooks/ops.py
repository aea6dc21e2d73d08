"""The ops HTTP API under /ops/: events (list, show, replay), behind a bearer token.

Every route on `bp` requires `Authorization: Bearer <OPS_API_TOKEN>` (compared in constant
time; a client that keeps presenting wrong ones is made to wait, `auth_throttle.py`); with no
token configured the whole prefix answers 404, as if it did not exist. Routes of other
blueprints can use `require_ops_token` for the same check. Every JSON answer leaves with its
strings scrubbed (`scrubbed_json`): payloads, errors and notes carry what customers typed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, Response, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import defer

from webhooks.auth_throttle import MustWait, check_token
from webhooks.current import current_runtime
from worker.db.models import Event
from worker.eventlog.record import event_record
from worker.eventlog.replay import ReplaySummary, operator_attempt, replay
from worker.eventlog.selection import EventSelection, Position, SelectionError, iter_keys, ordered
from worker.eventlog.selection_input import FILTERS, selection_from_text
from worker.input_bounds import BOUNDS
from worker.redact import scrub_data

bp = Blueprint("ops", __name__, url_prefix="/ops")

LIST_LIMIT, LIST_MAX = 50, 500
REPLAY_LIMIT, REPLAY_MAX = 100, 500
# A replay request stops starting new events after this long and hands back a cursor, so it
# answers well inside gunicorn's worker timeout (30 s) however slow Stripe is.
REPLAY_SECONDS = 15.0

View = TypeVar("View", bound=Callable[..., ResponseReturnValue])


def ops_token_refusal() -> ResponseReturnValue | None:
    """None when the request carries the ops token; else the 404, 401 or 429 to answer."""
    runtime = current_runtime()
    token = runtime.settings.ops_api_token
    if not token:
        return jsonify(error="not found"), 404
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and presented.strip():
        try:
            if check_token(runtime.sessions, presented.strip(), token):
                return None
        except MustWait as wait:
            response = jsonify(error=str(wait))
            response.status_code = 429
            response.headers["Retry-After"] = str(wait.seconds)
            return response
    reason = "missing bearer token" if not presented else "invalid bearer token"
    response = jsonify(error=reason)
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Bearer realm="ops"'
    return response


@bp.before_request
def _require_token() -> ResponseReturnValue | None:
    return ops_token_refusal()


def scrubbed_json(response: Response) -> Response:
    """The answer with card numbers and secrets masked in its strings; numbers stay numbers."""
    if response.is_json:
        # Through the provider's own response, so the JSON is laid out as jsonify lays it out.
        scrubbed = current_app.json.response(scrub_data(response.get_json()))
        response.set_data(scrubbed.get_data())
    return response


bp.after_request(scrubbed_json)


def require_ops_token(view: View) -> View:
    """The same check for a route outside this blueprint."""

    @wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        return ops_token_refusal() or view(*args, **kwargs)

    return guarded  # type: ignore[return-value]


class BadRequest(ValueError):
    """A parameter the API cannot use; the message says which and why."""


@bp.errorhandler(BadRequest)
@bp.errorhandler(SelectionError)
def _bad_request(exc: ValueError) -> ResponseReturnValue:
    return jsonify(error=str(exc)), 400


@bp.errorhandler(DBAPIError)
def _database_down(exc: DBAPIError) -> ResponseReturnValue:
    return jsonify(error=f"database unavailable ({type(exc.orig).__name__}), retry later"), 503


@bp.get("/events")
def list_events() -> ResponseReturnValue:
    """Events oldest received first; `next` is the cursor of the following page, or null."""
    selection = _selection(request.args)
    limit = _limit(request.args.get("limit"), LIST_LIMIT, LIST_MAX)
    start = _cursor(request.args.get("cursor"))
    query = select(Event).options(defer(Event.payload), defer(Event.last_traceback))
    with current_runtime().sessions() as session:
        rows = list(session.scalars(ordered(query, selection, start).limit(limit + 1)))
    page, more = rows[:limit], len(rows) > limit
    return jsonify(
        events=[event_record(e) | {"livemode": e.livemode} for e in page],
        next=Position.of(page[-1]).cursor() if more else None,
    )


@bp.get("/events/<event_id>")
def show_event(event_id: str) -> ResponseReturnValue:
    with current_runtime().sessions() as session:
        event = session.get(Event, event_id)
        if event is None:
            return jsonify(error=f"no event {event_id}"), 404
        return jsonify(
            event_record(event)
            | {
                "livemode": event.livemode,
                "account": event.account,
                "api_version": event.api_version,
                "last_traceback": event.last_traceback,
                "payload": json.loads(event.payload),
            }
        )


@bp.post("/events/replay")
def replay_events() -> ResponseReturnValue:
    """Replay a selection, up to `limit` events or ~15 s; repeat with `next` until it is null.

    Body: {"ids": [...]} or filters {"status", "type", "account", "customer", "since", "until"} or
    {"all": true}; optional "dry_run", "limit", "cursor".
    """
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest(f"body must be a JSON object ({BOUNDS})")
    ids = body.get("ids") or []
    if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
        raise BadRequest("ids must be a list of event ids")
    if len(ids) > REPLAY_MAX:
        raise BadRequest(f"at most {REPLAY_MAX} ids per request")
    selection = _selection(body, ids=tuple(ids), everything=body.get("all") is True)
    selection.require_explicit()
    dry_run = body.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise BadRequest("dry_run must be true or false")
    limit = _limit(body.get("limit"), REPLAY_LIMIT, REPLAY_MAX)
    start = _cursor(body.get("cursor"))
    runtime = current_runtime()
    sessions = runtime.sessions
    summary = ReplaySummary(dry_run=dry_run)
    last: Position | None = None
    deadline = time.monotonic() + REPLAY_SECONDS
    for outcome in replay(
        sessions,
        selection,
        dry_run=dry_run,
        start=start,
        limit=limit,
        deadline=deadline,
        process=operator_attempt(runtime),  # this app's Stripe and policy
    ):
        summary.add(outcome)
        last = outcome.position or last
    more = last is not None and any(iter_keys(sessions, selection, start=last, page_size=1))
    return jsonify(summary.to_dict() | {"next": last.cursor() if more and last else None})


def _selection(
    source: Any, *, ids: tuple[str, ...] = (), everything: bool = False
) -> EventSelection:
    text = {name: _text(source, name) for name in FILTERS}
    return selection_from_text(text, ids=ids, everything=everything)


def _text(source: Any, key: str) -> str | None:
    value = source.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadRequest(f"{key} must be a string")
    return value


def _limit(value: Any, default: int, most: int) -> int:
    if value is None or value == "":
        return default
    try:
        limit = int(value)
    except (TypeError, ValueError):
        raise BadRequest("limit must be a whole number") from None
    if isinstance(value, bool) or not 1 <= limit <= most:
        raise BadRequest(f"limit must be between 1 and {most}")
    return limit


def _cursor(value: Any) -> Position | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadRequest("cursor must be a string")
    return Position.from_cursor(value)
