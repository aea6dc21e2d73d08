"""The Stripe double against the worker's own gateway: what the worker relies on Stripe for
(prorations, previews, refund caps, idempotency, pagination) behaves as Stripe documents it."""

from __future__ import annotations

import threading
from typing import Any

import money_double
import pytest
import stripe
from ledger import ledger
from stripe_double import StripeDouble
from stripe_double.state import StripeError

from worker import samples
from worker.errors import FinalError, RetryableError
from worker.stripe.client import API_VERSION
from worker.stripe.gateway import StripeGateway

DAY = 86400


gateway = money_double.gateway  # fixture


def raw_client(double: StripeDouble) -> stripe.StripeClient:
    """No automatic retries: the test sees each of the double's answers."""
    return stripe.StripeClient(
        "sk_test_123",
        stripe_version=API_VERSION,
        base_addresses={"api": double.url},
        max_network_retries=0,
    )


def monthly_customer(
    double: StripeDouble, *, days_left: int = 15, mode: str = "flexible", **terms: Any
) -> dict[str, Any]:
    """cus_1 on price_pro (30000/month), `days_left` of a 30-day period to run, in billing
    `mode`; `terms`: the customer's `tax_percent`, the subscription's `discount_percent`."""
    tax = {k: terms.pop(k) for k in ("tax_percent", "tax_behavior") if k in terms}
    double.customer("cus_1", "ana@example.com", **tax)
    double.price("price_pro", 30000)
    double.price("price_basic", 10000)
    double.price("price_max", 60000)
    now = double.clock.now()
    start = now - (30 - days_left) * DAY
    items = [("si_1", "price_pro", 1)]
    return double.subscription(
        "sub_1", "cus_1", items, start, start + 30 * DAY, billing_mode=mode, **terms
    )


def move_the_plan_to(gateway: StripeGateway, price: str, proration: str, action: str) -> None:
    """sub_1's one item, si_1, to `price`, prorated as `proration` says."""
    gateway.change_subscription("sub_1", [{"id": "si_1", "price": price}], proration, action)


def paid_annual(double: StripeDouble, customer: str = "cus_1", amount: int = 120000) -> dict:
    double.price("price_growth_year", amount, interval="year")
    now = double.clock.now()
    line = samples.line(
        amount=amount, price="price_growth_year", period_start=now, period_end=now + 365 * DAY
    )
    return double.paid_invoice(customer, [line], paid_at=now, number="A-1")


def test_a_price_change_with_create_prorations_leaves_a_credit_and_a_debit(
    double: StripeDouble, gateway: StripeGateway
) -> None:
    monthly_customer(double, days_left=15)
    move_the_plan_to(gateway, "price_basic", "create_prorations", "downgrade")
    items = sorted(gateway.pending_invoice_items("cus_1"), key=lambda i: i["amount"])
    credit, debit = items
    # Half the period is left: half of 30000 back, half of 10000 due.
    assert (credit["amount"], debit["amount"]) == (-15000, 5000)
    assert credit["pricing"]["price_details"]["price"] == "price_pro"
    assert debit["pricing"]["price_details"]["price"] == "price_basic"
    for item in items:
        assert item["proration"] is True
        assert item["parent"]["subscription_details"] == {
            "subscription": "sub_1",
            "subscription_item": "si_1",
        }
        assert item["period"] == {"start": double.clock.now(), "end": debit["period"]["end"]}


def test_the_preview_bills_the_next_period_at_the_new_price_plus_the_prorations(
    double: StripeDouble, gateway: StripeGateway
) -> None:
    monthly_customer(double, days_left=15)
    move_the_plan_to(gateway, "price_basic", "create_prorations", "downgrade")
    preview = raw_client(double).v1.invoices.create_preview({"customer": "cus_1"})
    assert sorted(line["amount"] for line in preview.lines.data) == [-15000, 5000, 10000]
    assert preview.total == 0  # 10000 next month − 15000 + 5000


@pytest.mark.parametrize(("mode", "charged"), [("classic", 6667), ("flexible", 0)])
def test_always_invoice_bills_the_prorations_at_once_and_none_creates_nothing(
    double: StripeDouble, gateway: StripeGateway, mode: str, charged: int
) -> None:
    monthly_customer(double, days_left=10, mode=mode)
    move_the_plan_to(gateway, "price_basic", "none", "downgrade_none")
    assert gateway.pending_invoice_items("cus_1") == []
    move_the_plan_to(gateway, "price_pro", "always_invoice", "upgrade")
    assert gateway.pending_invoice_items("cus_1") == []
    [invoice] = double.state.all("invoice", customer="cus_1")
    # A third of the period left, +10000 for pro. Classic credits the item's current price,
    # basic (−3333), which was never paid; flexible credits what the period's invoice debited,
    # pro (−10000): nothing to charge.
    assert (invoice["status"], invoice["amount_paid"]) == ("paid", charged)
    assert ledger(double, "cus_1").charged == charged


@pytest.mark.parametrize(("vat", "credit"), [(0, -10000), (10, -11000)])
def test_a_downgrade_invoiced_at_once_leaves_its_credit_on_the_customer_balance(
    double: StripeDouble, gateway: StripeGateway, vat: int, credit: int
) -> None:
    monthly_customer(double, days_left=15, tax_percent=vat)
    move_the_plan_to(gateway, "price_basic", "always_invoice", "downgrade")
    # −15000 + 5000 = −10000, and with 10% VAT −1000 of tax with it.
    assert double.get("customer", "cus_1")["balance"] == credit
    assert ledger(double, "cus_1").next_invoice == 0  # next month's, paid by the credit


def test_a_refund_over_what_remains_refundable_is_refused_and_a_failed_one_frees_it(
    double: StripeDouble, gateway: StripeGateway
) -> None:
    double.customer("cus_1", "ana@example.com")
    pi = double.payment_of(paid_annual(double)["id"])["id"]
    first = gateway.refund(payment_intent=pi, charge=None, amount=110000, metadata={})
    gateway.source_id = "rr_second"
    with pytest.raises(FinalError, match="amount_too_large|greater than unrefunded"):
        gateway.refund(payment_intent=pi, charge=None, amount=10001, metadata={})
    assert double.get("refund", str(first))["status"] == "pending"
    double.settle_refund(str(first), "failed")
    gateway.source_id = "rr_third"
    assert gateway.refund(payment_intent=pi, charge=None, amount=120000, metadata={"a": "b"})
    refunds = raw_client(double).v1.refunds.list({"payment_intent": pi}).data
    assert [(r.amount, r.status) for r in refunds] == [(120000, "pending"), (110000, "failed")]


def test_a_saved_5xx_is_replayed_for_the_same_key_until_the_key_expires(
    double: StripeDouble, gateway: StripeGateway
) -> None:
    double.customer("cus_1", "ana@example.com")
    pi = double.payment_of(paid_annual(double)["id"])["id"]
    double.fail_next("POST", "/v1/refunds", 500)
    with pytest.raises(RetryableError):  # Stripe-Should-Retry: false, so no blind retry
        gateway.refund(payment_intent=pi, charge=None, amount=1000, metadata={})
    # (the gateway then lists the payment's refunds to see whether the 500 refunded anyway)
    attempts = [s for s in double.sent if (s.method, s.path) == ("POST", "/v1/refunds")]
    assert [(s.status, s.replayed) for s in attempts] == [(500, False)]
    assert double.state.all("refund") == []
    saved = attempts[0]  # the same key replays the saved 500, without executing again
    with pytest.raises(stripe.APIError):
        raw_client(double).v1.refunds.create(
            saved.params, {"idempotency_key": saved.idempotency_key}
        )
    assert double.sent[-1].replayed and double.state.all("refund") == []
    double.advance(24 * 3600)
    assert gateway.refund(payment_intent=pi, charge=None, amount=1000, metadata={})
    assert len(double.state.all("refund")) == 1


def test_a_key_in_flight_answers_409_and_a_finished_one_replays_its_result(
    double: StripeDouble,
) -> None:
    double.customer("cus_1", "ana@example.com")
    pi = double.payment_of(paid_annual(double)["id"])["id"]
    client = raw_client(double)
    params: Any = {"payment_intent": pi, "amount": 500}
    hold = double.hold_next("POST", "/v1/refunds")
    first: list[Any] = []
    worker = threading.Thread(
        target=lambda: first.append(client.v1.refunds.create(params, {"idempotency_key": "k1"}))
    )
    worker.start()
    assert hold.reached.wait(10)
    with pytest.raises(stripe.APIError) as in_use:  # stripe-python's class for a 409
        client.v1.refunds.create(params, {"idempotency_key": "k1"})
    error = (in_use.value.json_body or {})["error"]
    assert (in_use.value.http_status, error["code"]) == (409, "idempotency_key_in_use")
    hold.release.set()
    worker.join(10)
    again = client.v1.refunds.create(params, {"idempotency_key": "k1"})
    assert again.id == first[0].id
    assert len(double.state.all("refund")) == 1
    with pytest.raises(stripe.IdempotencyError):  # same key, other parameters
        client.v1.refunds.create({**params, "amount": 600}, {"idempotency_key": "k1"})


def test_lists_page_with_has_more_and_the_gateway_reads_every_page(
    double: StripeDouble, gateway: StripeGateway
) -> None:
    double.customer("cus_1", "ana@example.com")
    double.price("price_seat", 100)
    now = double.clock.now()
    lines = [
        samples.line(amount=100, price="price_seat", period_start=now, period_end=now + DAY)
        for _ in range(230)
    ]
    invoice = double.paid_invoice("cus_1", lines, paid_at=now, number="A-2")
    assert invoice["lines"]["has_more"] is True
    assert [line["id"] for line in gateway.invoice_lines(invoice["id"])] == [
        line["id"] for line in lines
    ]
    pages = [s for s in double.sent if s.path.endswith("/lines")]
    assert [s.params.get("starting_after") for s in pages] == [
        None,
        lines[99]["id"],
        lines[199]["id"],
    ]


def test_faults_rate_limit_and_decline_the_next_calls_only(
    double: StripeDouble, gateway: StripeGateway
) -> None:
    monthly_customer(double)
    double.fail_next("GET", "/v1/customers/*", 429)
    with pytest.raises(RetryableError):
        gateway.customer("cus_1")
    assert gateway.customer("cus_1")["email"] == "ana@example.com"
    double.invoice_item("cus_1", 2500, "Setup fee")
    double.decline_next_payments()
    made = gateway.invoice_pending_now("cus_1", None)  # type: ignore[arg-type]
    [invoice] = double.state.all("invoice", customer="cus_1")
    assert made == invoice["id"]  # a decline there is an outcome, recorded, not an error
    [payment] = double.state.all("invoice_payment", invoice=invoice["id"])
    assert (invoice["status"], payment["status"]) == ("open", "open")


def test_invoice_payments_name_the_default_payment_among_several(
    double: StripeDouble, gateway: StripeGateway
) -> None:
    double.customer("cus_1", "ana@example.com")
    double.invoice_item("cus_1", 4000, "Credits pack")
    double.decline_next_payments()
    invoice = raw_client(double).v1.invoices.create(
        {"customer": "cus_1", "pending_invoice_items_behavior": "include"}
    )
    with pytest.raises(stripe.CardError):
        raw_client(double).v1.invoices.pay(invoice.id)
    raw_client(double).v1.invoices.pay(invoice.id)  # the retry confirms the same intent
    [payment] = double.state.all("invoice_payment", invoice=invoice.id)
    assert (payment["status"], payment["is_default"]) == ("paid", True)
    paid_pi = gateway.invoice_payment(invoice.id)["payment_intent"]  # type: ignore[index]
    assert double.get("payment_intent", paid_pi)["status"] == "succeeded"


def test_a_payment_attached_later_is_not_the_default_one(
    double: StripeDouble, gateway: StripeGateway
) -> None:
    double.customer("cus_1", "ana@example.com")
    now = double.clock.now()
    line = samples.line(amount=4000, price="price_x", period_start=now, period_end=now)
    invoice = double.paid_in_parts("cus_1", [line], [4000], paid_at=now, number="A-1")
    payments = double.state.all("invoice_payment", invoice=invoice["id"])
    assert sorted((p["is_default"], p["status"]) for p in payments) == [
        (False, "paid"),  # the attached payment holds the money
        (True, "canceled"),  # the default one, made at finalization, holds none
    ]
    [paid] = [p for p in payments if p["status"] == "paid"]
    assert gateway.invoice_payment(invoice["id"]) == paid["payment"]  # what a refund aims at


def test_a_disputed_charge_cannot_be_refunded_but_one_under_inquiry_can(
    double: StripeDouble, gateway: StripeGateway
) -> None:
    double.customer("cus_1", "ana@example.com")
    disputed = double.payment_of(paid_annual(double)["id"])["id"]
    double.dispute(disputed, reason="fraudulent")
    with pytest.raises(FinalError, match="disputed"):
        gateway.refund(payment_intent=disputed, charge=None, amount=1000, metadata={})
    inquired = double.payment_of(paid_annual(double)["id"])["id"]
    inquiry = double.dispute(inquired, reason="general", status="warning_needs_response")
    gateway.source_id = "rr_inquiry"
    assert gateway.refund(payment_intent=inquired, charge=None, amount=1000, metadata={})
    assert double.get("dispute", inquiry["id"])["is_charge_refundable"] is True
    lost = double.state.all("dispute", payment_intent=disputed)[0]
    double.set_dispute_status(lost["id"], "lost")
    assert ledger(double, "cus_1").total == 120000 + (120000 - 1000) - 120000


def test_pausing_and_cancelling_a_subscription_stop_its_next_invoice(
    double: StripeDouble, gateway: StripeGateway
) -> None:
    monthly_customer(double)
    gateway.pause_collection("sub_1")
    assert double.get("subscription", "sub_1")["pause_collection"] == {"behavior": "void"}
    assert double.preview("cus_1")["total"] == 0
    gateway.resume_collection("sub_1")
    assert double.preview("cus_1")["total"] == 30000
    gateway.cancel_subscription_now("sub_1")
    assert double.preview("cus_1")["total"] == 0
    assert [s["status"] for s in gateway.subscriptions_of("cus_1")] == ["canceled"]
    assert raw_client(double).v1.subscriptions.list({"customer": "cus_1"}).data == []


def test_keys_are_per_account_and_a_refused_request_that_began_executing_is_saved(
    double: StripeDouble,
) -> None:
    double.customer("cus_1", "ana@example.com")
    pi = double.payment_of(paid_annual(double)["id"])["id"]
    with double.as_account("acct_1"):
        double.customer("cus_1", "other@example.com")
    refund = raw_client(double).v1.refunds.create
    too_much = {"payment_intent": pi, "amount": 999999}
    with pytest.raises(stripe.InvalidRequestError, match="greater than unrefunded"):
        refund(too_much, {"idempotency_key": "k1"})
    with pytest.raises(stripe.InvalidRequestError, match="greater than unrefunded"):
        refund(too_much, {"idempotency_key": "k1"})
    assert double.sent[-1].replayed  # the endpoint began executing: its 400 is saved
    # The same key in another account is another key, and that account sees no such payment.
    with pytest.raises(stripe.InvalidRequestError, match="No such payment_intent"):
        refund(too_much, {"idempotency_key": "k1", "stripe_account": "acct_1"})
    assert not double.sent[-1].replayed
    update = raw_client(double).v1.customers.update
    assert update("cus_1", {"metadata": {"a": "1"}}, {"stripe_account": "acct_1"}).email == (
        "other@example.com"
    )
    assert double.get("customer", "cus_1")["metadata"] == {}  # ours is untouched


def test_a_delete_ignores_its_key_and_an_object_once_deleted_is_not_found(
    double: StripeDouble,
) -> None:
    double.customer("cus_1", "ana@example.com")
    item = double.invoice_item("cus_1", 4000, "Credits pack")
    delete = raw_client(double).v1.invoice_items.delete
    delete(item["id"], None, {"idempotency_key": "k_del"})
    with pytest.raises(stripe.InvalidRequestError, match="No such invoiceitem"):
        delete(item["id"], None, {"idempotency_key": "k_del"})  # not a replay of the first
    with pytest.raises(stripe.InvalidRequestError, match="No such invoiceitem"):
        raw_client(double).v1.invoice_items.retrieve(item["id"])


def test_a_saved_5xx_says_stripe_should_not_retry_it(double: StripeDouble) -> None:
    import requests

    double.fail_next("POST", "/v1/refunds", 500)
    answer = requests.post(
        f"{double.url}/v1/refunds", data={"charge": "ch_1"}, headers={"Idempotency-Key": "k"}
    )
    assert (answer.status_code, answer.headers["Stripe-Should-Retry"]) == (500, "false")


def test_an_open_invoice_is_retried_on_schedule_unless_its_auto_advance_is_off(
    double: StripeDouble,
) -> None:
    monthly_customer(double)
    retried = double.declined_invoice("cus_1", "sub_1", 30000)
    stopped = double.declined_invoice("cus_1", "sub_1", 5000)
    raw_client(double).v1.invoices.update(stopped["id"], {"auto_advance": False})
    double.advance(DAY)
    assert double.get("invoice", retried["id"])["status"] == "open"  # not due yet
    double.advance(2 * DAY)
    assert double.get("invoice", retried["id"])["status"] == "paid"  # charged again
    assert double.get("invoice", stopped["id"])["status"] == "open"
    [payment] = double.state.all("invoice_payment", invoice=retried["id"])
    assert (payment["status"], payment["is_default"]) == ("paid", True)  # the same intent


def test_a_refund_moves_through_its_statuses_and_gives_back_only_when_failed_or_canceled(
    double: StripeDouble,
) -> None:
    double.customer("cus_1", "ana@example.com")
    pi = double.payment_of(paid_annual(double)["id"])["id"]
    refund = raw_client(double).v1.refunds.create
    first = refund({"payment_intent": pi, "amount": 1000})
    second = refund({"payment_intent": pi, "amount": 2000})
    charge = double.get("payment_intent", pi)["latest_charge"]
    assert double.get("charge", charge)["amount_refunded"] == 3000  # pending counts
    double.settle_refund(first.id, "succeeded")
    double.settle_refund(first.id, "failed")  # the bank returned it later
    double.settle_refund(second.id, "requires_action")
    double.settle_refund(second.id, "canceled")
    assert double.get("charge", charge)["amount_refunded"] == 0
    with pytest.raises(StripeError, match="cannot become"):
        double.settle_refund(second.id, "succeeded")
