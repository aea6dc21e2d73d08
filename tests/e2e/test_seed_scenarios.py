"""The seeds' scenarios end to end: signed events posted to gunicorn, processed by a real Celery
worker over Redis on PostgreSQL, Stripe played by stripe-mock, refunds asked through the CLI."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import pytest
from billing_world import DAY, days_ago
from harness.deliveries import deliver, wait_handled
from harness.processes import ProcessGroup, cli_json
from harness.servers import free_port
from signing import WEBHOOK_SECRET
from sqlalchemy import select

from worker import samples
from worker.db.models import Customer, StripeCall
from worker.db.session import session_factory


@dataclass
class Stack:
    port: int
    env: dict[str, str]
    cwd: Path
    database_url: str

    @classmethod
    def started(
        cls, processes: ProcessGroup, env: dict[str, str], cwd: Path, database_url: str
    ) -> Self:
        """A Celery worker and a gunicorn receiver of ours on `env`, at a free port."""
        port = free_port()
        env = env | {"PORT": str(port)}
        processes.worker(env)
        processes.receiver(env)
        return cls(port, env, cwd, database_url)

    def post(self, event_type: str, obj: dict[str, Any], **kwargs: Any) -> str:
        evt = samples.event(event_type, obj, created=kwargs.pop("created", None))
        if "previous" in kwargs:
            evt["data"]["previous_attributes"] = kwargs.pop("previous")
        url = f"http://127.0.0.1:{self.port}/webhooks/stripe"
        response = deliver(url, evt, WEBHOOK_SECRET, timeout=10)
        assert response.status_code == 200, response.text
        event = wait_handled(self.database_url, evt["id"])
        assert event.status == "processed", event.last_error
        return evt["id"]

    def cli(self, *args: str) -> dict[str, Any]:
        return cli_json([*args, "--format", "json"], self.env, self.cwd)

    def calls(self) -> list[StripeCall]:
        with session_factory(self.database_url)() as session:
            return list(session.scalars(select(StripeCall).order_by(StripeCall.id)))

    def customer(self, customer_id: str) -> Customer:
        with session_factory(self.database_url)() as session:
            return session.get_one(Customer, ("", customer_id))

    def catalog(self, *prices: tuple[str, str | None, int, str | None, str]) -> dict[str, Any]:
        made = {}
        for price_id, category, unit_amount, interval, usage_type in prices:
            self.post("product.created", samples.product(f"prod_for_{price_id}", category))
            price = samples.price(
                price_id,
                f"prod_for_{price_id}",
                unit_amount,
                interval=interval,
                usage_type=usage_type,
            )
            self.post("price.created", price)
            made[price_id] = price
        return made


@pytest.fixture
def stack(
    tmp_path: Path, pg_url: str, redis_url: str, service_env, processes: ProcessGroup
) -> Callable[..., Stack]:
    def start(policy: str, stripe_base: str | None = None) -> Stack:
        extra = {"STRIPE_API_BASE": stripe_base} if stripe_base else {}
        env = service_env(DATABASE_URL=pg_url, BROKER_URL=redis_url, BILLING_POLICY=policy, **extra)
        return Stack.started(processes, env, tmp_path, pg_url)

    return start


def annual_invoice(customer: str, paid_at: int, number: str) -> dict[str, Any]:
    line = samples.line(
        amount=120000,
        price="price_growth_year",
        period_start=paid_at,
        period_end=paid_at + 365 * DAY,
    )
    return samples.invoice_with_lines(
        [line], customer=customer, paid_at=paid_at, number=number, payment_intent=f"pi_{number}"
    )


def test_mittrik_annual_refund_asked_on_day_6_is_refunded_and_on_day_15_refused(stack) -> None:
    s = stack("mittrik")
    s.post(
        "customer.created", {"id": "cus_mittrik", "object": "customer", "email": "ana@example.com"}
    )
    s.catalog(("price_growth_year", "plan", 120000, "year", "licensed"))
    s.post("invoice.paid", annual_invoice("cus_mittrik", days_ago(6), "M-6"))
    s.post("invoice.paid", annual_invoice("cus_mittrik", days_ago(15), "M-15"))

    day6 = s.cli(
        "refunds",
        "request",
        "--customer",
        "ana@example.com",
        "--invoice",
        "M-6",
        "--reason",
        "requested_by_customer",
    )
    assert (day6["status"], day6["amount"], day6["clauses"]) == (
        "refunded",
        110000,
        ["M1.annual", "M3.partial"],
    )
    assert day6["expected_credit"] is not None
    day15 = s.cli(
        "refunds",
        "request",
        "--customer",
        "cus_mittrik",
        "--invoice",
        "M-15",
        "--reason",
        "requested_by_customer",
    )
    assert (day15["status"], day15["amount"], day15["clauses"]) == ("denied", None, ["M1.annual"])
    again = s.cli(
        "refunds",
        "request",
        "--customer",
        "cus_mittrik",
        "--invoice",
        "M-6",
        "--reason",
        "requested_by_customer",
    )
    assert again["duplicate"] is True
    refunds = [c for c in s.calls() if c.method == "refunds.create"]
    assert [(c.object_id, c.outcome) for c in refunds] == [("pi_M-6", "ok")]


def test_mittrik_fraudulent_chargeback_suspends_then_won_reinstates(stack) -> None:
    s = stack("mittrik")
    s.post("customer.created", {"id": "cus_cb", "object": "customer", "email": "cb@example.com"})
    s.catalog(("price_growth_year", "plan", 120000, "year", "licensed"))
    s.post("invoice.paid", annual_invoice("cus_cb", days_ago(2), "CB-1"))
    dispute = samples.dispute(charge="ch_cb", payment_intent="pi_CB-1", reason="fraudulent")

    # A minute before the closing: states of the same second are settled by re-reading Stripe.
    s.post("charge.dispute.created", dispute, created=days_ago(0) - 60)
    assert s.customer("cus_cb").account_status == "suspended"
    assert [c.method for c in s.calls()] == ["subscriptions.update", "customers.update"]

    s.post("charge.dispute.closed", dict(dispute, status="won"))
    assert s.customer("cus_cb").account_status == "active"
    methods = [(c.method, c.idempotency_key.split(":")[2]) for c in s.calls()]
    assert methods[2:] == [
        ("subscriptions.update", "resume_collection"),
        ("customers.update", "account_status_active"),
    ]


def test_dmly_upgrade_halfway_through_a_month_is_invoiced_at_once(
    stack, charge_proration_mock
) -> None:
    s = stack("dmly", charge_proration_mock.url)
    s.post("customer.created", {"id": "cus_portal", "object": "customer", "email": "d@example.com"})
    prices = s.catalog(
        ("price_basic", "plan", 10000, "month", "licensed"),
        ("price_pro", "plan", 30000, "month", "licensed"),
    )
    start = days_ago(15)

    def sub(price: dict[str, Any]) -> dict[str, Any]:
        return samples.subscription(
            "sub_portal",
            "cus_portal",
            [("si_plan", price, 1)],
            period_start=start,
            period_end=start + 30 * DAY,
        )

    s.post("customer.subscription.created", sub(prices["price_basic"]))
    event_id = s.post(
        "customer.subscription.updated",
        sub(prices["price_pro"]),
        previous={"items": sub(prices["price_basic"])["items"]},
    )
    assert [(c.method, c.event_id) for c in s.calls()] == [
        ("invoices.create", event_id),
        ("invoices.pay", event_id),
    ]


def test_dmly_downgrade_is_credited(stack) -> None:
    s = stack("dmly")
    s.post("customer.created", {"id": "cus_down", "object": "customer", "email": "x@example.com"})
    prices = s.catalog(
        ("price_basic", "plan", 10000, "month", "licensed"),
        ("price_pro", "plan", 30000, "month", "licensed"),
    )
    start = days_ago(15)
    s.post(
        "customer.subscription.created",
        samples.subscription(
            "sub_down",
            "cus_down",
            [("si_plan", prices["price_pro"], 1)],
            period_start=start,
            period_end=start + 30 * DAY,
        ),
    )
    change = ["subscriptions", "change", "sub_down", "--price", "price_basic", "--format", "json"]
    changed = cli_json(change, s.env, s.cwd)
    assert changed == {
        "subscription": "sub_down",
        "change": "downgrade",
        "proration_behavior": "create_prorations",
        "clause": "D3.downgrade",
    }
    [call] = s.calls()
    assert (call.method, call.object_id, call.outcome) == ("subscriptions.update", "sub_down", "ok")


def test_dmly_refund_of_an_invoice_with_whatsapp_fees_and_overage(stack) -> None:
    s = stack("dmly")
    s.post("customer.created", {"id": "cus_wa", "object": "customer", "email": "wa@example.com"})
    s.catalog(
        ("price_basic", "plan", 10000, "month", "licensed"),
        ("price_whatsapp", "pass_through", 1, "month", "metered"),
        ("price_overage", None, 5, "month", "metered"),
    )
    paid_at = days_ago(2)
    period = {"period_start": paid_at, "period_end": paid_at + 30 * DAY}
    invoice = samples.invoice_with_lines(
        [
            samples.line(amount=10000, price="price_basic", **period),
            samples.line(
                amount=1250, price="price_whatsapp", description="WhatsApp API fees", **period
            ),
            samples.line(
                amount=400, price="price_overage", description="Contacts over limit", **period
            ),
        ],
        customer="cus_wa",
        paid_at=paid_at,
        number="D-1",
        payment_intent="pi_wa",
    )
    s.post("invoice.paid", invoice)

    request = s.cli(
        "refunds",
        "request",
        "--customer",
        "wa@example.com",
        "--invoice",
        "D-1",
        "--reason",
        "requested_by_customer",
    )
    assert (request["status"], request["amount"]) == ("refunded", 10000)
    assert [line["clauses"] for line in request["lines"]] == [
        ["D2.monthly"],
        ["D4.exclusions"],
        ["D4.exclusions"],
    ]
    [call] = s.calls()
    assert (call.method, call.object_id) == ("refunds.create", "pi_wa")
