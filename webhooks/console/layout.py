"""What every console page shows around its content: the signed-in operator and the counts in
the navigation; and the page shown when the database cannot answer."""

from __future__ import annotations

from typing import Any

from flask import render_template
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from webhooks.console import auth, bp
from webhooks.current import current_runtime
from worker.db.models import Event, EventStatus, RefundRequest, RefundRequestStatus


@bp.context_processor
def _navigation() -> dict[str, Any]:
    # Views render after closing their own session: on SQLite every transaction holds the write
    # lock (BEGIN IMMEDIATE), so this second session would wait for the first until a timeout.
    if auth.operator() is None:
        return {"operator": None, "nav_counts": {}}
    try:
        with current_runtime().sessions() as session:
            failed = session.scalar(
                select(func.count()).select_from(Event).where(Event.status == EventStatus.FAILED)
            )
            reviews = session.scalar(
                select(func.count())
                .select_from(RefundRequest)
                .where(
                    RefundRequest.status.in_(
                        (RefundRequestStatus.REVIEW, RefundRequestStatus.REFUND_FAILED)
                    )
                )
            )
    except DBAPIError:
        return {"operator": auth.operator(), "nav_counts": {}}  # the error page says why
    return {"operator": auth.operator(), "nav_counts": {"failed": failed, "refunds": reviews}}


@bp.errorhandler(DBAPIError)
def _database_down(exc: DBAPIError) -> ResponseReturnValue:
    reason = f"database unavailable ({type(exc.orig).__name__}); retry in a moment"
    return render_template("console/error.html", reason=reason), 503
