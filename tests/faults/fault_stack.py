"""The running system the fault tests break: a gunicorn receiver and Celery workers of ours on
real PostgreSQL and Redis, with stripe-mock for the handlers' Stripe reads.

Its fixtures (the time limit every fault test runs under, a `stack` on the suite's PostgreSQL and
Redis) are in this folder's conftest.py.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from harness.deliveries import deliver
from harness.processes import ProcessGroup, cli, wait_until
from harness.servers import free_port
from signing import WEBHOOK_SECRET
from sqlalchemy import func, select, text

from worker import samples
from worker.db.models import PLATFORM, Event, Invoice, StripeCall, utcnow
from worker.db.session import once_more_after_disconnect, session_factory

DONE = ("processed", "ignored")
# Types the worker has no handler for: they must end `ignored`, once, like handled ones end
# `processed`. Chosen far from billing so a new handler is unlikely to claim them.
UNHANDLED_TYPES = ("balance.available", "payment_intent.created", "payout.paid")


def unhandled_event(rng: random.Random) -> dict[str, Any]:
    event_type = rng.choice(UNHANDLED_TYPES)
    obj = {"id": samples.new_id("obj"), "object": event_type.split(".")[0], "amount": 1000}
    return samples.event(event_type, obj)


def traffic(count: int, rng: random.Random, invoice_share: float = 0.6) -> list[dict[str, Any]]:
    """`count` distinct events: `invoice.paid` for a pool of customers, and unhandled types."""
    customers = [f"cus_fault{n:03d}" for n in range(max(1, count // 10))]
    return [
        samples.invoice_paid_event(customer=rng.choice(customers), amount_paid=1000 * (n % 90 + 1))
        if rng.random() < invoice_share
        else unhandled_event(rng)
        for n in range(count)
    ]


def catalog_events() -> list[dict[str, Any]]:
    """The plan the sample invoices bill (`samples.invoice_paid_event`): its product and price."""
    return [
        samples.event("product.created", samples.product("prod_test_growth", "plan")),
        samples.event(
            "price.created",
            samples.price("price_test_growth", "prod_test_growth", 120000, interval="year"),
        ),
    ]


@dataclass
class Stack:
    tmp: Path
    env: dict[str, str]
    database_url: str
    port: int = field(default_factory=free_port)
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhooks/stripe"

    def __post_init__(self) -> None:
        self.env = self.env | {"PORT": str(self.port)}
        self.processes = ProcessGroup(self.tmp)

    def start_receiver(self, workers: int = 2) -> None:
        self.processes.receiver(self.env, workers=workers, log_name="receiver.log")

    def start_worker(self, concurrency: int = 2) -> subprocess.Popen[bytes]:
        name = f"worker{len(self.workers)}.log"
        worker = self.processes.worker(self.env, concurrency=concurrency, log_name=name)
        self.workers.append(worker)
        return worker

    def close(self) -> None:
        self.processes.stop_all()

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *_exc_info: object) -> None:
        self.close()

    def logs(self, prefix: str = "") -> str:
        return self.processes.logs(prefix)

    # Stripe's side --------------------------------------------------------------------------

    def deliver(self, http: requests.Session, evt: dict[str, Any] | str) -> int:
        """One delivery attempt as Stripe makes it: the same body (pass it, rendered, to spare
        the test's CPU when delivering one event many times), signed anew."""
        return deliver(self.url, evt, WEBHOOK_SECRET, http=http).status_code

    def seed_catalog(self, http: requests.Session, wait: bool = True) -> None:
        """The plan the sample invoices bill, delivered as Stripe announces a new price:
        before any invoice for it (with `wait=False` and no worker up: first in the queue).

        Invoices naming a price the worker has never seen, handled at the same moment by two
        workers, race to insert it: one run fails and is retried, which fault 1 would count.
        """
        seeds = catalog_events()
        for evt in seeds:
            assert self.deliver(http, evt) == 200
        if wait:
            self.wait_done({evt["id"] for evt in seeds}, timeout=30)

    # The database's side ----------------------------------------------------------------------

    def sessions(self):  # noqa: ANN201 - sessionmaker
        return session_factory(self.database_url)

    def events(self) -> dict[str, tuple[str, str, int]]:
        """id -> (type, status, attempts) of every stored event."""

        def read() -> dict[str, tuple[str, str, int]]:
            with self.sessions()() as session:
                rows = session.execute(select(Event.id, Event.type, Event.status, Event.attempts))
                return {row.id: (row.type, row.status, row.attempts) for row in rows}

        # This process pools connections too: after a restart its first read meets a dead one.
        return once_more_after_disconnect(read)

    def wait_done(self, ids: set[str], timeout: float) -> dict[str, tuple[str, str, int]]:
        def all_done() -> dict[str, tuple[str, str, int]] | None:
            rows = self.events()
            return rows if all(rows.get(i, ("", "", 0))[1] in DONE for i in ids) else None

        try:
            return wait_until(all_done, timeout, f"{len(ids)} events to be processed")
        except AssertionError:
            rows = self.events()
            stuck = {i: rows.get(i) for i in ids if rows.get(i, ("", "", 0))[1] not in DONE}
            raise AssertionError(
                f"{len(stuck)} of {len(ids)} events not done after {timeout}s, e.g. "
                f"{list(stuck.items())[:5]}\n--- worker logs ---\n{self.logs('worker')[-3000:]}"
            ) from None

    def wait_mid_batch(self, ids: list[str], timeout: float, what: str) -> None:
        """Wait until one batch holds the rows of all of `ids` and waits inside its transaction
        for an invoice's row (`invoice_held`): the events before that invoice's have run, and
        none is committed."""
        wait_until(lambda: lock_waiters(self.database_url) == 1, timeout, what)
        assert held_elsewhere(self.database_url, ids) == set(ids)
        assert "INSERT INTO invoices" in waiting_statement(self.database_url)  # the held one's
        assert {self.events()[i][1] for i in ids} == {"received"}

    def sweep(self) -> str:
        """`billing-worker events sweep --older-than 0`: queue every event still `received`."""
        return cli(["events", "sweep", "--older-than", "0"], self.env, self.tmp)

    def mutating_calls_by_method(self) -> dict[str, int]:
        """How many mutating Stripe calls succeeded, by method (from the audit table)."""
        with self.sessions()() as session:
            rows = session.execute(
                select(StripeCall.method, func.count())
                .where(StripeCall.outcome == "ok")
                .group_by(StripeCall.method)
            )
            return {method: n for method, n in rows}

    def mutating_calls_made_twice(self) -> list[tuple[str, int]]:
        """Idempotency keys of mutating Stripe calls that succeeded more than once (the audit
        table records every call the gateway makes)."""
        with self.sessions()() as session:
            rows = session.execute(
                select(StripeCall.idempotency_key, func.count())
                .where(StripeCall.outcome == "ok")
                .group_by(StripeCall.idempotency_key)
                .having(func.count() > 1)
            )
            return [(key, n) for key, n in rows]


def assert_each_done_once(
    rows: dict[str, tuple[str, str, int]], events: list[dict[str, Any]]
) -> None:
    """Every event stored once, handled (or ignored) by exactly one committed run.

    `attempts` is incremented in the same transaction as the handler's outcome, so a value of
    1 means one run committed, however many doorbells, redeliveries or crashes there were.
    """
    expected = {evt["id"]: evt["type"] for evt in events}
    assert set(rows) == set(expected), "stored events differ from those delivered"
    wrong = {
        event_id: rows[event_id]
        for event_id, event_type in expected.items()
        if rows[event_id][1:] != ("ignored" if event_type in UNHANDLED_TYPES else "processed", 1)
    }
    assert not wrong, f"{len(wrong)} events not done exactly once, e.g. {list(wrong.items())[:5]}"


def invoices_recorded(database_url: str) -> dict[str, int]:
    """event_id -> rows the invoice handler wrote for it (its table: `invoices`)."""
    with session_factory(database_url)() as session:
        rows = session.execute(text("SELECT event_id, count(*) FROM invoices GROUP BY event_id"))
        return {event_id: n for event_id, n in rows}


@contextlib.contextmanager
def rows_locked(database_url: str, event_ids: list[str]) -> Iterator[None]:
    """Hold the events' row locks, as a long handler would: a worker that takes one of them
    waits inside its task, so a kill then lands mid-task for certain."""
    with session_factory(database_url)() as session, session.begin():
        locked = session.scalars(
            select(Event.id).where(Event.id.in_(event_ids)).with_for_update()
        ).all()
        assert sorted(locked) == sorted(event_ids)
        yield
        session.rollback()


def lock_waiters(database_url: str) -> int:
    """Connections to this database waiting for a row lock (tasks blocked mid-transaction)."""
    return _lock_waits(database_url, "count(*)")


def waiting_statement(database_url: str) -> str:
    """The statement of the (one) connection waiting for a row lock."""
    return _lock_waits(database_url, "query")


def _lock_waits(database_url: str, what: str) -> Any:
    with session_factory(database_url)() as session:
        return session.scalar(
            text(
                f"SELECT {what} FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )


def children_of(pid: int) -> list[int]:
    """Direct child processes of `pid` (Celery's pool processes), from /proc."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            # The command name may hold spaces: the parent pid is 2nd field after the ')'.
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                children.append(int(entry.name))
    return children


def kill_9(*pids: int) -> None:
    """SIGKILL every process at once, then wait until each is gone."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for pid in pids:
        _wait_gone(pid)


def _wait_gone(pid: int, timeout: float = 10) -> None:
    def gone() -> bool:
        try:
            status = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return True
        return status.rsplit(")", 1)[1].split()[0] == "Z"  # a zombie runs nothing

    wait_until(gone, timeout, f"process {pid} to end")


def post_all(stack: Stack, deliveries: list[dict[str, Any] | str], clients: int = 16) -> list[int]:
    """Post every delivery from `clients` concurrent clients, each with its own HTTP session."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import local

    state = local()

    def post(delivery: dict[str, Any] | str) -> int:
        if not hasattr(state, "http"):
            state.http = requests.Session()
        return stack.deliver(state.http, delivery)

    with ThreadPoolExecutor(max_workers=clients) as pool:
        return list(pool.map(post, deliveries))


@contextlib.contextmanager
def invoice_held(database_url: str, invoice: dict[str, Any]) -> Iterator[None]:
    """Hold an uncommitted row of the invoice, as another transaction storing it would: its
    event's handler, inside its batch, waits for this one to end before it inserts its own."""
    with session_factory(database_url)() as session, session.begin():
        session.add(
            Invoice(
                account=PLATFORM, id=invoice["id"], customer=invoice["customer"], status="open",
                currency="usd", amount_paid=0, state_created=utcnow(), event_id="evt_holding",
            )
        )  # fmt: skip
        session.flush()
        yield
        session.rollback()


def held_elsewhere(database_url: str, event_ids: list[str]) -> set[str]:
    """Which of the events' rows another transaction holds locked."""
    with session_factory(database_url)() as session, session.begin():
        free = session.scalars(
            select(Event.id).where(Event.id.in_(event_ids)).with_for_update(skip_locked=True)
        ).all()
        return set(event_ids) - set(free)
