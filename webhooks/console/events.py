"""Events: the filterable log with counts and the hourly chart, one event's page, its replay."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from webhooks.console import bp, replays
from webhooks.console.chart import build_chart, first_hour
from webhooks.console.event_queries import (
    EventFilters,
    EventsPage,
    event_story,
    events_page,
    hourly_counts,
    status_counts,
)
from webhooks.current import current_runtime
from worker.db.models import EVENT_STATUSES, utcnow
from worker.eventlog.selection import EventSelection, Position, SelectionError


@bp.get("/")
def home() -> ResponseReturnValue:
    return redirect(url_for("console.events"))


@bp.get("/events")
def events() -> ResponseReturnValue:
    filters = EventFilters.from_args(request.args)
    now = utcnow()
    with current_runtime().sessions() as session:
        chart = build_chart(hourly_counts(session, first_hour(now)), now)
        try:
            page = events_page(
                session,
                filters,
                before=_position(request.args.get("before")),
                after=_position(request.args.get("after")),
            )
            counts = status_counts(session, filters)
            error = None
        except SelectionError as exc:
            page, counts, error = EventsPage([], None, None), None, str(exc)
    html = render_template(
        "console/events.html",
        filters=filters,
        page=page,
        counts=counts,
        statuses=EVENT_STATUSES,
        chart=chart,
        error=error,
        now=now,
    )
    return html, 400 if error else 200


@bp.get("/events/<event_id>")
def event(event_id: str) -> ResponseReturnValue:
    with current_runtime().sessions() as session:
        story = event_story(session, event_id)
    if story is None:
        abort(404)
    return render_template("console/event.html", story=story, now=utcnow())


@bp.post("/events/<event_id>/replay")
def replay_event(event_id: str) -> ResponseReturnValue:
    batch = replays.run_batch(EventSelection(ids=(event_id,)))
    for outcome in batch.outcomes:
        category, sentence = replays.describe(outcome)
        flash(sentence, category)
    return redirect(url_for("console.event", event_id=event_id), code=303)


def _position(cursor: str | None) -> Position | None:
    return Position.from_cursor(cursor) if cursor else None
