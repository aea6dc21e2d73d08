"""Celery on RabbitMQ instead of Redis: the same code with an `amqp://` BROKER_URL.

No RabbitMQ server runs in this suite; what differs from Redis is checked against a port where
nothing listens: the URL is accepted, Celery uses its AMQP transport, and a delivery is still
stored and answered (not hung on retries) while the broker is down (the sweeper queues it later).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from harness.servers import free_port
from kombu.exceptions import OperationalError
from signing import signed_headers
from sqlalchemy import select

from tasks.celery_app import create_celery, enqueuer
from worker import samples
from worker.config import Settings
from worker.db.models import Event
from worker.db.session import session_factory

# Not a speed limit (bench/ measures speed): how long to wait before calling it a hang.
OUTCOME_WITHIN = 30


def test_an_amqp_broker_url_is_a_valid_setting_and_selects_celerys_amqp_transport(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(broker_url="amqp://billing:secret@rabbitmq:5672//")
    app = create_celery(settings)
    with app.connection_for_write() as connection:
        assert connection.transport_cls == "amqp"
        assert connection.hostname == "rabbitmq" and connection.port == 5672


def test_with_rabbitmq_down_a_publish_fails_at_once_and_the_delivery_is_still_stored(
    make_settings: Callable[..., Settings], sqlite_url: str
) -> None:
    from webhooks import create_app

    settings = make_settings(
        database_url=sqlite_url, broker_url=f"amqp://guest:guest@127.0.0.1:{free_port()}//"
    )
    # A publish that retried the connection would never end: the outcome is awaited, bounded.
    with ThreadPoolExecutor(max_workers=1) as pool:
        publish = pool.submit(enqueuer(create_celery(settings)), "evt_amqp_down")
        with pytest.raises(OperationalError, match="(?i)refused"):
            publish.result(timeout=OUTCOME_WITHIN)

        client = create_app(settings).test_client()
        payload = samples.body(samples.invoice_paid_event())
        delivery = pool.submit(
            client.post, "/webhooks/stripe", data=payload, headers=signed_headers(payload)
        )
        assert delivery.result(timeout=OUTCOME_WITHIN).status_code == 200
    with session_factory(sqlite_url)() as session:
        assert session.scalars(select(Event.status)).all() == ["received"]
