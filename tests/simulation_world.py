"""A stored history with a known answer for `policy simulate`: refund requests decided and
refunded, and chargebacks, made by the worker's own handlers and commands on the Stripe double.

Mittrik's annual window is 14 days (336 h). Requests, each received `received_hours_ago`:
- A-6   annual, paid 6 days before its request: approved, 11 of 12 months, and refunded;
- A-15  annual, paid 15 days before: denied (M1.annual); inside a 30-day window: 11 of 12 months;
- A-20  annual, paid 20 days before: the same;
- A-40  annual, paid 40 days before: denied under both;
- M-2   monthly, paid 2 days before: denied under both (M1.monthly);
- A-D   annual, paid 5 days before, under an open fraudulent dispute: denied (M6.dispute).
Accounts: cus_sim (the fraudulent dispute), cus_unrec (an open `unrecognized` dispute),
cus_goods (an open `product_not_received` dispute: never suspends).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from billing_world import BillingWorld
from stripe_double import StripeDouble

from worker import samples

DAY = 86400
ANNUAL = 120000
MONTHLY = 10000
ELEVEN_TWELFTHS = ANNUAL * 11 // 12  # M1.annual + M3.partial: 1 month started, 11 unused
POLICIES = Path(__file__).resolve().parents[1] / "worker" / "policy" / "policies"


@dataclass
class History:
    world: BillingWorld
    double: StripeDouble
    requests: dict[str, str]  # invoice number -> refund request id
    received: dict[str, datetime]  # invoice number -> when its request was received

    def ask(self, number: str, received: int) -> None:
        """cus_sim's refund request for invoice `number`, received at `received` (epoch s)."""
        at = datetime.fromtimestamp(received, UTC)
        result = self.world.ask_refund("cus_sim", invoice=number, received_at=at)
        self.requests[number] = result.request.id
        self.received[number] = at


def _paid(
    w: BillingWorld,
    double: StripeDouble,
    customer: str,
    number: str,
    lines: list[dict[str, Any]],
    paid_at: int,
) -> dict[str, Any]:
    invoice = double.paid_invoice(customer, lines, paid_at=paid_at, number=number)
    assert w.deliver("invoice.paid", invoice)[1] == "processed"
    return invoice


def _annual(paid_at: int) -> list[dict[str, Any]]:
    end = paid_at + 365 * DAY
    return [
        samples.line(amount=ANNUAL, price="price_sim_year", period_start=paid_at, period_end=end)
    ]


def _monthly(paid_at: int, addon: int = 0) -> list[dict[str, Any]]:
    end = paid_at + 30 * DAY
    lines = [
        samples.line(amount=MONTHLY, price="price_sim_month", period_start=paid_at, period_end=end)
    ]
    if addon:
        lines.append(
            samples.line(
                amount=addon, price="price_sim_agents", period_start=paid_at, period_end=end
            )
        )
    return lines


def _customer(w: BillingWorld, double: StripeDouble, customer_id: str) -> None:
    double.customer(customer_id, f"{customer_id}@example.com")
    w.deliver("customer.created", double.get("customer", customer_id))


def _catalog(w: BillingWorld, double: StripeDouble) -> None:
    double.price("price_sim_year", ANNUAL, interval="year")
    double.price("price_sim_month", MONTHLY)
    double.price("price_sim_agents", 1500, category="addon")
    for price in ("price_sim_year", "price_sim_month", "price_sim_agents"):
        w.deliver("product.created", double.get("product", f"prod_for_{price}"))
        w.deliver("price.created", double.get("price", price))


def mittrik_history(world: BillingWorld, double: StripeDouble) -> History:
    """The history of the module's docstring, decided under Mittrik."""
    now = int(datetime.now(UTC).timestamp())
    _catalog(world, double)
    for customer in ("cus_sim", "cus_unrec", "cus_goods"):
        _customer(world, double, customer)
    history = History(world, double, {}, {})
    plan = {  # number: (days paid before the request, hours ago the request came, lines)
        "A-6": (6, 1, _annual),
        "A-15": (15, 2, _annual),
        "A-20": (20, 30, _annual),
        "A-40": (40, 3, _annual),
        "M-2": (2, 4, _monthly),
        "A-D": (5, 5, _annual),
    }
    for number, (days_before, hours_ago, lines) in plan.items():
        received = now - hours_ago * 3600
        paid_at = received - days_before * DAY
        invoice = _paid(world, double, "cus_sim", number, lines(paid_at), paid_at)
        if number == "A-D":
            _dispute(world, double, invoice, "fraudulent")
        history.ask(number, received)
    for customer, reason in (("cus_unrec", "unrecognized"), ("cus_goods", "product_not_received")):
        invoice = _paid(world, double, customer, f"{customer}-1", _annual(now - DAY), now - DAY)
        _dispute(world, double, invoice, reason)
    return history


def _dispute(w: BillingWorld, double: StripeDouble, invoice: dict[str, Any], reason: str) -> None:
    intent = double.payment_of(invoice["id"])["id"]
    assert w.deliver("charge.dispute.created", double.dispute(intent, reason=reason))[1] == (
        "processed"
    )


def dmly_history(world: BillingWorld, double: StripeDouble) -> History:
    """DMLY: a monthly plan with 3 agents (an add-on, 4500) paid a day before its request, and
    a plan alone paid the same way; both approved in full (D2.monthly, D2.window)."""
    now = int(datetime.now(UTC).timestamp())
    _catalog(world, double)
    _customer(world, double, "cus_sim")
    history = History(world, double, {}, {})
    for number, addon in (("D-AGENTS", 4500), ("D-PLAN", 0)):
        received = now - 3600
        paid_at = received - DAY
        _paid(world, double, "cus_sim", number, _monthly(paid_at, addon), paid_at)
        history.ask(number, received)
    return history


def proposed_file(tmp_path: Path, base: str, *changes: tuple[str, str]) -> Path:
    """A company's policy file: the built-in `base` with each (old, new) text replaced."""
    text = (POLICIES / f"{base}.toml").read_text()
    for old, new in changes:
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / f"proposed-{base}.toml"
    path.write_text(text)
    return path


THIRTY_DAY_WINDOW = ("annual_window_hours = 336", "annual_window_hours = 720")
FRAUD_NO_LONGER_SUSPENDS = (
    'dispute_suspend_reasons = ["fraudulent", "unrecognized", "general", "debit_not_authorized"]',
    'dispute_suspend_reasons = ["unrecognized", "general", "debit_not_authorized"]',
)
ADDONS_EXCLUDED = (
    'non_refundable = ["pass_through", "usage"]',
    'non_refundable = ["pass_through", "usage", "addon"]',
)


def cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worker.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def cli_env(tmp_path: Path, **values: str) -> dict[str, str]:
    """A shell with only what the command needs: no Stripe key (it must not call Stripe)."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_", "BROKER_", "STRIPE_", "BILLING_"))
    }
    return {**base, "DATA_DIR": str(tmp_path / "data"), "LOG_LEVEL": "WARNING", **values}


def hours_ago(hours: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours)).isoformat()
