"""worker.metrics in-process: what the gateway, handlers and intake record, and the event log
read at scrape time (tests/stack scrapes the real multiprocess receiver and worker)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from prometheus_client import REGISTRY
from sqlalchemy import update

from worker import metrics, samples
from worker.config import Settings
from worker.db.models import Event, utcnow
from worker.db.session import session_factory
from worker.eventlog.intake import parse_event, store_event


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_stripe_calls_decisions_and_account_actions_are_counted() -> None:
    calls = sample("billing_stripe_calls_total", method="refunds.create", outcome="ok")
    decided = sample("billing_refund_decisions_total", policy="mittrik", outcome="approve")
    clause = "billing_refund_decision_clauses_total"
    annual = sample(clause, policy="mittrik", outcome="approve", clause="M1.annual")
    suspended = sample("billing_account_actions_total", action="suspend")

    metrics.record_stripe_call("refunds.create", "ok")
    metrics.record_decision("mittrik", "approve", ["M1.annual", "M3.partial"])
    metrics.record_account_action("suspend")

    assert sample("billing_stripe_calls_total", method="refunds.create", outcome="ok") == calls + 1
    assert (
        sample("billing_refund_decisions_total", policy="mittrik", outcome="approve") == decided + 1
    )
    assert sample(clause, policy="mittrik", outcome="approve", clause="M1.annual") == annual + 1
    assert sample("billing_account_actions_total", action="suspend") == suspended + 1


def test_the_event_log_collector_reports_queue_lag_and_waiting_events(sqlite_url: str) -> None:
    sessions = session_factory(sqlite_url)
    empty = {m.name: m for m in metrics.EventLogCollector(sessions).collect()}
    assert empty["billing_queue_lag_seconds"].samples[0].value == 0
    for _ in range(2):
        store_event(sessions, parse_event(samples.body(samples.invoice_paid_event())))
    with sessions.begin() as session:
        session.execute(update(Event).values(received_at=utcnow() - timedelta(seconds=90)))
    waiting = {m.name: m for m in metrics.EventLogCollector(sessions).collect()}
    assert 89 <= waiting["billing_queue_lag_seconds"].samples[0].value < 120
    by_status = {s.labels["status"]: s.value for s in waiting["billing_events"].samples}
    assert by_status == {"received": 2, "failed": 0}
    assert waiting["billing_event_log_up"].samples[0].value == 1


def test_metrics_endpoint_serves_the_process_metrics_and_the_event_log(
    make_settings: Callable[..., Settings], sqlite_url: str
) -> None:
    from webhooks import create_app

    client = create_app(make_settings(database_url=sqlite_url)).test_client()
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=")
    body = response.get_data(as_text=True)
    for name in ("billing_webhook_intake_seconds", "billing_queue_lag_seconds", "billing_events"):
        assert f"# TYPE {name} " in body
