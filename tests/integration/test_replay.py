"""`events replay` on SQLite and PostgreSQL: failed events run again, done ones stay done.

The handlers here are the test's own, so what a replay does is visible (a call log, and a count
of effects, each made through the gateway's audited mutation as the real handlers' are) and
independent of which event types the worker handles today.
"""

from __future__ import annotations

import json
import tracemalloc
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import update

from worker import samples
from worker.bootstrap import bootstrap
from worker.cli import main
from worker.config import Settings
from worker.db.models import Event
from worker.db.session import session_factory
from worker.errors import FinalError
from worker.eventlog.intake import parse_event, store_event
from worker.eventlog.processing import process_event, process_events
from worker.eventlog.replay import REPLAYABLE, ReplaySummary, replay
from worker.eventlog.selection import EventSelection, Position
from worker.runtime import Runtime

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


class Ledger:
    """A handler that counts its runs and its effects; the effect goes through the gateway's
    guarded mutation, as a refund or a cancellation does, so a replay must not repeat it."""

    def __init__(self, failing: set[str] | None = None) -> None:
        self.calls: list[str] = []
        self.effects: Counter[str] = Counter()
        self.failing = failing or set()

    def handle(self, ctx: Any, _obj: dict[str, Any]) -> None:
        self.calls.append(ctx.event_id)
        if ctx.event_id in self.failing:
            raise FinalError("Stripe refused: card_declined")
        ctx.stripe._mutate("ledger.effect", ctx.event_id, "effect", self._effect(ctx.event_id))

    def _effect(self, event_id: str) -> Callable[[Any], SimpleNamespace]:
        def effect(_options: Any) -> SimpleNamespace:
            self.effects[event_id] += 1
            return SimpleNamespace(id=f"effect_{event_id}")

        return effect

    def process(self, url: str) -> Callable[..., str]:
        return partial(
            process_event,
            runtime_on(url),
            last_attempt=True,
            statuses=REPLAYABLE,
            handlers={"invoice.paid": self.handle},
        )

    def process_many(self, url: str) -> Callable[[list[str]], list[str]]:
        return partial(
            process_events,
            runtime_on(url),
            statuses=REPLAYABLE,
            handlers={"invoice.paid": self.handle},
        )


def runtime_on(url: str) -> Runtime:
    """A runtime on the test's database; the handlers here never call Stripe."""
    return bootstrap(Settings(_env_file=None, database_url=url, broker_url="memory://"))  # type: ignore[call-arg]


def store(url: str, evt: dict[str, Any], received_at: datetime | None = None) -> str:
    sessions = session_factory(url)
    store_event(sessions, parse_event(samples.body(evt)))
    if received_at is not None:
        with sessions.begin() as session:
            session.execute(
                update(Event).where(Event.id == evt["id"]).values(received_at=received_at)
            )
    return evt["id"]


def set_status(url: str, event_id: str, status: str) -> None:
    with session_factory(url).begin() as session:
        session.execute(update(Event).where(Event.id == event_id).values(status=status))


def row(url: str, event_id: str) -> Event:
    with session_factory(url)() as session:
        return session.get_one(Event, event_id)


def run(url: str, selection: EventSelection, ledger: Ledger, **options: Any) -> ReplaySummary:
    summary = ReplaySummary(dry_run=options.get("dry_run", False))
    for outcome in replay(session_factory(url), selection, process=ledger.process(url), **options):
        summary.add(outcome)
    return summary


def test_replaying_failed_events_processes_them_then_a_second_replay_changes_nothing(
    database_url: str,
) -> None:
    ids = [store(database_url, samples.invoice_paid_event()) for _ in range(3)]
    for event_id in ids:
        set_status(database_url, event_id, "failed")
    ledger = Ledger()

    first = run(database_url, EventSelection(status="failed"), ledger)
    assert (first.selected, first.replayed, first.unchanged, first.failed) == (3, 3, 0, 0)
    assert first.by_status == {"failed": 3}
    assert {row(database_url, i).status for i in ids} == {"processed"}

    second = run(database_url, EventSelection(ids=tuple(ids)), ledger)
    assert (second.selected, second.replayed, second.unchanged, second.failed) == (3, 0, 3, 0)
    assert ledger.calls.count(ids[0]) == 2  # the handler ran again...
    assert ledger.effects == Counter(ids)  # ...and its effect happened once for each
    assert row(database_url, ids[0]).attempts == 2  # every run counts as an attempt


def test_a_replay_that_fails_again_names_the_event_and_its_reason(database_url: str) -> None:
    good, bad = (store(database_url, samples.invoice_paid_event()) for _ in range(2))
    summary = run(database_url, EventSelection(ids=(good, bad, "evt_never_stored")), Ledger({bad}))

    assert (summary.replayed, summary.failed) == (1, 1)
    assert summary.failures == [{"id": bad, "error": "FinalError: Stripe refused: card_declined"}]
    assert summary.missing_ids == ["evt_never_stored"]
    assert not summary.ok
    assert row(database_url, bad).status == "failed"


def test_a_batched_replay_keeps_the_others_work_when_one_event_in_the_batch_fails(
    database_url: str,
) -> None:
    ids = [store(database_url, samples.invoice_paid_event()) for _ in range(5)]
    store(database_url, samples.event("balance.available", {"object": "balance"}))
    for event_id in ids:
        set_status(database_url, event_id, "failed")
    ledger = Ledger(failing={ids[2]})  # in the middle of the batch

    summary = ReplaySummary(dry_run=False)
    for outcome in replay(
        session_factory(database_url),
        EventSelection(everything=True),
        process_many=ledger.process_many(database_url),
        batch_size=4,
    ):
        summary.add(outcome)

    assert (summary.selected, summary.replayed, summary.failed) == (6, 5, 1)
    assert summary.failures == [
        {"id": ids[2], "error": "FinalError: Stripe refused: card_declined"}
    ]
    assert [row(database_url, i).status for i in ids] == [
        "processed", "processed", "failed", "processed", "processed"
    ]  # fmt: skip
    assert [row(database_url, i).attempts for i in ids] == [1, 1, 1, 1, 1]
    assert ledger.calls == ids  # each ran once, in the order received
    assert ledger.effects == Counter(i for i in ids if i != ids[2])

    second = Ledger()
    again = run(database_url, EventSelection(ids=tuple(ids)), second)
    assert (again.replayed, again.unchanged, again.failed) == (1, 4, 0)
    assert second.effects == Counter({ids[2]: 1})  # the done ones repeat no effect


def test_an_ignored_event_whose_type_gained_a_handler_is_replayed_into_processed(
    database_url: str,
) -> None:
    event_id = store(database_url, samples.invoice_paid_event())
    set_status(database_url, event_id, "ignored")  # as if it came before its handler existed
    summary = run(database_url, EventSelection(everything=True), Ledger())
    assert (summary.replayed, summary.unchanged) == (1, 0)
    assert row(database_url, event_id).status == "processed"


def test_a_dry_run_counts_the_selection_by_status_and_runs_nothing(database_url: str) -> None:
    ids = [store(database_url, samples.invoice_paid_event()) for _ in range(4)]
    set_status(database_url, ids[0], "failed")
    ledger = Ledger()
    summary = run(database_url, EventSelection(everything=True), ledger, dry_run=True)
    assert (summary.selected, summary.replayed, summary.failed) == (4, 0, 0)
    assert summary.by_status == {"failed": 1, "received": 3}
    assert ledger.calls == []
    assert row(database_url, ids[1]).attempts == 0


def test_filters_combine_on_type_customer_and_the_received_window(database_url: str) -> None:
    inside = store(database_url, samples.invoice_paid_event(customer="cus_a"), T0)
    store(database_url, samples.invoice_paid_event(customer="cus_b"), T0)  # other customer
    store(database_url, samples.invoice_paid_event(customer="cus_a"), T0 + timedelta(hours=2))
    store(
        database_url,
        samples.event("balance.available", {"object": "balance", "customer": "cus_a"}),
        T0,
    )
    selection = EventSelection(
        type="invoice.paid", customer="cus_a", since=T0, until=T0 + timedelta(hours=1)
    )
    summary = run(database_url, selection, Ledger(), dry_run=True)
    assert summary.selected == 1
    assert [o.event_id for o in replay(session_factory(database_url), selection, dry_run=True)] == [
        inside
    ]


def test_paging_visits_every_event_once_in_order_even_when_received_at_ties(
    database_url: str,
) -> None:
    # 23 events in 3 instants: pages of 5 must break ties by id, never skip or repeat.
    ids = [
        store(database_url, samples.invoice_paid_event(), T0 + timedelta(seconds=i % 3))
        for i in range(23)
    ]
    seen = [
        o.event_id
        for o in replay(
            session_factory(database_url),
            EventSelection(everything=True),
            dry_run=True,
            page_size=5,
        )
    ]
    with session_factory(database_url)() as session:
        received = {i: session.get_one(Event, i).received_at for i in ids}
    assert seen == sorted(ids, key=lambda i: (received[i], i))


def test_limit_and_cursor_resume_where_the_last_call_stopped(database_url: str) -> None:
    ids = [
        store(database_url, samples.invoice_paid_event(), T0 + timedelta(seconds=i))
        for i in range(5)
    ]
    sessions = session_factory(database_url)
    everything = EventSelection(everything=True)
    first = list(replay(sessions, everything, dry_run=True, limit=2))
    cursor = first[-1].position.cursor()
    rest = list(replay(sessions, everything, dry_run=True, start=Position.from_cursor(cursor)))
    assert [o.event_id for o in first + rest] == ids


def test_memory_stays_flat_over_100000_events(sqlite_url: str) -> None:
    """A dry run pages through 100,000 rows holding one page; a real replay of 4x more events
    peaks no higher than a small one (what grows is counted, not kept). All events share one
    payload: replaying reads it one event at a time, so its size changes no peak."""
    payload = samples.body(samples.invoice_paid_event())
    sessions = session_factory(sqlite_url)
    keep_nothing = partial(
        process_event,
        runtime_on(sqlite_url),
        statuses=REPLAYABLE,
        handlers={"invoice.paid": lambda _c, _o: None},
    )
    with sessions.begin() as session:
        session.execute(
            Event.__table__.insert(),
            [
                {
                    "id": f"evt_bulk{n:07d}",
                    "type": "invoice.paid",
                    "created": T0,
                    "livemode": False,
                    "payload": payload if n < 1100 else "{}",  # a dry run never reads it
                    "received_at": T0 + timedelta(microseconds=n),
                    "status": "received" if n < 1100 else "processed",
                    "attempts": 0,
                }
                for n in range(100_000)
            ],
        )

    def peak(selection: EventSelection, dry_run: bool, page_size: int = 500) -> tuple[int, int]:
        summary = ReplaySummary(dry_run=dry_run)
        tracemalloc.start()
        outcomes = replay(
            sessions, selection, dry_run=dry_run, process=keep_nothing, page_size=page_size
        )
        for outcome in outcomes:
            summary.add(outcome)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return summary.selected, top

    def between(first: int, last: int) -> EventSelection:
        return EventSelection(
            status="received",
            since=T0 + timedelta(microseconds=first),
            until=T0 + timedelta(microseconds=last),
        )

    selected, dry_peak = peak(EventSelection(everything=True), dry_run=True)
    assert selected == 100_000
    assert dry_peak < 8 * 1024 * 1024, f"dry run peaked at {dry_peak} bytes"

    # Real runs in pages of 50, so both runs span several pages; the first warms caches.
    assert peak(between(0, 100), dry_run=False, page_size=50)[0] == 100
    small, small_peak = peak(between(100, 300), dry_run=False, page_size=50)
    large, large_peak = peak(between(300, 1100), dry_run=False, page_size=50)
    assert (small, large) == (200, 800)
    # 4x the events: a leak of even the 4 KiB payload per event would add ~2.4 MiB; allow
    # 256 KiB of noise (caches warmed by the first pages of a run, the allocator).
    assert large_peak < small_peak * 1.5 + 256 * 1024, (small_peak, large_peak)


def test_the_cli_prints_a_json_summary_and_exits_1_on_a_failure(
    database_url: str, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    evt = samples.invoice_paid_event()
    del evt["data"]["object"]["customer"]  # a payload no invoice handler can use: fails
    bad = store(database_url, evt)
    ok = store(database_url, samples.event("balance.available", {"object": "balance"}))
    for event_id in (bad, ok):
        set_status(database_url, event_id, "failed")
    env = {"DATABASE_URL": database_url, "DATA_DIR": str(tmp_path), "BROKER_URL": "memory://"}

    result = CliRunner().invoke(
        main, ["events", "replay", "--status", "failed", "--format", "json"], env=env
    )
    assert result.exit_code == 1, result.output
    summary = json.loads(result.stdout)
    assert (summary["selected"], summary["replayed"], summary["failed"]) == (2, 1, 1)
    assert summary["failed_ids"] == [bad]
    assert summary["failures"][0]["error"].startswith("MalformedPayload")

    text = CliRunner().invoke(main, ["events", "replay", ok], env=env)
    assert text.exit_code == 0, text.output
    assert "selected 1 event(s) (1 ignored)" in text.stdout
    assert "replayed 0, unchanged 1, failed 0" in text.stdout


def test_the_cli_refuses_a_selection_that_says_nothing_or_mixes_ids_and_filters(
    sqlite_url: str, tmp_path
) -> None:
    env = {"DATABASE_URL": sqlite_url, "DATA_DIR": str(tmp_path)}
    nothing = CliRunner().invoke(main, ["events", "replay"], env=env)
    assert nothing.exit_code == 2 and "--all" in nothing.output
    both = CliRunner().invoke(main, ["events", "replay", "evt_1", "--status", "failed"], env=env)
    assert both.exit_code == 2 and "not both" in both.output
    bad_time = CliRunner().invoke(main, ["events", "replay", "--since", "last week"], env=env)
    assert bad_time.exit_code == 2 and "ISO 8601" in bad_time.output


def test_a_progress_bar_shows_on_a_terminal_and_not_in_a_pipe(sqlite_url: str, tmp_path) -> None:
    import fcntl
    import os
    import pty
    import struct
    import subprocess
    import sys
    import termios

    for _ in range(3):
        store(sqlite_url, samples.event("balance.available", {"object": "balance"}))
    env = os.environ | {"DATABASE_URL": sqlite_url, "DATA_DIR": str(tmp_path)}
    command = [sys.executable, "-m", "worker.cli", "events", "replay", "--all"]

    master, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=terminal) as shown:
        os.close(terminal)
        screen = b""
        while True:  # until the child closes the terminal (EOF, or EIO on Linux)
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            screen += chunk
        summary = shown.stdout.read().decode()
        assert shown.wait(timeout=30) == 0
    os.close(master)
    assert "3/3" in screen.decode() and "event/s" in screen.decode()
    assert "replayed 3, unchanged 0, failed 0" in summary

    piped = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)
    assert piped.returncode == 0
    assert "event/s" not in piped.stderr and "unchanged 3" in piped.stdout
