"""`events replay --jobs N` on PostgreSQL: processes share the customers, each customer's events
run in the order received, every event runs once and its effect happens once."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from functools import partial
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, update

from worker import samples
from worker.bootstrap import bootstrap
from worker.cli import main
from worker.config import Settings
from worker.db.models import Event, StripeCall
from worker.db.session import session_factory
from worker.eventlog.intake import parse_event, store_event
from worker.eventlog.parallel_replay import replay_parallel
from worker.eventlog.processing import process_events
from worker.eventlog.replay import REPLAYABLE, ProcessMany, ReplaySummary
from worker.eventlog.selection import EventSelection

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
CUSTOMERS = [f"cus_par_{i}" for i in range(6)]
PER_CUSTOMER = 12


def effect_once(ctx: Any, _obj: dict[str, Any]) -> None:
    """An effect through the gateway's audited mutation, as a refund is: at most once per event."""
    event_id = ctx.event_id
    ctx.stripe._mutate("ledger.effect", event_id, "effect", lambda _o: SimpleNamespace(id=event_id))


def ledger_worker() -> tuple[Any, ProcessMany]:
    """Built in each replaying process (spawned: a module-level function, found by name)."""
    settings = Settings(_env_file=None, broker_url="memory://")  # type: ignore[call-arg]
    runtime = bootstrap(settings)
    process = partial(
        process_events, runtime, statuses=REPLAYABLE, handlers={"invoice.paid": effect_once}
    )
    return runtime.sessions, process


def seed(url: str) -> dict[str, list[str]]:
    """Each customer's events, interleaved with the others' and with customer-less ones, each
    received a second apart; returns each customer's ids in the order received."""
    sessions = session_factory(url)
    ids: dict[str, list[str]] = {customer: [] for customer in CUSTOMERS}
    moment = T0
    for round_ in range(PER_CUSTOMER):
        for customer in CUSTOMERS:
            evt = samples.invoice_paid_event(customer=customer, number=f"P-{customer}-{round_}")
            ids[customer].append(_store(sessions, evt, moment))
            moment += timedelta(seconds=1)
        _store(sessions, samples.event("balance.available", {"object": "balance"}), moment)
    return ids


def _store(sessions: Any, evt: dict[str, Any], received_at: datetime) -> str:
    store_event(sessions, parse_event(samples.body(evt)))
    with sessions.begin() as session:
        session.execute(update(Event).where(Event.id == evt["id"]).values(received_at=received_at))
    return str(evt["id"])


def test_four_processes_keep_each_customers_order_and_run_every_event_once(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", pg_url)  # the spawned processes read their settings
    ids = seed(pg_url)
    total = len(CUSTOMERS) * PER_CUSTOMER + PER_CUSTOMER

    summary = ReplaySummary(dry_run=False)
    seen: list[str] = []
    for outcome in replay_parallel(EventSelection(everything=True), 4, ledger_worker):
        summary.add(outcome)
        seen.append(outcome.event_id)

    assert Counter(seen) == Counter({event_id: 1 for event_id in seen}) and len(seen) == total
    counts = (summary.selected, summary.replayed, summary.unchanged, summary.failed)
    assert counts == (total, total, 0, 0)
    with session_factory(pg_url)() as session:
        rows = {e.id: e for e in session.scalars(select(Event))}
        calls = Counter(session.scalars(select(StripeCall.event_id)))
    assert {row.attempts for row in rows.values()} == {1}
    assert calls == Counter(event_id for events in ids.values() for event_id in events)
    for customer, events in ids.items():
        processed = [rows[event_id].processed_at for event_id in events]
        assert processed == sorted(processed), f"{customer}'s events ran out of order"
        # ...and the outcomes reached the parent in that order too.
        assert [i for i in seen if i in set(events)] == events


def test_a_second_parallel_replay_changes_nothing_and_repeats_no_effect(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", pg_url)
    seed(pg_url)
    for _ in range(2):
        summary = ReplaySummary(dry_run=False)
        for outcome in replay_parallel(EventSelection(everything=True), 3, ledger_worker):
            summary.add(outcome)
    assert (summary.replayed, summary.failed) == (0, 0)
    assert summary.unchanged == len(CUSTOMERS) * PER_CUSTOMER + PER_CUSTOMER
    with session_factory(pg_url)() as session:
        assert session.scalar(select(func.count()).select_from(StripeCall)) == (
            len(CUSTOMERS) * PER_CUSTOMER
        )


def test_the_cli_with_jobs_prints_the_same_json_summary(pg_url: str, tmp_path) -> None:
    sessions = session_factory(pg_url)
    for index, customer in enumerate(CUSTOMERS * 3):
        evt = samples.event("customer.updated", {"object": "customer", "id": customer})
        _store(sessions, evt, T0 + timedelta(seconds=index))
    env = {"DATABASE_URL": pg_url, "DATA_DIR": str(tmp_path), "BROKER_URL": "memory://"}

    result = CliRunner().invoke(
        main, ["events", "replay", "--all", "--jobs", "3", "--format", "json"], env=env
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["selected"], summary["failed"]) == (len(CUSTOMERS) * 3, 0)
    assert summary["replayed"] + summary["unchanged"] == len(CUSTOMERS) * 3
