"""`events backfill` on stripe-mock: what Stripe lists and we lack is stored once and queued."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import redis
from click.testing import CliRunner
from harness.recording_proxy import RecordingProxy
from harness.servers import StripeMock
from sqlalchemy import select

from worker import samples
from worker.cli import main
from worker.db.models import Event, utcnow
from worker.db.session import session_factory
from worker.eventlog.backfill import (
    BackfillSummary,
    BackfillWindowError,
    EventsPage,
    StripeEventsSource,
    backfill,
    check_window,
)
from worker.eventlog.intake import parse_event, store_event
from worker.stripe.client import build_client


def stored_ids(url: str) -> list[str]:
    with session_factory(url)() as session:
        return list(session.scalars(select(Event.id)))


def run(url: str, source: Any, queue: list[str]) -> BackfillSummary:
    now = utcnow()
    summary = BackfillSummary(since=now - timedelta(days=2), until=now)
    for outcome in backfill(session_factory(url), source, queue.append, summary.since, now):
        summary.add(outcome)
    return summary


def test_a_backfill_stores_stripes_event_once_and_a_second_one_stores_nothing_new(
    database_url: str, make_settings, stripe_mock: StripeMock
) -> None:
    source = StripeEventsSource(build_client(make_settings(stripe_api_base=stripe_mock.url)))
    queue: list[str] = []

    first = run(database_url, source, queue)
    [event_id] = stored_ids(database_url)  # stripe-mock lists one fixture event
    assert (first.seen, first.new, first.already_stored, first.queued) == (1, 1, 0, 1)
    assert queue == [event_id]
    with session_factory(database_url)() as session:
        event = session.get_one(Event, event_id)
    assert (event.status, event.type) == ("received", json.loads(event.payload)["type"])
    assert json.loads(event.payload)["object"] == "event"

    second = run(database_url, source, queue)
    assert (second.seen, second.new, second.already_stored) == (1, 0, 1)
    assert stored_ids(database_url) == [event_id]
    # Still `received` (no worker ran): queued again, as a duplicate webhook would be.
    assert queue == [event_id, event_id]


class PagedSource:
    """Stripe's paging contract (newest first, `starting_after` the last id), for more than the
    one event stripe-mock lists."""

    def __init__(self, events: list[dict[str, Any]], page_size: int) -> None:
        self.events, self.page_size = events, page_size
        self.calls: list[str | None] = []

    def page(self, *, gte: int, lte: int, starting_after: str | None) -> EventsPage:
        self.calls.append(starting_after)
        ids = [e["id"] for e in self.events]
        start = ids.index(starting_after) + 1 if starting_after else 0
        chunk = self.events[start : start + self.page_size]
        return EventsPage(chunk, has_more=start + self.page_size < len(self.events))


def test_pages_are_followed_and_only_the_missing_events_are_stored(sqlite_url: str) -> None:
    events = [samples.invoice_paid_event() for _ in range(7)]
    delivered = events[2]
    store_event(session_factory(sqlite_url), parse_event(samples.body(delivered)))
    with session_factory(sqlite_url).begin() as session:
        session.get_one(Event, delivered["id"]).status = "processed"
    source = PagedSource(events, page_size=3)
    queue: list[str] = []

    summary = run(sqlite_url, source, queue)

    assert source.calls == [None, events[2]["id"], events[5]["id"]]
    assert (summary.seen, summary.new, summary.already_stored) == (7, 6, 1)
    assert sorted(queue) == sorted(e["id"] for e in events if e is not delivered)
    assert sorted(stored_ids(sqlite_url)) == sorted(e["id"] for e in events)


def test_a_stored_event_is_still_counted_when_the_broker_is_down(sqlite_url: str) -> None:
    def broker_down(_event_id: str) -> None:
        raise ConnectionError("redis refused")

    now = utcnow()
    source = PagedSource([samples.invoice_paid_event()], page_size=100)
    summary = BackfillSummary(since=now - timedelta(hours=1), until=now)
    for outcome in backfill(session_factory(sqlite_url), source, broker_down, summary.since, now):
        summary.add(outcome)
    assert (summary.new, summary.queued, summary.not_queued) == (1, 0, 1)
    assert len(stored_ids(sqlite_url)) == 1  # the sweeper queues it later


def test_a_window_older_than_stripes_30_days_is_refused_with_the_oldest_allowed() -> None:
    now = utcnow()
    check_window(now - timedelta(days=29, hours=23), now, now)
    with pytest.raises(BackfillWindowError, match="Stripe keeps events for 30 days"):
        check_window(now - timedelta(days=30, seconds=1), now, now)
    with pytest.raises(BackfillWindowError, match="before --until"):
        check_window(now, now - timedelta(hours=1), now)


def test_the_cli_reports_counts_and_queues_on_redis(
    sqlite_url: str, redis_url: str, stripe_mock: StripeMock, tmp_path
) -> None:
    env = {
        "DATABASE_URL": sqlite_url,
        "BROKER_URL": redis_url,
        "STRIPE_API_BASE": stripe_mock.url,
        "STRIPE_API_KEY": "sk_test_123",
        "DATA_DIR": str(tmp_path),
    }
    first = CliRunner().invoke(main, ["events", "backfill", "--since", "3d"], env=env)
    assert first.exit_code == 0, first.output
    assert ": 1 new, 0 already stored" in first.stdout
    assert redis.Redis.from_url(redis_url).llen("celery") == 1

    second = CliRunner().invoke(
        main, ["events", "backfill", "--since", "3d", "--format", "json"], env=env
    )
    assert second.exit_code == 0, second.output
    counts = json.loads(second.stdout)
    assert (counts["seen"], counts["new"], counts["already_stored"]) == (1, 0, 1)

    too_old = CliRunner().invoke(main, ["events", "backfill", "--since", "31d"], env=env)
    assert too_old.exit_code == 2
    assert "Stripe keeps events for 30 days" in too_old.output


def test_the_cli_says_when_stripe_cannot_be_reached(sqlite_url: str, tmp_path) -> None:
    from harness.servers import free_port

    env = {
        "DATABASE_URL": sqlite_url,
        "BROKER_URL": "memory://",
        "STRIPE_API_BASE": f"http://127.0.0.1:{free_port()}",
        "DATA_DIR": str(tmp_path),
    }
    result = CliRunner().invoke(main, ["events", "backfill", "--since", "1h"], env=env)
    assert result.exit_code == 1
    assert "Stripe's Events API failed: APIConnectionError" in result.stderr
    assert result.stdout == ""  # no summary of zeros for a script to read


def test_a_backfill_of_a_connected_account_reads_its_events_api_and_stores_them_as_its(
    sqlite_url: str, make_settings, stripe_mock: StripeMock
) -> None:
    with RecordingProxy(stripe_mock.url) as proxy:
        client = build_client(make_settings(stripe_api_base=proxy.url))
        source = StripeEventsSource(client, account="acct_1Connected")
        now = utcnow()
        outcomes = list(
            backfill(
                session_factory(sqlite_url),
                source,
                lambda _: None,
                now - timedelta(days=2),
                now,
                "acct_1Connected",
            )
        )

    assert [outcome.kind for outcome in outcomes] == ["new"]
    assert [(seen.path.split("?")[0], seen.stripe_account) for seen in proxy.seen] == [
        ("/v1/events", "acct_1Connected")
    ]
    with session_factory(sqlite_url)() as session:
        assert session.get_one(Event, outcomes[0].event_id).account == "acct_1Connected"
