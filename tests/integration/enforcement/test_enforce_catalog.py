"""The catalog (products, prices) handlers on PostgreSQL against stripe-mock."""

from __future__ import annotations

from billing_world import BillingWorld, days_ago
from harness.servers import StripeMock

from worker import samples
from worker.db.models import Event


def test_two_workers_meeting_the_same_new_price_both_succeed_first_time(
    make_settings, pg_url: str, stripe_mock: StripeMock
) -> None:
    """The catalog is shared across customers: its rows are upserted, never SELECT-then-INSERT,
    so two handlers fetching the same unknown price at once do not collide."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    from worker.eventlog.intake import parse_event, store_event
    from worker.eventlog.processing import process_event

    settings = make_settings(database_url=pg_url, billing_policy="dmly")
    w = BillingWorld.create(settings, stripe_mock.url)
    paid_at = days_ago(1)
    events = []
    for n in range(8):
        w.customer(f"cus_race{n}", f"race{n}@example.com")
        line = samples.line(
            amount=500, price="price_race", period_start=paid_at, period_end=paid_at + 30 * 86400
        )
        evt = samples.event(
            "invoice.paid",
            samples.invoice_with_lines([line], customer=f"cus_race{n}", paid_at=paid_at),
        )
        store_event(w.runtime.sessions, parse_event(samples.body(evt)))
        events.append(evt["id"])
    start = Barrier(len(events))

    def run(event_id: str) -> str:
        start.wait()
        return process_event(w.runtime, event_id, last_attempt=False)

    with ThreadPoolExecutor(max_workers=len(events)) as pool:
        assert list(pool.map(run, events)) == ["processed"] * len(events)
    assert [w.one(Event, event_id).attempts for event_id in events] == [1] * len(events)
