"""No ping before each checkout, and still no failed delivery after PostgreSQL restarts: the
first statement on a connection that died with the server invalidates the pool, and intake (and
the readiness probe) run once more on a fresh connection."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from harness.servers import PostgresServer
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from worker import samples
from worker.db.migrate import upgrade
from worker.db.session import engine_for, session_factory
from worker.eventlog.intake import parse_event, store_event

pytestmark = pytest.mark.services


@pytest.fixture
def restartable_postgres() -> Iterator[tuple[PostgresServer, str]]:
    """A PostgreSQL of its own: the suite's shared one must not restart under other tests."""
    with PostgresServer() as server:
        url = server.create_database("restart")
        upgrade(url)
        yield server, url


def a_delivery() -> object:
    return parse_event(samples.body(samples.event("customer.created", {"id": "cus_R1"})))


def test_the_first_delivery_after_a_postgresql_restart_is_stored(
    restartable_postgres: tuple[PostgresServer, str],
) -> None:
    server, url = restartable_postgres
    sessions = session_factory(url)
    assert not store_event(sessions, a_delivery()).duplicate  # a connection is now pooled
    with engine_for(url + "?application_name=witness").connect() as conn:
        conn.execute(text("SELECT 1"))  # and one in a second pool, never retried

    server.stop()  # an immediate stop: the pooled connections die without a goodbye
    server.start()

    with (
        pytest.raises(DBAPIError) as failed,
        engine_for(url + "?application_name=witness").connect() as conn,
    ):
        conn.execute(text("SELECT 1"))
    assert failed.value.connection_invalidated  # the pool holds dead connections: no pre-ping
    outcome = store_event(sessions, a_delivery())  # ...yet intake's first try after it works
    assert not outcome.duplicate
