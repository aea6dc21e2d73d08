"""What the console's views use, taken from the app's wiring rather than from globals."""

from __future__ import annotations

from functools import partial

from flask import current_app
from sqlalchemy.orm import Session, sessionmaker

from webhooks.ops import app_runtime
from worker.config import Settings
from worker.eventlog.processing import process_event
from worker.eventlog.replay import REPLAYABLE, Process
from worker.runtime import Runtime


def settings() -> Settings:
    return current_app.extensions["billing"].settings


def sessions() -> sessionmaker[Session]:
    return current_app.extensions["billing"].sessions


def runtime() -> Runtime:
    """The app's runtime (its settings' database, Stripe client and policy), shared with the
    JSON ops API, so a page replays and refunds exactly as the API and the CLI do."""
    return app_runtime()


def replay_process() -> Process:
    """One deliberate operator attempt per event, as `events replay` does, on this runtime."""
    return partial(process_event, last_attempt=True, statuses=REPLAYABLE, runtime=runtime())
