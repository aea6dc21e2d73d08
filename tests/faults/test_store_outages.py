"""Faults 3 and 4: the broker, then the database, stopped while Stripe keeps delivering.

- Redis down: the event log is the source of truth and Redis only rings the bell, so the
  receiver keeps answering 200 (it stores, and cannot queue); once Redis is back the sweeper
  queues the stranded events and every one is processed once.
- PostgreSQL down: nothing can be stored, so nothing is acknowledged: 503, and Stripe retries.
  When it is back the receiver's pool reconnects (a dead pooled connection invalidates the pool
  and intake tries once more: worker/db/session.py) and Stripe's redeliveries are
  stored and processed once.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from fault_stack import Stack, assert_each_done_once, invoices_recorded, post_all, traffic
from harness.servers import PostgresServer, RedisServer

from worker import samples
from worker.db.migrate import upgrade

pytestmark = pytest.mark.services


def ids(events: list[dict[str, Any]]) -> set[str]:
    return {evt["id"] for evt in events}


def running_normally(stack: Stack, before: list[dict[str, Any]]) -> None:
    """A receiver and a worker up, the catalog seeded and `before` processed: what breaks next."""
    stack.start_receiver()
    stack.start_worker()
    stack.seed_catalog(requests.Session())
    assert set(post_all(stack, before, clients=8)) == {200}
    stack.wait_done(ids(before), timeout=30)


def each_processed_once(stack: Stack, database_url: str, everything: list[dict[str, Any]]) -> None:
    """Every event delivered ends processed (or ignored) by one run; each invoice recorded."""
    rows = stack.wait_done(ids(everything), timeout=60)
    assert_each_done_once({i: rows[i] for i in ids(everything)}, everything)
    assert invoices_recorded(database_url).keys() == {
        e["id"] for e in everything if e["type"] == "invoice.paid"
    }


@pytest.mark.bound(120)
def test_with_redis_down_the_receiver_still_answers_200_and_the_sweeper_queues_the_rest(
    stack: Stack, pg_url: str, redis_server: RedisServer
) -> None:
    rng = random.Random(3)
    before, during, after = traffic(40, rng), traffic(100, rng), traffic(20, rng)
    running_normally(stack, before)

    try:
        redis_server.stop()
        # Each delivery is answered within the request's timeout, before Stripe gives up
        # waiting (10-20 s): the receiver does not hang on the broker it cannot reach.
        assert set(post_all(stack, during, clients=8)) == {200}
        rows = stack.events()
        assert {rows[i][1] for i in ids(during)} == {"received"}  # stored, not queued

        redis_server.start()  # same port, empty: what it held before the stop is gone
        # New deliveries are queued again as soon as Redis is back (the receiver reconnects)...
        assert set(post_all(stack, after, clients=8)) == {200}
        stack.wait_done(ids(after), timeout=60)
        rows = stack.events()
        # ...the stranded ones wait, unless a new doorbell of their customer partition ran them
        # in its batch (worker/eventlog/batches.py)...
        assert {rows[i][1] for i in ids(during)} <= {"received", "processed", "ignored"}
        stranded = [i for i in ids(during) if rows[i][1] == "received"]
        assert stranded  # 100 events in 16 partitions: the 20 new doorbells cannot reach them all
        # ...or the sweeper. A batch still running may take a few more of them meanwhile: the
        # sweeper queues what is left, none it already saw done.
        [queued] = re.findall(r"queued (\d+) stranded event", stack.sweep())
        assert 0 < int(queued) <= len(stranded)

        each_processed_once(stack, pg_url, before + during + after)
    finally:  # the suite's Redis, running again for the tests after this one
        if redis_server.process is None or redis_server.process.poll() is not None:
            redis_server.start()


@pytest.fixture
def durable_postgres() -> Iterator[tuple[PostgresServer, str]]:
    """A PostgreSQL of its own with production durability (fsync, synchronous commit): the
    suite's shared one trades both for speed, and a crash of it may lose acknowledged commits,
    which is PostgreSQL keeping its word to that configuration, not a fault of ours."""
    with PostgresServer(durable=True) as server:
        url = server.create_database("fault4")
        upgrade(url)
        yield server, url


@pytest.mark.bound(120)
def test_with_postgresql_down_the_receiver_answers_503_and_stripes_redeliveries_are_processed(
    tmp_path: Path,
    durable_postgres: tuple[PostgresServer, str],
    redis_url: str,
    service_env,
) -> None:
    postgres_server, pg_url = durable_postgres
    rng = random.Random(4)
    before, refused = traffic(40, rng), traffic(100, rng)
    env = service_env(DATABASE_URL=pg_url, BROKER_URL=redis_url)
    with Stack(tmp_path, env, pg_url) as stack:
        running_normally(stack, before)

        postgres_server.stop()  # `pg_ctl stop -m immediate`: a crash, no clean shutdown
        # Nothing acknowledged unstored; and answered (within the request's timeout), not hung.
        assert set(post_all(stack, refused, clients=8)) == {503}
        ready = requests.get(f"http://127.0.0.1:{stack.port}/readyz", timeout=10)
        assert (ready.status_code, ready.json()["database"]) == (503, "unreachable")

        postgres_server.start()
        rows = stack.events()
        assert set(rows) & ids(refused) == set()  # nothing was stored, and nothing lost:
        assert {rows[i][1:] for i in ids(before)} <= {("processed", 1), ("ignored", 1)}
        # Stripe redelivers each refused event (same body, new signature): the pools
        # reconnect, so the first redelivery after the restart is stored.
        assert set(post_all(stack, [samples.body(e) for e in refused], clients=8)) == {200}

        each_processed_once(stack, pg_url, before + refused)
