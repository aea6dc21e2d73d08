"""The seeds' scenarios again, with Stripe played by the stateful double instead of stripe-mock:
after each one, what the customer was charged, minus what was refunded, plus the next invoice,
equals what the policy decided, to the cent, tax included. (test_seed_scenarios.py keeps checking
the request shapes against stripe-mock; these check the money.)

A scenario with a subscription runs in both billing modes (`mode`): flexible, the pinned API
version's default, and classic. Their ledgers are the same here: each change is the first
prorated change of its item in the period, so flexible's credit (from the amount the period's
invoice debited) and classic's (from the item's current price) are one figure. Where they part
(a change after an undone or unprorated one) see test_downgrade_prorations.py. Scenarios with
tax seed the customer with 10% exclusive VAT: every line, proration and preview carries it."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from billing_world import DAY, days_ago
from harness.processes import CLI, ProcessGroup, wait_until
from ledger import assert_ledger
from stripe_double import StripeDouble
from test_seed_scenarios import Stack

from worker import samples
from worker.db.models import Event
from worker.db.session import session_factory

# Two cores shared by a busy suite boot gunicorn and Celery in well over 30 s at times.
PATIENCE_SECONDS = 120


class PatientStack(Stack):
    def wait_done(self, event_id: str) -> None:
        sessions = session_factory(self.database_url)

        def done() -> Event | None:
            with sessions() as session:
                event = session.get(Event, event_id)
                return event if event is not None and event.status != "received" else None

        event = wait_until(done, PATIENCE_SECONDS, f"{event_id} to be processed")
        assert event.status == "processed", event.last_error


@pytest.fixture
def on_double(
    tmp_path: Path,
    pg_url: str,
    redis_url: str,
    service_env,
    double: StripeDouble,
    processes: ProcessGroup,
) -> Iterator[Callable[[str], Stack]]:
    """`on_double(policy)`: the seed scenarios' stack (gunicorn + Celery on Redis and
    PostgreSQL), with `STRIPE_API_BASE` at the double."""

    def start(policy: str) -> Stack:
        env = service_env(
            DATABASE_URL=pg_url,
            BROKER_URL=redis_url,
            BILLING_POLICY=policy,
            STRIPE_API_BASE=double.url,
        )
        return PatientStack.started(processes, env, tmp_path, pg_url)

    yield start


@pytest.fixture(params=["classic", "flexible"])
def mode(request: pytest.FixtureRequest) -> str:
    """The billing mode of the scenario's subscription."""
    return request.param


def refund_request(s: Stack, customer: str, invoice: str) -> dict[str, Any]:
    return s.cli(
        "refunds",
        "request",
        "--customer",
        customer,
        "--invoice",
        invoice,
        "--reason",
        "requested_by_customer",
    )


def annual_paid(double: StripeDouble, customer: str, paid_at: int, number: str) -> dict:
    line = samples.line(
        amount=120000,
        price="price_growth_year",
        period_start=paid_at,
        period_end=paid_at + 365 * DAY,
    )
    return double.paid_invoice(customer, [line], paid_at=paid_at, number=number)


def monthly_subscription(
    double: StripeDouble, sub_id: str, customer: str, price: str, mode: str
) -> dict:
    """Half way through a 30-day period, its first month paid (with the customer's tax)."""
    start = double.clock.now() - 15 * DAY
    amount = double.get("price", price)["unit_amount"]
    line = samples.line(amount=amount, price=price, period_start=start, period_end=start + 30 * DAY)
    double.paid_invoice(customer, [line], paid_at=start, number=f"{sub_id}-1", subscription=sub_id)
    items = [("si_plan", price, 1)]
    return double.subscription(sub_id, customer, items, start, start + 30 * DAY, billing_mode=mode)


def on_a_monthly_plan(
    s: Stack, double: StripeDouble, customer: str, email: str, sub_id: str, price: str, mode: str
) -> dict:
    """`customer` (10% VAT) subscribed monthly to `price` in billing `mode`, with basic (10000)
    and pro (30000) on offer."""
    s.post("customer.created", double.customer(customer, email, tax_percent=10))
    double.price("price_basic", 10000)
    double.price("price_pro", 30000)
    subscription = monthly_subscription(double, sub_id, customer, price, mode)
    s.post("customer.subscription.created", subscription)
    return subscription


def test_mittrik_annual_refund_on_day_6_leaves_one_month_charged(on_double, double) -> None:
    s = on_double("mittrik")
    customer = double.customer("cus_mittrik", "ana@example.com", tax_percent=10)
    s.post("customer.created", customer)
    double.price("price_growth_year", 120000, interval="year")
    s.post("invoice.paid", annual_paid(double, "cus_mittrik", days_ago(6), "M-6"))
    s.post("invoice.paid", annual_paid(double, "cus_mittrik", days_ago(15), "M-15"))

    day6 = refund_request(s, "ana@example.com", "M-6")
    day15 = refund_request(s, "cus_mittrik", "M-15")
    again = refund_request(s, "cus_mittrik", "M-6")

    # Each year paid 120000 + 10% VAT = 132000. M1.annual + M3.partial: 11 of 12 months
    # unused on day 6, of what was paid for the plan, tax included: 132000 × 11 / 12 = 121000;
    # nothing on day 15 (M1.annual).
    assert (day6["status"], day6["amount"]) == ("refunded", 132000 * 11 // 12)
    assert (day15["status"], again["duplicate"]) == ("denied", True)
    assert_ledger(double, "cus_mittrik", expected=2 * 132000 - 121000)


def test_mittrik_fraudulent_chargeback_stops_billing_until_won(on_double, double, mode) -> None:
    s = on_double("mittrik")
    s.post("customer.created", double.customer("cus_cb", "cb@example.com"))
    double.price("price_growth_year", 120000, interval="year")
    paid = annual_paid(double, "cus_cb", days_ago(2), "CB-1")
    double.subscription(
        "sub_cb",
        "cus_cb",
        [("si_cb", "price_growth_year", 1)],
        days_ago(2),
        days_ago(2) + 365 * DAY,
        billing_mode=mode,
    )
    s.post("invoice.paid", paid)
    dispute = double.dispute(double.payment_of(paid["id"])["id"], reason="fraudulent")

    s.post("charge.dispute.created", dispute)
    # M6.dispute: suspended, collection paused: the renewal would be voided, nothing is billed.
    assert double.get("customer", "cus_cb")["metadata"] == {"account_status": "suspended"}
    assert_ledger(double, "cus_cb", expected=120000)

    s.post("charge.dispute.closed", double.set_dispute_status(dispute["id"], "won"))
    # Won: reinstated, the next year is billed again.
    assert double.get("customer", "cus_cb")["metadata"] == {"account_status": "active"}
    assert_ledger(double, "cus_cb", expected=120000 + 120000)


def test_dmly_upgrade_halfway_through_a_month_is_charged_at_once(on_double, double, mode) -> None:
    s = on_double("dmly")
    on_a_monthly_plan(s, double, "cus_dmly", "d@example.com", "sub_dmly", "price_basic", mode)

    # The customer upgrades in the portal, which leaves the proration pending.
    after, previous = double.change_items(
        "sub_dmly", [{"id": "si_plan", "price": "price_pro"}], "create_prorations"
    )
    s.post("customer.subscription.updated", after, previous=previous)

    # D3.upgrade: half a month at the new rate minus half at the old one is charged now:
    # −5000 + 15000 = 10000, + 1000 VAT. The first month was 10000 + 1000, the next is
    # 30000 + 3000. Both modes: basic's credit reverses the period's own 10000 debit.
    assert double.pending_items("cus_dmly") == []
    [upgrade] = double.state.all("invoice", customer="cus_dmly", billing_reason="manual")
    assert upgrade["amount_paid"] == 11000
    assert_ledger(double, "cus_dmly", expected=11000 + 11000 + 33000)


def test_dmly_downgrade_credits_the_unused_half_month(on_double, double, mode) -> None:
    s = on_double("dmly")
    on_a_monthly_plan(s, double, "cus_down", "x@example.com", "sub_down", "price_pro", mode)

    out = subprocess.run(
        [*CLI, "subscriptions", "change", "sub_down", "--price", "price_basic", "--format", "json"],
        env=s.env,
        cwd=s.cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["clause"] == "D3.downgrade"

    # D3.downgrade: half a month at 30000 and half at 10000 this month, 10000 the next, each
    # with 10% VAT: paid 33000; pending −15000 − 1500 + 5000 + 500 = −11000; next month
    # 10000 + 1000 = 11000, all of it paid by the credit. Same in both modes (pro's credit
    # reverses the period's own 30000 debit).
    assert_ledger(double, "cus_down", expected=33000 + (-11000 + 11000))


def test_dmly_refund_keeps_whatsapp_fees_and_overage(on_double, double) -> None:
    s = on_double("dmly")
    s.post("customer.created", double.customer("cus_wa", "wa@example.com"))
    double.price("price_basic", 10000)
    double.price("price_whatsapp", 1, category="pass_through", usage_type="metered")
    double.price("price_overage", 5, category=None, usage_type="metered")
    paid_at = days_ago(2)
    period = {"period_start": paid_at, "period_end": paid_at + 30 * DAY}
    lines = [
        samples.line(amount=10000, price="price_basic", **period),
        samples.line(
            amount=1250, price="price_whatsapp", description="WhatsApp API fees", **period
        ),
        samples.line(
            amount=400, price="price_overage", description="Contacts over limit", **period
        ),
    ]
    s.post("invoice.paid", double.paid_invoice("cus_wa", lines, paid_at=paid_at, number="D-1"))

    request = refund_request(s, "wa@example.com", "D-1")

    # D2.monthly refunds the plan; D4.exclusions keeps the pass-through fees and the overage.
    assert (request["status"], request["amount"]) == ("refunded", 10000)
    assert_ledger(double, "cus_wa", expected=1250 + 400)


def test_mittrik_portal_downgrade_bills_only_the_new_price_next(on_double, double, mode) -> None:
    s = on_double("mittrik")
    on_a_monthly_plan(s, double, "cus_down", "m@example.com", "sub_down", "price_pro", mode)
    double.invoice_item("cus_down", 2500, "Onboarding call")

    after, previous = double.change_items(
        "sub_down", [{"id": "si_plan", "price": "price_basic"}], "create_prorations"
    )
    s.post("customer.subscription.updated", after, previous=previous)

    # M3.downgrade: no credit and no charge for the rest of the month; the one-off item stays.
    # With 10% VAT: 33000 paid, then 10000 + 1000 and 2500 + 250 next.
    assert [i["description"] for i in double.pending_items("cus_down")] == ["Onboarding call"]
    assert_ledger(double, "cus_down", expected=33000 + 11000 + 2750)
