"""The task's domain half: dispatch by type, record processed / ignored / failed on the event."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from worker import samples
from worker.db.models import Event, Invoice
from worker.db.session import session_factory
from worker.errors import RetryableError
from worker.eventlog.intake import parse_event, store_event
from worker.eventlog.processing import process_event


def stored(database_url: str, evt: dict[str, Any]) -> str:
    store_event(session_factory(database_url), parse_event(samples.body(evt)))
    return evt["id"]


def event_row(database_url: str, event_id: str) -> Event:
    with session_factory(database_url)() as session:
        return session.get_one(Event, event_id)


def test_invoice_paid_records_the_payment_and_marks_the_event_processed(
    database_url: str, runtime
) -> None:
    evt = samples.invoice_paid_event(
        customer="cus_rec",
        amount_paid=4900,
        currency="EUR",
        billing_reason="subscription_cycle",
        paid_at=1_745_571_600,
        number="A1B2-0042",
    )
    event_id = stored(database_url, evt)

    assert process_event(runtime, event_id) == "processed"

    with session_factory(database_url)() as session:
        [payment] = session.scalars(select(Invoice)).all()
    invoice = evt["data"]["object"]
    assert payment.id == invoice["id"]
    assert (payment.customer, payment.number) == ("cus_rec", "A1B2-0042")
    assert (payment.amount_paid, payment.currency) == (4900, "eur")
    assert payment.paid_at.isoformat() == "2025-04-25T09:00:00+00:00"
    assert payment.billing_reason == "subscription_cycle"
    row = event_row(database_url, event_id)
    assert (row.status, row.attempts, row.last_error) == ("processed", 1, None)
    assert row.processed_at is not None


def test_a_second_run_of_a_processed_event_does_nothing(database_url: str, runtime) -> None:
    event_id = stored(database_url, samples.invoice_paid_event())
    assert process_event(runtime, event_id) == "processed"
    assert process_event(runtime, event_id) == "processed"
    assert event_row(database_url, event_id).attempts == 1


def test_a_type_without_handler_is_recorded_as_ignored_not_failed(
    database_url: str, runtime
) -> None:
    event_id = stored(
        database_url, samples.event("customer.tax_id.created", {"id": "txi_1", "object": "tax_id"})
    )
    assert process_event(runtime, event_id) == "ignored"
    row = event_row(database_url, event_id)
    assert (row.status, row.last_error) == ("ignored", None)


def test_a_handler_error_parks_the_event_as_failed_with_its_reason(
    database_url: str, runtime
) -> None:
    evt = samples.invoice_paid_event()
    del evt["data"]["object"]["status_transitions"]
    event_id = stored(database_url, evt)

    assert process_event(runtime, event_id) == "failed"

    row = event_row(database_url, event_id)
    assert row.status == "failed"
    assert row.last_error.startswith("MalformedPayload: invoice.paid without")
    assert "Traceback" in row.last_traceback
    with session_factory(database_url)() as session:
        assert session.scalars(select(Invoice)).all() == []


def test_a_retryable_error_keeps_the_event_received_until_the_last_attempt(
    database_url: str, runtime
) -> None:
    def flaky(_ctx: Any, _obj: dict[str, Any]) -> None:
        raise RetryableError("Stripe answered 503")

    event_id = stored(database_url, samples.invoice_paid_event())
    with pytest.raises(RetryableError):
        process_event(
            runtime,
            event_id,
            last_attempt=False,
            handlers={"invoice.paid": flaky},
        )
    row = event_row(database_url, event_id)
    assert (row.status, row.attempts) == ("received", 1)
    assert "Stripe answered 503" in row.last_error

    assert (
        process_event(runtime, event_id, last_attempt=True, handlers={"invoice.paid": flaky})
        == "failed"
    )
    row = event_row(database_url, event_id)
    assert (row.status, row.attempts) == ("failed", 2)


def test_a_failed_event_is_not_run_again_by_a_late_doorbell(database_url: str, runtime) -> None:
    evt = samples.invoice_paid_event()
    del evt["data"]["object"]["customer"]
    event_id = stored(database_url, evt)
    assert process_event(runtime, event_id) == "failed"
    assert process_event(runtime, event_id) == "failed"
    assert event_row(database_url, event_id).attempts == 1


def test_the_send_test_sample_is_processed_without_asking_stripe(database_url: str) -> None:
    """`events send-test` against `billing-worker run` must work with no Stripe account."""
    from billing_world import BillingWorld
    from harness.servers import free_port

    from worker.config import Settings

    settings = Settings(
        _env_file=None,
        database_url=database_url,
        broker_url="memory://",
        stripe_api_base=f"http://127.0.0.1:{free_port()}",
    )  # nothing there
    world = BillingWorld.create(settings, settings.stripe_api_base)
    event_id, status = world.deliver("invoice.paid", samples.invoice_paid_event()["data"]["object"])
    assert status == "processed", world.one(Event, event_id).last_error
    assert world.stripe.sent == []


def test_a_bare_event_is_stored_and_an_unknown_type_ignored_a_known_one_failed_with_the_reason(
    database_url: str, runtime
) -> None:
    sessions = session_factory(database_url)
    for event_id, event_type in (
        ("evt_bare_unknown", "thing.happened"),
        ("evt_bare_invoice", "invoice.paid"),
    ):
        body = f'{{"id": "{event_id}", "object": "event", "type": "{event_type}"}}'
        store_event(sessions, parse_event(body))
    assert process_event(runtime, "evt_bare_unknown") == "ignored"
    assert process_event(runtime, "evt_bare_invoice") == "failed"
    assert event_row(database_url, "evt_bare_invoice").last_error == (
        "MalformedPayload: invoice.paid event has no data.object for its handler"
    )
