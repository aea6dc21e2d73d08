"""Handlers and commands against a real stripe-mock: what we store, and the exact requests we
send (path, parameters, idempotency key). stripe-mock rejects requests that break Stripe's spec."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from billing_world import BillingWorld, days_ago
from servers import StripeMock, pending_proration_mock
from sqlalchemy import select

from worker import samples
from worker.commands.refunds import RequestError, approve, reject, request_refund
from worker.commands.subscriptions import cancel_subscription, change_subscription
from worker.db.models import Customer, Dispute, Event, Invoice, InvoiceLine, Refund, Subscription

PLAN_YEAR = ("price_growth_year", "plan", 120000, "year", "licensed")
PLAN_MONTH = ("price_growth_month", "plan", 10000, "month", "licensed")
PLAN_MONTH_BIG = ("price_scale_month", "plan", 30000, "month", "licensed")
PLAN_MONTH_SMALL = ("price_starter_month", "plan", 4000, "month", "licensed")
AGENTS = ("price_agents", "addon", 1500, "month", "licensed")
WHATSAPP = ("price_whatsapp_fees", "pass_through", 1, "month", "metered")
OVERAGE = ("price_overage", None, 5, "month", "metered")


@pytest.fixture(scope="module")
def credit_proration_mock() -> Iterator[StripeMock]:
    """stripe-mock whose pending invoice item is the credit a portal downgrade leaves."""
    server = pending_proration_mock("ii_portal_credit", -2500, "cus_portal", "sub_portal")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def charge_proration_mock() -> Iterator[StripeMock]:
    """stripe-mock whose pending invoice item is the charge a portal upgrade leaves."""
    server = pending_proration_mock("ii_portal_charge", 10000, "cus_portal", "sub_portal")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def world(make_settings, database_url: str, stripe_mock: StripeMock) -> Callable[..., BillingWorld]:
    def make(policy: str = "mittrik", mock: StripeMock | None = None) -> BillingWorld:
        settings = make_settings(database_url=database_url, billing_policy=policy)
        return BillingWorld.create(settings, (mock or stripe_mock).url)

    return make


def paid_invoice(w: BillingWorld, customer: str, lines: list[dict], paid_at: int, **kwargs) -> dict:
    invoice = samples.invoice_with_lines(lines, customer=customer, paid_at=paid_at, **kwargs)
    _, status = w.deliver("invoice.paid", invoice)
    assert status == "processed"
    return invoice


def annual_line(paid_at: int, amount: int = 120000) -> dict:
    return samples.line(
        amount=amount,
        price="price_growth_year",
        period_start=paid_at,
        period_end=paid_at + 365 * 86400,
    )


# Invoices ----------------------------------------------------------------------------------


def test_invoice_paid_stores_payment_and_each_line_with_its_category(world) -> None:
    w = world("dmly")
    w.customer("cus_lines", "lines@example.com")
    w.catalog(PLAN_MONTH, AGENTS, WHATSAPP, OVERAGE)
    paid_at = days_ago(1)
    period = {"period_start": paid_at, "period_end": paid_at + 30 * 86400}
    invoice = paid_invoice(
        w,
        "cus_lines",
        [
            samples.line(amount=10000, price="price_growth_month", **period),
            samples.line(amount=3000, price="price_agents", quantity=2, **period),
            samples.line(amount=740, price="price_whatsapp_fees", **period),
            samples.line(amount=260, price="price_overage", **period),
        ],
        paid_at,
        payment_intent="pi_lines",
    )
    w.stripe.clear()

    stored = w.one(Invoice, invoice["id"])
    assert (stored.customer, stored.status, stored.amount_paid) == ("cus_lines", "paid", 14000)
    assert stored.payment_intent_id == "pi_lines"
    assert int(stored.paid_at.timestamp()) == paid_at
    with w.runtime.sessions() as session:
        lines = session.scalars(select(InvoiceLine).order_by(InvoiceLine.position)).all()
    assert [(line.category, line.amount, line.interval) for line in lines] == [
        ("plan", 10000, "month"),
        ("addon", 3000, "month"),
        ("pass_through", 740, "month"),
        ("usage", 260, "month"),
    ]


def test_an_unknown_price_is_fetched_once_with_its_product(world) -> None:
    w = world()
    w.customer("cus_fetch", "fetch@example.com")
    paid_at = days_ago(1)
    for _ in range(2):
        line = samples.line(
            amount=500, price="price_never_seen", period_start=paid_at, period_end=paid_at
        )
        paid_invoice(w, "cus_fetch", [line], paid_at)
    fetches = [r for r in w.stripe.sent if r.path == "/v1/prices/price_never_seen"]
    assert len(fetches) == 1
    assert fetches[0].params == {"expand[0]": "product"}


def test_an_invoice_without_its_payment_fetches_the_invoice_payments_once(world) -> None:
    w = world()
    w.customer("cus_pay", "pay@example.com")
    w.catalog(PLAN_YEAR)
    invoice = samples.invoice_with_lines(
        [annual_line(days_ago(1))], customer="cus_pay", paid_at=days_ago(1)
    )
    del invoice["payments"]
    w.deliver("invoice.paid", invoice)
    listing = [r for r in w.stripe.sent if r.path == "/v1/invoice_payments"]
    assert [r.params for r in listing] == [{"invoice": invoice["id"], "limit": "10"}]


def test_an_older_invoice_state_never_replaces_a_newer_one(world) -> None:
    w = world()
    w.customer("cus_order", "order@example.com")
    w.catalog(PLAN_YEAR)
    paid_at = days_ago(1)
    invoice = samples.invoice_with_lines(
        [annual_line(paid_at)], customer="cus_order", paid_at=paid_at
    )
    w.deliver("invoice.paid", invoice, created=paid_at + 10)
    failed = dict(invoice, status="open")
    w.deliver("invoice.payment_failed", failed, created=paid_at - 10)
    assert w.one(Invoice, invoice["id"]).status == "paid"


def test_an_event_for_a_charge_of_no_known_customer_fails_with_the_reason_and_can_replay(
    world,
) -> None:
    w = world()
    dispute = samples.dispute(charge="ch_stranger", payment_intent=None)
    event_id, status = w.deliver("charge.dispute.created", dispute)
    assert status == "failed"
    event = w.one(Event, event_id)
    assert "matches no invoice we know and Stripe names no customer" in event.last_error
    assert w.replay(event_id) == "failed"  # still unknown: replayable, and says so again


# Subscriptions ------------------------------------------------------------------------------


def subscription_with(
    price: dict,
    sub_id: str = "sub_portal",
    customer: str = "cus_portal",
    addons: int = 0,
    addon_price: dict | None = None,
) -> dict:
    start = days_ago(15)
    items = [("si_plan", price, 1)]
    if addon_price is not None:
        items.append(("si_agents", addon_price, addons))
    return samples.subscription(
        sub_id, customer, items, period_start=start, period_end=start + 30 * 86400
    )


def test_a_state_delivered_late_is_ignored_and_the_newest_kept(world) -> None:
    w = world("dmly")
    w.customer("cus_portal", "portal@example.com")
    prices = w.catalog(PLAN_MONTH, PLAN_MONTH_BIG)
    newest = subscription_with(prices["price_scale_month"])
    older = subscription_with(prices["price_growth_month"])
    now = days_ago(0)
    w.deliver("customer.subscription.updated", newest, created=now)
    w.deliver("customer.subscription.updated", older, created=now - 60)
    stored = w.one(Subscription, "sub_portal")
    assert [item["price_id"] for item in stored.items] == ["price_scale_month"]


def test_mittrik_downgrade_in_the_portal_deletes_the_pending_credit(
    world, credit_proration_mock: StripeMock
) -> None:
    w = world("mittrik", credit_proration_mock)
    w.customer("cus_portal", "portal@example.com")
    prices = w.catalog(PLAN_MONTH_BIG, PLAN_MONTH_SMALL)
    w.deliver("customer.subscription.created", subscription_with(prices["price_scale_month"]))
    w.stripe.clear()
    event_id, status = w.deliver(
        "customer.subscription.updated",
        subscription_with(prices["price_starter_month"]),
        previous={"items": subscription_with(prices["price_scale_month"])["items"]},
    )
    assert status == "processed"
    [delete] = w.stripe.mutations()
    assert (delete.method, delete.path) == ("DELETE", "/v1/invoiceitems/ii_portal_credit")
    assert delete.idempotency_key == f"bw:{event_id}:delete_credit_proration:ii_portal_credit"
    [call] = w.audit()
    assert (call.method, call.object_id, call.outcome) == (
        "invoice_items.delete",
        "ii_portal_credit",
        "ok",
    )

    w.stripe.clear()
    assert w.replay(event_id) == "processed"
    assert w.stripe.mutations() == []  # the audit row guards a replay days later


def test_dmly_downgrade_in_the_portal_keeps_the_credit(
    world, credit_proration_mock: StripeMock
) -> None:
    w = world("dmly", credit_proration_mock)
    w.customer("cus_portal", "portal@example.com")
    prices = w.catalog(PLAN_MONTH_BIG, PLAN_MONTH_SMALL)
    w.deliver(
        "customer.subscription.updated",
        subscription_with(prices["price_starter_month"]),
        previous={"items": subscription_with(prices["price_scale_month"])["items"]},
    )
    assert w.stripe.mutations() == []  # D3.downgrade: the unused balance stays credited


def test_dmly_upgrade_left_pending_in_the_portal_is_invoiced_and_collected_now(
    world, charge_proration_mock: StripeMock
) -> None:
    w = world("dmly", charge_proration_mock)
    w.customer("cus_portal", "portal@example.com")
    prices = w.catalog(PLAN_MONTH, PLAN_MONTH_BIG)
    event_id, _ = w.deliver(
        "customer.subscription.updated",
        subscription_with(prices["price_scale_month"]),
        previous={"items": subscription_with(prices["price_growth_month"])["items"]},
    )
    create, pay = w.stripe.mutations()
    assert (create.method, create.path) == ("POST", "/v1/invoices")
    assert create.params == {
        "customer": "cus_portal",
        "subscription": "sub_portal",
        "pending_invoice_items_behavior": "include",
        "auto_advance": "true",
    }
    assert create.idempotency_key == f"bw:{event_id}:invoice_pending_proration:sub_portal"
    assert pay.path.startswith("/v1/invoices/") and pay.path.endswith("/pay")
    assert pay.idempotency_key.startswith(f"bw:{event_id}:pay_pending_proration:")


def test_a_change_we_made_ourselves_is_not_enforced_again(
    world, charge_proration_mock: StripeMock
) -> None:
    w = world("dmly", charge_proration_mock)
    w.customer("cus_portal", "portal@example.com")
    prices = w.catalog(PLAN_MONTH, PLAN_MONTH_BIG)
    w.deliver(
        "customer.subscription.updated",
        subscription_with(prices["price_scale_month"]),
        previous={"items": subscription_with(prices["price_growth_month"])["items"]},
        request_key="bw:change-abc:change_upgrade:sub_portal",
    )
    assert w.stripe.mutations() == []


def test_subscriptions_change_applies_each_policys_proration(world) -> None:
    cases = [
        ("mittrik", "price_starter_month", "downgrade", "none", "M3.downgrade"),
        ("mittrik", "price_scale_month", "upgrade", "always_invoice", "M.upgrade"),
        ("dmly", "price_scale_month", "upgrade", "always_invoice", "D3.upgrade"),
        ("dmly", "price_starter_month", "downgrade", "create_prorations", "D3.downgrade"),
    ]
    for policy, target, kind, behavior, clause in cases:
        w = world(policy)
        w.customer("cus_portal", "portal@example.com")
        prices = w.catalog(PLAN_MONTH, PLAN_MONTH_BIG, PLAN_MONTH_SMALL)
        w.deliver("customer.subscription.created", subscription_with(prices["price_growth_month"]))
        w.stripe.clear()
        result = change_subscription(w.runtime, "sub_portal", price=target)
        assert (result.change, result.proration_behavior, result.clause) == (
            kind,
            behavior,
            clause,
        )
        [update] = w.stripe.mutations()
        assert update.path == "/v1/subscriptions/sub_portal"
        assert update.params == {
            "items[0][id]": "si_plan",
            "items[0][price]": target,
            "proration_behavior": behavior,
        }
        assert update.idempotency_key.endswith(f":change_{kind}:sub_portal")


def test_an_addon_quantity_change_is_prorated(world) -> None:
    w = world("dmly")
    w.customer("cus_portal", "portal@example.com")
    prices = w.catalog(PLAN_MONTH, AGENTS)
    w.deliver(
        "customer.subscription.created",
        subscription_with(
            prices["price_growth_month"], addons=2, addon_price=prices["price_agents"]
        ),
    )
    result = change_subscription(w.runtime, "sub_portal", addon_item="si_agents", quantity=5)
    assert (result.change, result.clause) == ("addon_change", "D3.addons")
    [update] = w.stripe.mutations()
    assert update.params == {
        "items[0][id]": "si_agents",
        "items[0][quantity]": "5",
        "proration_behavior": "create_prorations",
    }


def test_cancel_sets_cancel_at_period_end(world) -> None:
    for policy, clause in (("mittrik", "M3.cancel"), ("dmly", "D1.cancel")):
        w = world(policy)
        w.customer("cus_portal", "portal@example.com")
        prices = w.catalog(PLAN_MONTH)
        w.deliver("customer.subscription.created", subscription_with(prices["price_growth_month"]))
        w.stripe.clear()
        result = cancel_subscription(w.runtime, "sub_portal")
        assert (result.cancel_at_period_end, result.clause) == (True, clause)
        [update] = w.stripe.mutations()
        assert (update.path, update.params) == (
            "/v1/subscriptions/sub_portal",
            {"cancel_at_period_end": "true"},
        )


# Disputes -----------------------------------------------------------------------------------


def disputed_invoice(w: BillingWorld) -> dict:
    w.customer("cus_chargeback", "cb@example.com")
    w.catalog(PLAN_YEAR)
    return paid_invoice(
        w, "cus_chargeback", [annual_line(days_ago(3))], days_ago(3), payment_intent="pi_disputed"
    )


def metric(name: str, **labels: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_mittrik_fraudulent_chargeback_suspends_then_won_reinstates(world) -> None:
    w = world("mittrik")
    disputed_invoice(w)
    suspensions = metric("billing_account_actions_total", action="suspend")
    pauses = metric("billing_stripe_calls_total", method="subscriptions.update", outcome="ok")
    dispute = samples.dispute(charge="ch_disputed", payment_intent="pi_disputed")
    # A second apart: two states of the same second are settled by re-reading the dispute.
    opened, status = w.deliver("charge.dispute.created", dispute, created=days_ago(0) - 60)
    assert status == "processed"
    assert w.one(Customer, "cus_chargeback").account_status == "suspended"
    pause, mark = w.stripe.mutations()
    assert pause.path.startswith("/v1/subscriptions/")
    assert pause.params == {"pause_collection[behavior]": "void"}
    assert pause.idempotency_key.startswith(f"bw:{opened}:pause_collection:")
    assert (mark.path, mark.params) == (
        "/v1/customers/cus_chargeback",
        {"metadata[account_status]": "suspended"},
    )
    row = w.one(Dispute, dispute["id"])
    assert (row.action, row.clause, row.customer) == ("suspend", "M6.dispute", "cus_chargeback")
    assert metric("billing_account_actions_total", action="suspend") == suspensions + 1
    assert (
        metric("billing_stripe_calls_total", method="subscriptions.update", outcome="ok")
        == pauses + 1
    )

    w.stripe.clear()
    _, status = w.deliver("charge.dispute.closed", dict(dispute, status="won"))
    assert w.one(Customer, "cus_chargeback").account_status == "active"
    resume, mark = w.stripe.mutations()
    assert resume.params == {"pause_collection": ""}
    assert mark.params == {"metadata[account_status]": "active"}

    w.stripe.clear()
    assert w.replay(opened) == "processed"
    assert w.stripe.mutations() == []  # the suspension is not repeated on replay


def test_mittrik_lost_chargeback_terminates_without_proration(world) -> None:
    w = world("mittrik")
    disputed_invoice(w)
    dispute = samples.dispute(
        charge="ch_disputed", payment_intent="pi_disputed", reason="unrecognized"
    )
    w.deliver("charge.dispute.created", dispute, created=days_ago(0) - 60)
    w.stripe.clear()
    w.deliver("charge.dispute.closed", dict(dispute, status="lost"))
    cancel, mark = w.stripe.mutations()
    assert cancel.method == "DELETE" and cancel.path.startswith("/v1/subscriptions/")
    assert cancel.params == {"prorate": "false", "invoice_now": "false"}
    assert mark.params == {"metadata[account_status]": "terminated"}
    assert w.one(Customer, "cus_chargeback").account_status == "terminated"


def test_mittrik_chargeback_for_another_reason_is_only_recorded(world) -> None:
    w = world("mittrik")
    disputed_invoice(w)
    w.deliver(
        "charge.dispute.created",
        samples.dispute(
            charge="ch_disputed", payment_intent="pi_disputed", reason="product_not_received"
        ),
    )
    assert w.stripe.mutations() == []
    assert w.one(Customer, "cus_chargeback").account_status == "active"


def test_dmly_chargeback_is_recorded_with_no_suspension(world) -> None:
    w = world("dmly")
    disputed_invoice(w)
    dispute = samples.dispute(charge="ch_disputed", payment_intent="pi_disputed")
    w.deliver("charge.dispute.created", dispute)
    w.deliver("charge.dispute.funds_withdrawn", dispute)
    assert w.stripe.mutations() == []
    row = w.one(Dispute, dispute["id"])
    assert (row.action, row.clause, row.funds_withdrawn) == ("record", "D6.dispute", True)
    assert w.one(Customer, "cus_chargeback").account_status == "active"


# Refunds ------------------------------------------------------------------------------------


def test_mittrik_annual_refund_on_day_6_is_issued_once_with_its_metadata(world) -> None:
    w = world("mittrik")
    w.customer("cus_annual", "annual@example.com")
    w.catalog(PLAN_YEAR)
    paid_at = days_ago(6)
    invoice = paid_invoice(
        w,
        "cus_annual",
        [annual_line(paid_at)],
        paid_at,
        payment_intent="pi_annual",
        number="MITT-0006",
    )
    w.stripe.clear()

    result = request_refund(
        w.runtime,
        customer="annual@example.com",
        invoice="MITT-0006",
        reason="requested_by_customer",
    )
    request = result.request
    assert (request.status, request.amount, request.clauses) == (
        "refunded",
        110000,
        ["M1.annual", "M3.partial"],
    )
    [refund] = w.stripe.mutations()
    assert (refund.path, refund.idempotency_key) == (
        "/v1/refunds",
        f"bw:{request.id}:refund:pi_annual",
    )
    assert refund.params == {
        "payment_intent": "pi_annual",
        "amount": "110000",
        "reason": "requested_by_customer",
        "metadata[refund_request_id]": request.id,
        "metadata[policy]": "mittrik",
        "metadata[policy_version]": "2025-04-10",
        "metadata[clauses]": "M1.annual,M3.partial",
    }
    assert request.refund_id and w.one(Refund, request.refund_id).amount == 110000

    w.stripe.clear()
    again = request_refund(
        w.runtime, customer="cus_annual", invoice=invoice["id"], reason="requested_by_customer"
    )
    assert again.duplicate and again.request.id == request.id
    assert w.stripe.mutations() == []


def test_mittrik_annual_refund_on_day_15_is_denied_without_a_stripe_call(world) -> None:
    w = world("mittrik")
    w.customer("cus_late", "late@example.com")
    w.catalog(PLAN_YEAR)
    paid_at = days_ago(15)
    paid_invoice(w, "cus_late", [annual_line(paid_at)], paid_at, number="MITT-0015")
    w.stripe.clear()
    request = request_refund(
        w.runtime, customer="cus_late", invoice="MITT-0015", reason="requested_by_customer"
    ).request
    assert (request.status, request.clauses) == ("denied", ["M1.annual"])
    assert "14 days" in request.lines[0]["explanation"]
    assert w.stripe.mutations() == []


def test_dmly_refund_skips_whatsapp_fees_and_overage(world) -> None:
    w = world("dmly")
    w.customer("cus_wa", "wa@example.com")
    w.catalog(PLAN_MONTH, WHATSAPP, OVERAGE)
    paid_at = days_ago(1)
    period = {"period_start": paid_at, "period_end": paid_at + 30 * 86400}
    paid_invoice(
        w,
        "cus_wa",
        [
            samples.line(amount=10000, price="price_growth_month", **period),
            samples.line(amount=740, price="price_whatsapp_fees", **period),
            samples.line(amount=260, price="price_overage", **period),
        ],
        paid_at,
        number="DMLY-0001",
        payment_intent="pi_wa",
    )
    request = request_refund(
        w.runtime, customer="cus_wa", invoice="DMLY-0001", reason="requested_by_customer"
    ).request
    assert (request.status, request.amount) == ("refunded", 10000)
    assert [(line["outcome"], line["clauses"]) for line in request.lines] == [
        ("approve", ["D2.monthly"]),
        ("deny", ["D4.exclusions"]),
        ("deny", ["D4.exclusions"]),
    ]
    [refund] = w.stripe.mutations()
    assert refund.params["amount"] == "10000"


def test_a_refund_made_in_the_dashboard_lowers_what_remains_refundable(world) -> None:
    w = world("dmly")
    w.customer("cus_dash", "dash@example.com")
    w.catalog(PLAN_MONTH)
    paid_at = days_ago(1)
    line = samples.line(
        amount=10000,
        price="price_growth_month",
        period_start=paid_at,
        period_end=paid_at + 30 * 86400,
    )
    paid_invoice(w, "cus_dash", [line], paid_at, number="DMLY-0002", payment_intent="pi_dash")
    w.deliver("refund.created", samples.refund(payment_intent="pi_dash", amount=4000))
    request = request_refund(
        w.runtime, customer="cus_dash", invoice="DMLY-0002", reason="requested_by_customer"
    ).request
    assert request.amount == 6000


def test_a_fully_refunded_invoice_is_an_error_not_a_second_refund(world) -> None:
    w = world("dmly")
    w.customer("cus_full", "full@example.com")
    w.catalog(PLAN_MONTH)
    paid_at = days_ago(1)
    line = samples.line(
        amount=10000,
        price="price_growth_month",
        period_start=paid_at,
        period_end=paid_at + 30 * 86400,
    )
    paid_invoice(w, "cus_full", [line], paid_at, number="DMLY-0003", payment_intent="pi_full")
    w.deliver(
        "charge.refunded",
        {
            "id": "ch_full",
            "object": "charge",
            "payment_intent": "pi_full",
            "amount": 10000,
            "amount_refunded": 10000,
            "refunds": {"data": []},
        },
    )
    with pytest.raises(RequestError, match="already refunded in full"):
        request_refund(
            w.runtime, customer="cus_full", invoice="DMLY-0003", reason="requested_by_customer"
        )


def test_a_disputed_payment_is_denied_by_the_dispute_clause(world) -> None:
    w = world("mittrik")
    invoice = disputed_invoice(w)
    w.deliver(
        "charge.dispute.created",
        samples.dispute(
            charge="ch_disputed", payment_intent="pi_disputed", reason="product_not_received"
        ),
    )
    request = request_refund(
        w.runtime, customer="cus_chargeback", invoice=invoice["id"], reason="requested_by_customer"
    ).request
    assert (request.status, request.clauses) == ("denied", ["M6.dispute"])


def test_unknown_customer_and_ambiguous_dates_are_errors_listing_candidates(world) -> None:
    w = world("mittrik")
    w.customer("cus_two", "two@example.com")
    w.catalog(PLAN_YEAR)
    paid_at = days_ago(2)
    first = paid_invoice(w, "cus_two", [annual_line(paid_at)], paid_at, number="TWO-1")
    paid_invoice(w, "cus_two", [annual_line(paid_at + 60)], paid_at + 60, number="TWO-2")
    with pytest.raises(RequestError, match=r"unknown customer nobody@example.com; .*cus_two"):
        request_refund(
            w.runtime,
            customer="nobody@example.com",
            invoice="TWO-1",
            reason="requested_by_customer",
        )
    day = first["status_transitions"]["paid_at"]
    from datetime import UTC, datetime, timedelta

    paid_day = datetime.fromtimestamp(day, UTC).date()
    if datetime.fromtimestamp(day + 60, UTC).date() == paid_day:
        with pytest.raises(RequestError, match="matches several paid invoices: TWO-1 .*TWO-2"):
            request_refund(
                w.runtime,
                customer="cus_two",
                purchase_date=paid_day,
                reason="requested_by_customer",
            )
    with pytest.raises(RequestError, match="matches no paid invoice of cus_two; paid: TWO-1"):
        request_refund(
            w.runtime,
            customer="cus_two",
            purchase_date=paid_day - timedelta(days=9),
            reason="requested_by_customer",
        )


def test_a_review_is_approved_with_a_capped_amount_or_rejected(world) -> None:
    w = world("mittrik")
    w.customer("cus_tech", "tech@example.com")
    w.catalog(PLAN_YEAR)
    paid_at = days_ago(40)
    paid_invoice(
        w, "cus_tech", [annual_line(paid_at)], paid_at, number="TECH-1", payment_intent="pi_tech"
    )
    request = request_refund(
        w.runtime, customer="cus_tech", invoice="TECH-1", reason="technical_issue"
    ).request
    assert (request.status, request.proposed_amount, request.clauses) == (
        "review",
        120000,
        ["M4.technical"],
    )
    assert w.stripe.mutations() == []
    with pytest.raises(RequestError, match="more than the 120000 usd still refundable"):
        approve(w.runtime, request.id, by="sam", amount=120001)
    done = approve(w.runtime, request.id, by="sam", amount=50000)
    assert (done.status, done.amount, done.decided_by) == ("refunded", 50000, "sam")
    credit = done.expected_credit  # M5.request: 5th to 7th business day after approval
    assert credit["from"] < credit["to"]
    [refund] = w.stripe.mutations()
    assert refund.params["amount"] == "50000"
    with pytest.raises(RequestError, match="is refunded, not waiting for review"):
        reject(w.runtime, request.id, by="sam", why="changed my mind")


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
