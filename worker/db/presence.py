"""Is there an event log where the settings point? Asked before a command reads or writes it, so
a command run with the wrong DATA_DIR or DATABASE_URL says where it looked, and never leaves an
empty database behind (SQLite creates a file on connect)."""

from __future__ import annotations

from sqlalchemy import inspect
from sqlalchemy.exc import OperationalError

from worker.db.session import engine_for
from worker.db.urls import sqlite_path
from worker.errors import BillingWorkerError
from worker.redact import mask_url

WHAT_TO_DO = "start the worker with ./scripts/run, or set DATA_DIR/DATABASE_URL"


class NoEventLog(BillingWorkerError):
    """The settings point at no event log, or at a database without its tables."""


class EventLogUnreachable(BillingWorkerError):
    """The event log's database does not answer."""


def check_event_log(database_url: str) -> None:
    sqlite_file = sqlite_path(database_url)
    if sqlite_file is not None and not sqlite_file.exists():
        raise NoEventLog(f"no event log at {sqlite_file}: {WHAT_TO_DO}")
    where = sqlite_file or mask_url(database_url)
    try:
        with engine_for(database_url).connect() as connection:
            migrated = inspect(connection).has_table("events")
    except OperationalError as problem:
        reason = str(problem.orig).strip().splitlines()[0] if problem.orig else type(problem)
        raise EventLogUnreachable(f"cannot reach the event log at {where}: {reason}") from None
    if not migrated:
        raise NoEventLog(
            f"no event log at {where} (the database has no tables): {WHAT_TO_DO}, "
            "or run `billing-worker db upgrade`"
        )
