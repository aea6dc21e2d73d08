"""Mutations against Stripe's idempotency rules, on the stateful double (issue 13 #4): a 409 in
flight is retryable; a 5xx is resolved by re-reading Stripe, not by replaying the saved 5xx; a
derived key is used only once Stripe shows no effect; a day later our refund is found, not
made twice."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from money_double import monthly_subscription, paid_payment
from sqlalchemy import select
from sqlalchemy.orm import Session
from stripe_double import StripeDouble

from worker.db.migrate import upgrade
from worker.db.models import StripeCall
from worker.db.session import session_factory
from worker.errors import FinalError, RetryableError
from worker.stripe.client import build_client
from worker.stripe.gateway import StripeGateway

REQUEST = "rr_retry"


@pytest.fixture
def gateways(
    double: StripeDouble, sqlite_url: str, make_settings, tmp_path: Path
) -> Iterator[Callable[..., StripeGateway]]:
    """Gateways for one refund request, each in its own session, as successive attempts
    have; `elsewhere=True` is another worker's (its own database file, since SQLite would
    serialise the two transactions before either reached Stripe); `event=` an event
    handler's, keyed by that event instead."""
    settings = make_settings(database_url=sqlite_url, stripe_api_base=double.url)
    client = build_client(settings)
    other_url = f"sqlite:///{tmp_path / 'other.sqlite3'}"
    upgrade(other_url)
    factories = {False: session_factory(sqlite_url), True: session_factory(other_url)}
    opened: list[Session] = []

    def attempt(*, elsewhere: bool = False, event: str | None = None) -> StripeGateway:
        session = factories[elsewhere]()
        opened.append(session)
        if event is not None:
            return StripeGateway(client, session, event, event_id=event)
        return StripeGateway(client, session, REQUEST, request_id=REQUEST)

    yield attempt
    for session in opened:
        session.close()


def finish(gateway: StripeGateway) -> None:
    """What a caller does after a failed attempt: keep the failed calls' audit rows."""
    gateway.session.rollback()
    gateway.session.add_all(gateway.failed_calls)
    gateway.session.commit()


def refund(gateway: StripeGateway, pi: str) -> str | None:
    meta = {"refund_request_id": REQUEST}
    return gateway.refund(payment_intent=pi, charge=None, amount=5000, metadata=meta)


def refund_posts(double: StripeDouble) -> list[tuple[int, str | None, bool]]:
    return [
        (s.status, s.idempotency_key, s.replayed)
        for s in double.sent
        if (s.method, s.path) == ("POST", "/v1/refunds")
    ]


def test_a_409_for_a_key_in_flight_is_retryable_not_final(
    double: StripeDouble, gateways: Callable[..., StripeGateway]
) -> None:
    pi = paid_payment(double)
    hold = double.hold_next("POST", "/v1/refunds")
    first: list[str | None] = []
    worker = threading.Thread(target=lambda: first.append(refund(gateways(elsewhere=True), pi)))
    worker.start()
    assert hold.reached.wait(10)
    try:
        with pytest.raises(RetryableError, match="in-progress|409|another"):
            refund(gateways(), pi)
    finally:
        hold.release.set()
        worker.join(10)
    assert first and first[0]
    assert [r["id"] for r in double.state.all("refund")] == first


@pytest.mark.parametrize(
    "source", [{}, {"event": "evt_undo"}], ids=["a refund request's", "an event handler's"]
)
def test_a_5xx_after_stripe_refunded_is_found_and_recorded_done(
    double: StripeDouble, gateways: Callable[..., StripeGateway], source: dict[str, str]
) -> None:
    pi = paid_payment(double)
    double.apply_then_fail_next("POST", "/v1/refunds", 500)
    gateway = gateways(**source)
    refund_id = refund(gateway, pi)
    [made] = double.state.all("refund")
    assert refund_id == made["id"]
    gateway.session.commit()
    [call] = gateway.session.scalars(select(StripeCall)).all()
    assert (call.outcome, call.result_id) == ("ok", made["id"])
    gateway.session.commit()
    assert refund(gateways(**source), pi) == made["id"]  # done: no second POST
    assert len(refund_posts(double)) <= 3  # the first call and stripe-python's own retries


def test_a_saved_5xx_with_no_effect_is_retried_under_a_derived_key(
    double: StripeDouble, gateways: Callable[..., StripeGateway]
) -> None:
    pi = paid_payment(double)
    double.fail_next("POST", "/v1/refunds", 500)
    first = gateways()
    with pytest.raises(RetryableError):
        refund(first, pi)
    finish(first)
    assert [c.outcome for c in first.failed_calls] == ["no_effect"]
    refund_id = refund(gateways(), pi)
    [made] = double.state.all("refund")
    assert refund_id == made["id"] and made["amount"] == 5000
    keys = [key for _, key, _ in refund_posts(double)]
    assert keys[-1] == f"{keys[0]}:retry1"  # the saved 500 was not asked for again


def test_a_day_after_an_unknown_outcome_the_refund_is_found_not_made_twice(
    double: StripeDouble, gateways: Callable[..., StripeGateway]
) -> None:
    pi = paid_payment(double)
    double.apply_then_fail_next("POST", "/v1/refunds", 500)
    for _ in range(3):  # the look before the POST passes; the one after it fails: unknown
        double.fail_after("GET", "/v1/refunds", 503, after=1)
    first = gateways()
    with pytest.raises(RetryableError):
        refund(first, pi)
    finish(first)
    assert [c.outcome for c in first.failed_calls] == ["unknown"]
    double.advance(25 * 3600)  # Stripe has forgotten the key
    [made] = double.state.all("refund")
    assert refund(gateways(), pi) == made["id"]
    assert len(double.state.all("refund")) == 1
    assert len({key for _, key, _ in refund_posts(double)}) == 1  # no POST after the day


def test_a_pause_applied_despite_a_5xx_is_recorded_done(
    double: StripeDouble, gateways: Callable[..., StripeGateway]
) -> None:
    monthly_subscription(double)
    double.apply_then_fail_next("POST", "/v1/subscriptions/sub_1", 503)
    assert gateways().pause_collection("sub_1") == "sub_1"
    assert double.get("subscription", "sub_1")["pause_collection"] == {"behavior": "void"}


def test_a_refusal_stays_final(
    double: StripeDouble, gateways: Callable[..., StripeGateway]
) -> None:
    pi = paid_payment(double)
    gateway = gateways()
    with pytest.raises(FinalError):
        gateway.refund(payment_intent=pi, charge=None, amount=999999, metadata={})
