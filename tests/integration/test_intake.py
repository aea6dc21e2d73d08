"""POST /webhooks/stripe on SQLite and on PostgreSQL, with a real Redis broker.

What Stripe sees (the status code) must match what was stored: a 200 only after the commit,
and every refusal stores nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import redis
from flask.testing import FlaskClient
from signing import WEBHOOK_SECRET, signed_headers
from sqlalchemy import func, select

from webhooks import create_app
from worker import samples
from worker.config import Settings
from worker.db.models import Event
from worker.db.session import session_factory

URL = "/webhooks/stripe"


@pytest.fixture
def settings(make_settings: Callable[..., Settings], database_url: str, redis_url: str) -> Settings:
    return make_settings(database_url=database_url, broker_url=redis_url)


@pytest.fixture
def client(settings: Settings) -> FlaskClient:
    return create_app(settings).test_client()


def stored_events(settings: Settings) -> list[Event]:
    with session_factory(settings.effective_database_url)() as session:
        return list(session.scalars(select(Event)))


def queued(settings: Settings) -> int:
    return redis.Redis.from_url(settings.effective_broker_url).llen("celery")


def post(client: FlaskClient, payload: str, headers: dict[str, str] | None = None):
    return client.post(URL, data=payload.encode(), headers=headers or signed_headers(payload))


def test_a_signed_event_is_committed_with_its_fields_then_acknowledged_and_queued(
    client: FlaskClient, settings: Settings
) -> None:
    evt = samples.invoice_paid_event(customer="cus_intake")
    response = post(client, samples.body(evt))

    assert response.status_code == 200
    assert response.json == {"received": True, "duplicate": False}
    assert response.data == b'{"duplicate":false,"received":true}\n'  # jsonify's bytes, as before
    assert response.mimetype == "application/json"
    [row] = stored_events(settings)
    assert (row.id, row.type, row.status, row.attempts) == (
        evt["id"],
        "invoice.paid",
        "received",
        0,
    )
    assert row.customer == "cus_intake"
    assert row.livemode is False
    assert row.api_version == evt["api_version"] == samples.LEGACY_API_VERSION
    assert int(row.created.timestamp()) == evt["created"]
    assert row.payload == samples.body(evt)  # byte for byte, as signed
    assert row.received_at.tzinfo is not None
    assert queued(settings) == 1


def test_a_duplicate_is_acknowledged_stored_once_and_queued_again_only_while_unprocessed(
    client: FlaskClient, settings: Settings
) -> None:
    payload = samples.body(samples.invoice_paid_event())
    assert post(client, payload).status_code == 200
    second = post(client, payload)
    assert second.status_code == 200 and second.json["duplicate"] is True
    assert second.data == b'{"duplicate":true,"received":true}\n'
    assert len(stored_events(settings)) == 1
    assert queued(settings) == 2  # still `received`: ring again, processing is idempotent

    with session_factory(settings.effective_database_url).begin() as session:
        session.get(Event, json.loads(payload)["id"]).status = "processed"
    third = post(client, payload)
    assert third.status_code == 200 and third.json["duplicate"] is True
    assert queued(settings) == 2


def test_a_secret_in_rotation_is_accepted(make_settings, database_url, redis_url) -> None:
    settings = make_settings(
        database_url=database_url,
        broker_url=redis_url,
        stripe_webhook_secrets=["whsec_new_one", WEBHOOK_SECRET],
    )
    payload = samples.body(samples.invoice_paid_event())
    response = post(create_app(settings).test_client(), payload)
    assert response.status_code == 200
    assert len(stored_events(settings)) == 1


def bad_requests() -> list[tuple[str, Callable[[], tuple[str, dict[str, str]]], str]]:
    good = samples.body(samples.invoice_paid_event())

    def signed(payload: str) -> tuple[str, dict[str, str]]:
        return payload, signed_headers(payload)

    def without(key: str) -> str:
        evt = samples.invoice_paid_event()
        evt.pop(key)
        return json.dumps(evt)

    return [
        (
            "missing header",
            lambda: (good, {"Content-Type": "application/json"}),
            "missing Stripe-Signature header",
        ),
        (
            "forged signature",
            lambda: (good, signed_headers(good, "whsec_forged")),
            "no valid signature",
        ),
        (
            "stale timestamp",
            lambda: (good, signed_headers(good, timestamp=1_600_000_000)),
            "timestamp outside the tolerance zone",
        ),
        ("not JSON", lambda: signed('{"id": "evt_1", "object": "event", '), "not valid JSON"),
        ("JSON not an object", lambda: signed("[1, 2, 3]"), "not a JSON object"),
        ("no id", lambda: signed(without("id")), "event has no id"),
        ("no type", lambda: signed(without("type")), "event has no type"),
        (
            "not an event",
            lambda: signed(json.dumps({"id": "in_1", "object": "invoice", "type": "x"})),
            "not a Stripe event",
        ),
    ]


@pytest.mark.parametrize("case", bad_requests(), ids=lambda case: case[0])
def test_each_bad_request_gets_400_with_its_reason_and_stores_nothing(
    client: FlaskClient, settings: Settings, case
) -> None:
    _name, build, reason = case
    payload, headers = build()
    response = client.post(URL, data=payload.encode(), headers=headers)
    assert response.status_code == 400
    assert reason in response.json["error"]
    assert stored_events(settings) == []
    assert queued(settings) == 0


def test_a_body_over_the_limit_gets_413_and_stores_nothing(
    make_settings, database_url, redis_url
) -> None:
    settings = make_settings(
        database_url=database_url, broker_url=redis_url, webhook_max_body_bytes=4096
    )
    evt = samples.invoice_paid_event()
    evt["data"]["object"]["metadata"] = {"padding": "x" * 5000}
    payload = samples.body(evt)
    counted = too_large_deliveries()
    response = post(create_app(settings).test_client(), payload)
    assert response.status_code == 413
    assert "larger than 4096 bytes" in response.json["error"]
    assert stored_events(settings) == []
    assert too_large_deliveries() == counted + 1  # in billing_webhook_events_total


def too_large_deliveries() -> float:
    from prometheus_client import REGISTRY

    labels = {"type": "unverified", "result": "too_large"}
    return REGISTRY.get_sample_value("billing_webhook_events_total", labels) or 0.0


def test_the_default_limit_is_one_mebibyte(client: FlaskClient, settings: Settings) -> None:
    evt = samples.invoice_paid_event()
    evt["data"]["object"]["metadata"] = {"padding": "x" * (1024 * 1024)}
    assert post(client, samples.body(evt)).status_code == 413
    assert stored_events(settings) == []


def test_database_down_answers_503_so_stripe_retries(make_settings, redis_url) -> None:
    from harness.servers import free_port

    dead = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nothing?connect_timeout=2"
    settings = make_settings(database_url=dead, broker_url=redis_url)
    response = post(create_app(settings).test_client(), samples.body(samples.invoice_paid_event()))
    assert response.status_code == 503
    assert response.json == {"error": "database unavailable, retry later"}
    assert queued(settings) == 0


def test_broker_down_still_acknowledges_the_stored_event_and_the_sweeper_queues_it_later(
    make_settings, database_url, redis_url
) -> None:
    from harness.servers import free_port

    from tasks.celery_app import create_celery, enqueuer
    from worker.eventlog.sweeper import sweep

    down = make_settings(database_url=database_url, broker_url=f"redis://127.0.0.1:{free_port()}/0")
    response = post(create_app(down).test_client(), samples.body(samples.invoice_paid_event()))
    assert response.status_code == 200
    [row] = stored_events(down)
    assert row.status == "received"

    from datetime import timedelta

    up = make_settings(database_url=database_url, broker_url=redis_url)
    sessions = session_factory(database_url)
    assert sweep(sessions, enqueuer(create_celery(up)), timedelta(0)) == 1
    assert queued(up) == 1
    # Just queued: the next sweep inside the grace period leaves it alone.
    assert sweep(sessions, enqueuer(create_celery(up)), timedelta(seconds=60)) == 0
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Event)) == 1


def test_test_mode_events_are_refused_at_a_live_only_endpoint(
    make_settings, database_url, redis_url
) -> None:
    settings = make_settings(
        database_url=database_url, broker_url=redis_url, accept_livemode="live"
    )
    response = post(create_app(settings).test_client(), samples.body(samples.invoice_paid_event()))
    assert response.status_code == 400
    assert "test-mode event refused" in response.json["error"]
    assert stored_events(settings) == []


def test_readyz_reports_database_and_broker(
    client: FlaskClient, make_settings, database_url
) -> None:
    from harness.servers import free_port

    assert client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json["ready"] is True
    down = make_settings(database_url=database_url, broker_url=f"redis://127.0.0.1:{free_port()}/0")
    not_ready = create_app(down).test_client().get("/readyz")
    assert not_ready.status_code == 503
    assert not_ready.json["broker"] == "unreachable"
