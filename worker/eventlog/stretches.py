"""Several events' handlers in one transaction, an event's error rolling back its own work only,
without a savepoint for each event.

A savepoint per event costs two statements (SAVEPOINT, RELEASE): for an event whose handler only
reads and writes our database, a third of its statements. So a batch's events run in stretches
of one savepoint each. A stretch ends after an event whose handler reached Stripe, and with the
batch. If an event fails, its stretch is rolled back, the failure recorded, and the events the
stretch ran before it run again in a new stretch: none of them reached Stripe (a stretch ends
after one that did), so running them again repeats no Stripe call, only database work that the
rollback undid. From a batch's first failure on, each event runs in a savepoint of its own, as
before stretches, so no event runs more than twice in one batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from worker.db.models import Event, StripeCall
from worker.stripe.gateway import StripeGateway


@dataclass
class Attempt:
    """What one run of an event's handler leaves beside its database work: its Stripe gateway,
    once made, with the calls that failed (to audit after a rollback)."""

    stripe: StripeGateway | None = None

    @property
    def failed_calls(self) -> list[StripeCall]:
        return self.stripe.failed_calls if self.stripe is not None else []

    @property
    def reached_stripe(self) -> bool:
        return self.stripe is not None and self.stripe.reached_stripe


Run = Callable[[Event, Attempt], str]  # an event's handler: its outcome
# An event whose handler raised, its work rolled back: its outcome, recorded on its row.
Failed = Callable[[Event, Exception, Attempt], str]


def run_in_stretches(
    session: Session, events: list[Event], run: Run, failed: Failed, *, until_stripe: bool = False
) -> dict[str, str]:
    """Each event's outcome, by id, run in the order given in the session's transaction. With
    `until_stripe`, the events after the first that reached Stripe are left, not run."""
    outcomes: dict[str, str] = {}
    waiting = list(events)
    alone = False  # after a failure: a savepoint per event
    while waiting:
        stretch = session.begin_nested()
        for index, event in enumerate(waiting):
            attempt = Attempt()
            try:
                outcomes[event.id] = run(event, attempt)
            except Exception as exc:  # noqa: BLE001 - every error is this event's: record it
                stretch.rollback()  # its work and the stretch's before it; its row lock stays
                if isinstance(exc, DBAPIError) and exc.connection_invalidated:
                    raise
                outcomes[event.id] = failed(event, exc, attempt)
                waiting = waiting[:index] + waiting[index + 1 :]  # those before it, once more
                alone = True
                break
            if alone or attempt.reached_stripe:
                stretch.commit()
                waiting = [] if until_stripe and attempt.reached_stripe else waiting[index + 1 :]
                break
        else:
            stretch.commit()
            waiting = []
    return outcomes
