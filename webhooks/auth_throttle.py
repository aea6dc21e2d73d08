"""Wrong ops tokens slow their sender down: the ops API and the console's login share this.

Counted per client address, in the database (`auth_failures`), so every gunicorn worker and
every receiver host sees the same count, and a restart forgives nothing. The first
`FREE_FAILURES` wrong tokens are answered 401 at once; from then on each wrong token makes the
client wait twice as long as the last (1 s, 2 s, 4 s, … at most `MAX_WAIT`). While it waits,
everything it presents is answered 429 with `Retry-After`, the right token too, and none of it is
compared: a guess made during the wait learns nothing. A right token after the wait forgives the
count; so does an hour without a wrong one. Other addresses are never slowed.

The address is the connection's, or, behind `TRUSTED_PROXIES` reverse proxies, the one they
forwarded (ProxyFix): without that setting every client behind a proxy shares the proxy's, and
one client's guesses slow all of them.
"""

from __future__ import annotations

import hmac
import math
from dataclasses import dataclass
from datetime import timedelta

from flask import request
from sqlalchemy import case, delete, update
from sqlalchemy.orm import Session, sessionmaker

from worker.db.models import AuthFailures, utcnow
from worker.db.session import read_only
from worker.db.upsert import insert_for

FREE_FAILURES = 5
MAX_WAIT = timedelta(minutes=15)
FORGIVE_AFTER = timedelta(hours=1)


class MustWait(Exception):
    """The client has failed too often: it may present a token again in `seconds`."""

    def __init__(self, seconds: int) -> None:
        super().__init__(f"too many wrong tokens: try again in {seconds} s")
        self.seconds = seconds


def check_token(sessions: sessionmaker[Session], presented: str, token: str) -> bool:
    """Whether the request's client presented the ops token (compared in constant time); a
    wrong one is counted. Raises MustWait, comparing nothing, while the client must wait."""
    client = client_address()
    now = standing(sessions, client)
    if now.wait_seconds:
        raise MustWait(now.wait_seconds)
    if hmac.compare_digest(presented.encode(), token.encode()):
        if now.failures:
            forgive(sessions, client)
        return True
    record_failure(sessions, client)
    return False


@dataclass(frozen=True)
class Standing:
    """Where one client stands: how long it must still wait, and whether it has failed lately."""

    wait_seconds: int
    failures: int


def client_address() -> str:
    return request.remote_addr or "unknown"


def standing(sessions: sessionmaker[Session], client: str) -> Standing:
    with read_only(sessions) as db:
        row = db.get(AuthFailures, client)
    if row is None:
        return Standing(0, 0)
    now = utcnow()
    if now - row.last_failure_at >= FORGIVE_AFTER:
        return Standing(0, 0)
    left = (row.blocked_until - now).total_seconds() if row.blocked_until else 0
    return Standing(math.ceil(left) if left > 0 else 0, row.failures)


def record_failure(sessions: sessionmaker[Session], client: str) -> None:
    """Count a wrong token; from the FREE_FAILURES-th on, the client waits before the next."""
    now = utcnow()
    with sessions.begin() as db:
        first = insert_for(db, AuthFailures).values(client=client, failures=1, last_failure_at=now)
        # One statement, so two workers counting the same client's failures at once add both.
        counted = first.on_conflict_do_update(
            index_elements=["client"],
            set_={
                "failures": case(
                    (AuthFailures.last_failure_at <= now - FORGIVE_AFTER, 1),
                    else_=AuthFailures.failures + 1,
                ),
                "last_failure_at": now,
            },
        ).returning(AuthFailures.failures)
        failures: int = db.execute(counted).scalar_one()
        if failures >= FREE_FAILURES:
            doublings = min(failures - FREE_FAILURES, 20)  # 2**20 s is past MAX_WAIT already
            wait = min(timedelta(seconds=2**doublings), MAX_WAIT)
            db.execute(
                update(AuthFailures)
                .where(AuthFailures.client == client)
                .values(blocked_until=now + wait)
            )


def forgive(sessions: sessionmaker[Session], client: str) -> None:
    with sessions.begin() as db:
        db.execute(delete(AuthFailures).where(AuthFailures.client == client))
