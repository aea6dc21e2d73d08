"""A worker dies after Stripe carried out a mutating call and before our transaction committed
(so our audit row is lost with it); it is restarted and the work runs again. What Stripe
received and kept is counted at the double: exactly one refund, one pause. The same holds for
the refund retry path (a retryable error, then `refunds approve` again)."""

from __future__ import annotations

import pytest
from double_world import CUSTOMER, DoubleWorld, double_world
from ledger import ledger
from sqlalchemy import select
from stripe_double import StripeDouble

from worker.commands.refunds import (
    RequestError,
    approve,
    get_request,
    list_requests,
    request_refund,
)
from worker.db.models import Customer, Event
from worker.eventlog.processing import process_event

MITTRIK_DAY_3 = 110000


class WorkerDied(BaseException):
    """Not an Exception: nothing in the worker catches it, as nothing survives a SIGKILL; the
    open transaction is rolled back, exactly what the database does for a dead connection."""


@pytest.fixture
def w(make_settings, sqlite_url: str, double: StripeDouble) -> DoubleWorld:
    return double_world(make_settings, sqlite_url, double, "mittrik")


def die_once(monkeypatch: pytest.MonkeyPatch, target: str) -> None:
    """The first call of `target` (made after the Stripe call, before the commit) kills us."""
    module, name = target.rsplit(".", 1)
    original = getattr(__import__(module, fromlist=[name]), name)
    calls = {"n": 0}

    def dying(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise WorkerDied
        return original(*args, **kwargs)

    monkeypatch.setattr(target, dying)


def executed(w: DoubleWorld, method: str, path: str) -> list:
    return [
        s
        for s in w.double.sent
        if (s.method, s.path) == (method, path) and s.status == 200 and not s.replayed
    ]


def test_a_crash_after_the_refund_call_and_a_retry_refund_once(
    w: DoubleWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    w.paid_annual_invoice()
    die_once(monkeypatch, "worker.commands.refunds.upsert")
    with pytest.raises(WorkerDied):
        request_refund(
            w.world.runtime, customer=CUSTOMER, invoice="A-1", reason="requested_by_customer"
        )
    [request_id] = [r.id for r in _requests(w)]
    assert get_request(w.world.runtime, request_id).status == "approved"  # our commit was lost

    retried = approve(w.world.runtime, request_id, by="ops (restart)")

    [refund] = w.double.state.all("refund")
    assert (refund["amount"], retried.status, retried.refund_id) == (
        MITTRIK_DAY_3,
        "refunded",
        refund["id"],
    )
    assert len(executed(w, "POST", "/v1/refunds")) == 1
    assert ledger(w.double, CUSTOMER).refunded == MITTRIK_DAY_3


def test_a_rate_limited_refund_approved_again_reuses_its_key_and_refunds_once(
    w: DoubleWorld,
) -> None:
    invoice = w.paid_annual_invoice()
    w.double.fail_next("POST", "/v1/refunds", 429)
    first = request_refund(
        w.world.runtime, customer=CUSTOMER, invoice="A-1", reason="requested_by_customer"
    ).request
    assert first.status == "approved" and "refunds approve" in str(first.error)
    assert w.double.state.all("refund") == []

    again = approve(w.world.runtime, first.id, by="sam@support")
    assert again.status == "refunded"
    with pytest.raises(RequestError, match="is refunded"):
        approve(w.world.runtime, first.id, by="sam@support")
    [refund] = w.double.state.all("refund")
    assert refund["amount"] == MITTRIK_DAY_3
    keys = {
        s.idempotency_key for s in w.double.sent if (s.method, s.path) == ("POST", "/v1/refunds")
    }
    assert keys == {f"bw:{first.id}:refund:{w.payment_intent(invoice)}"}


def test_a_crash_after_the_pause_and_a_restart_pause_once(
    w: DoubleWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    pi = w.payment_intent(w.paid_annual_invoice())
    die_once(monkeypatch, "worker.handlers.disputes.record_account_action")
    dispute = w.double.dispute(pi, reason="fraudulent")
    with pytest.raises(WorkerDied):
        w.deliver("charge.dispute.created", dispute)
    [event_id] = _event_ids(w, "charge.dispute.created")
    assert w.world.one(Event, event_id).status == "received"  # rolled back with the worker
    assert w.world.one(Customer, CUSTOMER).account_status == "active"

    # The restarted worker (or the sweeper) processes the event again.
    assert process_event(w.world.runtime, event_id) == "processed"

    assert len(executed(w, "POST", "/v1/subscriptions/sub_dbl")) == 1
    assert len(executed(w, "POST", f"/v1/customers/{CUSTOMER}")) == 1
    assert w.subscription()["pause_collection"] == {"behavior": "void"}
    assert w.account_status() == "suspended"
    assert w.world.one(Customer, CUSTOMER).account_status == "suspended"


def _requests(w: DoubleWorld) -> list:
    return list_requests(w.world.runtime)


def _event_ids(w: DoubleWorld, event_type: str) -> list[str]:
    with w.world.runtime.sessions() as session:
        return list(session.scalars(select(Event.id).where(Event.type == event_type)))
