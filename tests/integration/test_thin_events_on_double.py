"""Thin events (an event destination with `event_payload: thin`) through the real receiver and
the worker, on the stateful Stripe double: each names its object, the worker reads that object
from Stripe when it processes the event, and the snapshot type's handler does the rest."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from double_world import CUSTOMER, SUBSCRIPTION, DoubleWorld, double_world
from flask.testing import FlaskClient
from signing import OLD_WEBHOOK_SECRET, signed_headers
from sqlalchemy import select
from stripe_double import StripeDouble

from webhooks import create_app
from worker import samples
from worker.db.models import (
    Customer,
    Dispute,
    Event,
    Invoice,
    Price,
    Product,
    Refund,
    Subscription,
)
from worker.db.session import session_factory
from worker.eventlog.processing import process_event
from worker.handlers import HANDLERS

URL = "/webhooks/stripe"
OFFSITE = "https://elsewhere.test/v1/invoices/in_1"  # not an API path: never fetched


@dataclass
class ThinWorld:
    """The double world, with a receiver (the Flask app on the same database) to post to."""

    w: DoubleWorld
    receiver: FlaskClient

    @property
    def double(self) -> StripeDouble:
        return self.w.double

    def post(self, body: str, headers: dict[str, str] | None = None) -> Any:
        return self.receiver.post(URL, data=body.encode(), headers=headers or signed_headers(body))

    def send_thin(self, event_type: str, obj: dict[str, Any], **thin: Any) -> tuple[str, str]:
        """Post the thin version of an `event_type` event about `obj`, then process it as the
        worker does; (event id, status)."""
        self.w.clock += 1
        evt = samples.thin_event(samples.event(event_type, obj, created=self.w.clock), **thin)
        response = self.post(samples.body(evt))
        assert response.status_code == 200, response.json
        return evt["id"], process_event(self.w.world.runtime, evt["id"])

    def row(self, model: Any, key: str) -> Any:
        return self.w.world.one(model, key)

    def fetched(self, path: str) -> list[str]:
        """The double's GETs of `path` (the related object's URL)."""
        return [s.path for s in self.double.sent if s.method == "GET" and s.path == path]


@pytest.fixture
def thin(make_settings, sqlite_url: str, double: StripeDouble) -> ThinWorld:
    w = double_world(make_settings, sqlite_url, double, "mittrik")
    receiver = create_app(make_settings(database_url=sqlite_url)).test_client()
    return ThinWorld(w, receiver)


# One scenario per handled type: put the object in Stripe's state (the double), send its thin
# event, and check what the worker stored is the object as Stripe has it.
Scenario = Callable[[ThinWorld, str], tuple[str, str]]


def customer_changed(t: ThinWorld, event_type: str) -> tuple[str, str]:
    customer = t.double.get("customer", CUSTOMER)
    t.double.state.get("customer", CUSTOMER)["email"] = "ana.new@example.com"
    sent = t.send_thin(event_type, customer)
    assert t.row(Customer, CUSTOMER).email == "ana.new@example.com"  # fetched, not the old one
    return sent


def product_changed(t: ThinWorld, event_type: str) -> tuple[str, str]:
    product = t.double.product("prod_thin", "addon")
    sent = t.send_thin(event_type, {"id": product["id"], "object": "product"})
    assert t.row(Product, "prod_thin").category == "addon"
    return sent


def price_changed(t: ThinWorld, event_type: str) -> tuple[str, str]:
    t.double.price("price_thin", 4500, interval="month", category="addon")
    sent = t.send_thin(event_type, {"id": "price_thin", "object": "price"})
    assert t.row(Price, "price_thin").unit_amount == 4500
    return sent


def invoice_changed(t: ThinWorld, event_type: str) -> tuple[str, str]:
    if event_type == "invoice.paid":
        invoice = t.w.paid_annual_invoice()  # its snapshot first: the row the thin one updates
        t.row(Invoice, invoice["id"])
    else:
        invoice = t.double.state.create_invoice(CUSTOMER, SUBSCRIPTION, items=[])
        invoice["status"] = "void" if event_type == "invoice.voided" else "open"
    sent = t.send_thin(event_type, {"id": invoice["id"], "object": "invoice"})
    stored = t.row(Invoice, invoice["id"])
    state = t.double.get("invoice", invoice["id"])
    assert (stored.status, stored.amount_paid) == (state["status"], state["amount_paid"])
    return sent


def subscription_changed(t: ThinWorld, event_type: str) -> tuple[str, str]:
    if event_type == "customer.subscription.deleted":
        t.double.state.cancel_subscription(SUBSCRIPTION, {})
    sent = t.send_thin(event_type, {"id": SUBSCRIPTION, "object": "subscription"})
    stored = t.row(Subscription, SUBSCRIPTION)
    assert stored.status == t.double.get("subscription", SUBSCRIPTION)["status"]
    assert [i["price_id"] for i in stored.items] == ["price_dbl_year"]
    return sent


def dispute_changed(t: ThinWorld, event_type: str) -> tuple[str, str]:
    dispute = t.double.dispute(t.w.payment_intent(t.w.paid_annual_invoice()))
    if event_type == "charge.dispute.closed":
        t.double.set_dispute_status(dispute["id"], "lost")
    sent = t.send_thin(event_type, {"id": dispute["id"], "object": "dispute"})
    stored = t.row(Dispute, dispute["id"])
    assert stored.status == t.double.get("dispute", dispute["id"])["status"]
    assert stored.customer == CUSTOMER
    return sent


def charge_refunded(t: ThinWorld, event_type: str) -> tuple[str, str]:
    invoice = t.w.paid_annual_invoice()
    charge = t.double.payment_of(invoice["id"])["latest_charge"]
    t.double.state.create_refund({"charge": charge, "amount": 20000})
    sent = t.send_thin(event_type, {"id": charge, "object": "charge"})
    assert t.row(Invoice, invoice["id"]).amount_refunded_reported == 20000
    return sent


def refund_changed(t: ThinWorld, event_type: str) -> tuple[str, str]:
    charge = t.double.payment_of(t.w.paid_annual_invoice()["id"])["latest_charge"]
    refund = t.double.state.create_refund({"charge": charge, "amount": 5000})
    if event_type != "refund.created":
        t.double.settle_refund(
            refund["id"], "failed" if event_type == "refund.failed" else "succeeded"
        )
    sent = t.send_thin(event_type, {"id": refund["id"], "object": "refund"})
    assert t.row(Refund, refund["id"]).status == t.double.get("refund", refund["id"])["status"]
    return sent


SCENARIOS: dict[str, Scenario] = {
    "customer.created": customer_changed,
    "customer.updated": customer_changed,
    "product.created": product_changed,
    "product.updated": product_changed,
    "price.created": price_changed,
    "price.updated": price_changed,
    "invoice.paid": invoice_changed,
    "invoice.payment_failed": invoice_changed,
    "invoice.voided": invoice_changed,
    "customer.subscription.created": subscription_changed,
    "customer.subscription.updated": subscription_changed,
    "customer.subscription.deleted": subscription_changed,
    "charge.dispute.created": dispute_changed,
    "charge.dispute.closed": dispute_changed,
    "charge.dispute.funds_withdrawn": dispute_changed,
    "charge.dispute.funds_reinstated": dispute_changed,
    "charge.dispute.updated": dispute_changed,
    "charge.refunded": charge_refunded,
    "refund.created": refund_changed,
    "refund.updated": refund_changed,
    "refund.failed": refund_changed,
    "charge.refund.updated": refund_changed,
}


def test_every_handled_type_has_a_thin_scenario() -> None:
    assert set(SCENARIOS) == set(HANDLERS)


@pytest.mark.parametrize("event_type", list(SCENARIOS))
def test_a_thin_event_runs_its_types_handler_on_the_object_read_from_stripe(
    thin: ThinWorld, event_type: str
) -> None:
    event_id, status = SCENARIOS[event_type](thin, event_type)
    event = thin.row(Event, event_id)
    assert status == "processed", event.last_error
    assert (event.type, event.payload_type) == (f"v1.{event_type}", "thin")
    related = json.loads(event.payload)["related_object"]
    assert thin.fetched(related["url"]), "the worker read the object from Stripe"


def test_a_thin_event_stores_stripes_current_state_whatever_order_it_is_processed_in(
    thin: ThinWorld,
) -> None:
    sub = {"id": SUBSCRIPTION, "object": "subscription"}
    thin.double.change_items(SUBSCRIPTION, [{"id": "si_dbl", "quantity": 2}], "none")
    first = samples.thin_event(samples.event("customer.subscription.updated", sub))
    thin.double.change_items(SUBSCRIPTION, [{"id": "si_dbl", "quantity": 3}], "none")
    last = samples.thin_event(samples.event("customer.subscription.updated", sub))
    # The later change's event is processed first, the earlier one after it.
    for evt in (last, first):
        assert thin.post(samples.body(evt)).status_code == 200
    for evt in (last, first):
        assert process_event(thin.w.world.runtime, evt["id"]) == "processed"
    assert thin.row(Subscription, SUBSCRIPTION).items[0]["quantity"] == 3


def test_a_redelivered_thin_event_is_stored_once_and_handled_once(thin: ThinWorld) -> None:
    evt = samples.thin_event(
        samples.event("customer.updated", {"id": CUSTOMER, "object": "customer"})
    )
    body = samples.body(evt)
    first, again = thin.post(body), thin.post(body)
    assert (first.status_code, first.json["duplicate"]) == (200, False)
    assert (again.status_code, again.json["duplicate"]) == (200, True)
    runtime = thin.w.world.runtime
    assert process_event(runtime, evt["id"]) == "processed"
    assert process_event(runtime, evt["id"]) == "processed"  # the second doorbell: no work
    with runtime.sessions() as session:
        assert session.scalars(select(Event.id).where(Event.id == evt["id"])).all() == [evt["id"]]
    assert thin.fetched(f"/v1/customers/{CUSTOMER}") == [f"/v1/customers/{CUSTOMER}"]


def test_a_thin_event_of_a_type_without_handler_is_stored_and_ignored(thin: ThinWorld) -> None:
    ping = {
        "id": "evt_test_ping",
        "object": "v2.core.event",
        "type": "v2.core.event_destination.ping",
        "created": "2026-12-02T02:00:00.000Z",
        "livemode": False,
        "related_object": {
            "id": "ed_test_1",
            "type": "v2.core.event_destination",
            "url": "/v2/core/event_destinations/ed_test_1",
        },
    }
    assert thin.post(json.dumps(ping)).status_code == 200
    assert process_event(thin.w.world.runtime, "evt_test_ping") == "ignored"
    assert not thin.fetched("/v2/core/event_destinations/ed_test_1")


@pytest.mark.parametrize(("key", "enforced"), [("bw:rr_1:downgrade", False), (None, True)])
def test_a_downgrade_is_enforced_unless_the_thin_events_reason_names_our_own_request(
    thin: ThinWorld, key: str | None, enforced: bool
) -> None:
    # Stored: the annual plan. Stripe now: a cheaper one, with the prorations it made for it.
    thin.send_thin("customer.subscription.created", {"id": SUBSCRIPTION, "object": "subscription"})
    thin.double.price("price_dbl_lite", 60000, interval="year")
    items = [{"id": "si_dbl", "price": "price_dbl_lite"}]
    thin.double.change_items(SUBSCRIPTION, items, "create_prorations")
    assert thin.double.pending_items(CUSTOMER)
    sub = {"id": SUBSCRIPTION, "object": "subscription"}
    snapshot = samples.event("customer.subscription.updated", sub, created=thin.double.clock.now())
    snapshot["request"] = {"id": "req_1", "idempotency_key": key}
    evt = samples.thin_event(snapshot)
    assert thin.post(samples.body(evt)).status_code == 200
    assert process_event(thin.w.world.runtime, evt["id"]) == "processed"
    # M3.downgrade removes the prorations of a change made elsewhere; ours applied the policy.
    assert (thin.double.pending_items(CUSTOMER) == []) is enforced


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"related_object": {"id": "in_1", "type": "invoice"}}, "related_object must have"),
        ({"related_object": {"id": "in_1", "type": "invoice", "url": OFFSITE}}, "API path url"),
        ({"created": 1764640800}, "RFC 3339"),
        ({"created": "yesterday"}, "RFC 3339"),
        ({"context": 42}, "context must be a string"),
        ({"object": "v2.core.evnt"}, 'object must be "event" or "v2.core.event"'),
        ({"id": ""}, "event has no id"),
    ],
)  # fmt: skip
def test_a_malformed_thin_event_is_refused_with_400_saying_what_is_wrong_and_not_stored(
    thin: ThinWorld, change: dict[str, Any], message: str
) -> None:
    evt = samples.thin_event(samples.event("invoice.paid", {"id": "in_1", "object": "invoice"}))
    body = json.dumps({**evt, **change})
    response = thin.post(body)
    assert response.status_code == 400
    assert message in response.json["error"]
    with thin.w.world.runtime.sessions() as session:
        assert session.get(Event, evt["id"]) is None


def test_a_thin_event_signed_with_an_unknown_secret_is_refused_and_not_stored(
    thin: ThinWorld,
) -> None:
    evt = samples.thin_event(samples.event("invoice.paid", {"id": "in_1", "object": "invoice"}))
    body = samples.body(evt)
    response = thin.post(body, signed_headers(body, secret=OLD_WEBHOOK_SECRET))
    assert response.status_code == 400
    assert "signature" in response.json["error"]
    with thin.w.world.runtime.sessions() as session:
        assert session.get(Event, evt["id"]) is None


def test_a_thin_event_and_its_snapshot_twin_make_each_stripe_call_once(thin: ThinWorld) -> None:
    """While both destinations run, one portal downgrade arrives twice: as a thin event naming
    its snapshot twin (`snapshot_event`), and as that snapshot. M3.downgrade takes the
    proration credit back from the balance once, whichever comes first."""
    thin.send_thin("customer.subscription.created", {"id": SUBSCRIPTION, "object": "subscription"})
    thin.double.price("price_dbl_lite", 60000, interval="year")
    items = [{"id": "si_dbl", "price": "price_dbl_lite"}]
    after, previous = thin.double.change_items(SUBSCRIPTION, items, "always_invoice")
    credit = thin.double.get("customer", CUSTOMER)["balance"]
    assert credit < 0  # the portal's proration, credited to the customer
    snapshot = samples.event(
        "customer.subscription.updated", after, created=thin.double.clock.now()
    )
    snapshot["data"]["previous_attributes"] = previous
    twin = samples.thin_event(snapshot, twin=True)
    for evt in (twin, snapshot):
        assert thin.post(samples.body(evt)).status_code == 200
        assert process_event(thin.w.world.runtime, evt["id"]) == "processed"
    debits = thin.double.state.all("customer_balance_transaction", customer=CUSTOMER)
    assert [d["amount"] for d in debits] == [-credit]
    assert thin.double.get("customer", CUSTOMER)["balance"] == 0


def test_a_thin_event_is_stored_with_its_kind_time_account_and_customer(
    make_settings, database_url: str
) -> None:
    receiver = create_app(make_settings(database_url=database_url)).test_client()
    customer = {"id": "cus_thin", "object": "customer"}
    snapshot = samples.event("customer.updated", customer, created=1764640800)
    snapshot["account"] = "acct_connected"
    evt = samples.thin_event(snapshot)
    evt["created"] = "2025-12-02T02:00:00.250Z"  # thin events keep milliseconds
    body = samples.body(evt)
    response = receiver.post(URL, data=body.encode(), headers=signed_headers(body))
    assert response.status_code == 200
    with session_factory(database_url)() as session:
        row = session.get_one(Event, evt["id"])
        assert (row.type, row.payload_type, row.status) == (
            "v1.customer.updated",
            "thin",
            "received",
        )
        assert row.created == datetime(2025, 12, 2, 2, 0, 0, 250000, tzinfo=UTC)
        assert (row.account, row.customer, row.api_version) == ("acct_connected", "cus_thin", None)
        assert row.payload == body


def test_a_connected_accounts_thin_event_reads_its_object_in_that_account(
    thin: ThinWorld,
) -> None:
    with thin.double.as_account("acct_connected"):  # its own customer, of the same id
        thin.double.customer(CUSTOMER, "connected@example.com")
    snapshot = samples.event("customer.updated", {"id": CUSTOMER, "object": "customer"})
    snapshot["account"] = "acct_connected"
    evt = samples.thin_event(snapshot)  # `context`: the connected account
    assert thin.post(samples.body(evt)).status_code == 200
    assert process_event(thin.w.world.runtime, evt["id"]) == "processed"
    [read] = [s for s in thin.double.sent if s.path == f"/v1/customers/{CUSTOMER}"]
    assert read.context == "acct_connected"


def test_a_thin_event_naming_no_object_is_kept_and_fails_saying_so(thin: ThinWorld) -> None:
    evt = samples.thin_event(samples.event("invoice.paid", {"id": "in_1", "object": "invoice"}))
    del evt["related_object"]  # nothing lost: stored, then failed with its reason, replayable
    assert thin.post(samples.body(evt)).status_code == 200
    assert process_event(thin.w.world.runtime, evt["id"]) == "failed"
    assert thin.row(Event, evt["id"]).last_error == (
        "MalformedPayload: thin event without related_object"
    )
