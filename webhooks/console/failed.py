"""Failed and stuck events, replayed a selection at a time or all failed at once, with progress."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from webhooks.console import bp, replays
from webhooks.console.event_queries import backlog
from webhooks.current import current_runtime
from worker.db.models import EventStatus, utcnow
from worker.eventlog.selection import EventSelection, Position, SelectionError, count

LISTED = 200  # rows shown per table; the counts above them are complete
MAX_SELECTED = 500  # ids in one "Replay selected", as the JSON API allows
SCOPES = ("selected", "failed")


@bp.get("/failed")
def failed() -> ResponseReturnValue:
    grace = timedelta(seconds=current_runtime().settings.sweep_grace_seconds)
    now = utcnow()
    with current_runtime().sessions() as session:
        found = backlog(session, now=now, grace=grace, limit=LISTED)
    return render_template("console/failed.html", backlog=found, listed=LISTED, now=now)


@dataclass(frozen=True)
class ReplayRun:
    """A replay from the failed page: what it covers and its totals so far, carried by the form
    from one batch to the next (the server keeps no state between batches)."""

    scope: str
    ids: tuple[str, ...]
    total: int = 0
    selected: int = 0
    replayed: int = 0
    unchanged: int = 0
    failed: int = 0
    missing: int = 0
    cursor: str = ""

    COUNTERS = ("total", "selected", "replayed", "unchanged", "failed", "missing")

    @classmethod
    def from_form(cls, form: Any) -> ReplayRun:
        scope = form.get("scope", "")
        if scope not in SCOPES:
            raise SelectionError(f"scope must be one of {', '.join(SCOPES)}")
        ids = tuple(dict.fromkeys(i.strip() for i in form.getlist("ids") if i.strip()))
        if scope == "selected" and not ids:
            raise SelectionError("tick at least one event to replay")
        if len(ids) > MAX_SELECTED:
            raise SelectionError(f"at most {MAX_SELECTED} events at once; use Replay all failed")
        counters = {name: _count(form.get(name)) for name in cls.COUNTERS}
        ids = ids if scope == "selected" else ()
        return cls(scope, ids, cursor=form.get("cursor", ""), **counters)

    def selection(self) -> EventSelection:
        if self.scope == "selected":
            return EventSelection(ids=self.ids)
        return EventSelection(status=EventStatus.FAILED)

    @property
    def started(self) -> bool:
        return bool(self.cursor) or self.selected > 0 or self.missing > 0

    @property
    def done(self) -> int:
        return self.selected + self.missing


def _count(text: str | None) -> int:
    try:
        return max(0, int(text or 0))
    except ValueError:
        raise SelectionError("the progress form was altered; start the replay again") from None


@bp.post("/replay")
def replay_batch() -> ResponseReturnValue:
    try:
        run = ReplayRun.from_form(request.form)
        selection = run.selection()
        start = Position.from_cursor(run.cursor) if run.cursor else None
    except SelectionError as exc:
        flash(str(exc), "error")
        return redirect(url_for("console.failed"), code=303)
    if not run.started:
        total = len(run.ids) if run.ids else count(current_runtime().sessions, selection)
        run = replace(run, total=total)
    batch = replays.run_batch(selection, start)
    summary = batch.summary
    run = replace(
        run,
        selected=run.selected + summary.selected,
        replayed=run.replayed + summary.replayed,
        unchanged=run.unchanged + summary.unchanged,
        failed=run.failed + summary.failed,
        missing=run.missing + len(summary.missing_ids),
        cursor=batch.next.cursor() if batch.next else "",
    )
    return render_template(
        "console/replay.html",
        run=run,
        finished=batch.next is None,
        problems=[replays.describe(o) for o in batch.outcomes if o.kind in ("failed", "missing")],
    )
