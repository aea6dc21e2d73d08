"""`billing-worker refunds …` exits 1 when the refund it asked for did not happen, and says how to
retry it with the whole command (`--by` included); 0 when it was refunded; 2 on bad usage."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from billing_world import BillingWorld, days_ago
from harness.processes import CLI
from harness.servers import StripeMock
from sqlalchemy import update

from worker import samples
from worker.db.models import Invoice

pytestmark = pytest.mark.services
CLOSED_PORT = "http://127.0.0.1:9"  # nothing listens: Stripe unreachable, a retryable error


def cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(CLI + args, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def bought_6_days_ago(w: BillingWorld) -> None:
    w.customer("cus_ana", "ana@example.com")
    w.catalog(("price_growth_year", "plan", 120000, "year", "licensed"))
    paid_at = days_ago(6)
    line = samples.line(
        amount=120000,
        price="price_growth_year",
        period_start=paid_at,
        period_end=paid_at + 365 * 86400,
    )
    invoice = samples.invoice_with_lines(
        [line], customer="cus_ana", paid_at=paid_at, number="A1-6", payment_intent="pi_ana"
    )
    assert w.deliver("invoice.paid", invoice)[1] == "processed"


def test_a_refund_stripe_could_not_take_exits_1_and_the_retry_it_prints_runs(
    make_settings, sqlite_url: str, stripe_mock: StripeMock, service_env, tmp_path: Path
) -> None:
    w = BillingWorld.create(make_settings(database_url=sqlite_url), stripe_mock.url)
    bought_6_days_ago(w)
    request = ["refunds", "request", "--customer", "cus_ana", "--invoice", "A1-6"]
    request += ["--reason", "requested_by_customer"]

    unreachable = service_env(DATABASE_URL=sqlite_url, STRIPE_API_BASE=CLOSED_PORT)
    done = cli(request, unreachable, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert " approved: approve 110000 usd" in done.stdout
    [hint] = [line for line in done.stdout.splitlines() if "to retry" in line]
    retry = hint.split("`")[1].split()  # billing-worker refunds approve rr_… --by NAME
    assert retry[1:3] == ["refunds", "approve"] and retry[-2:] == ["--by", "NAME"]

    done = cli([*retry[1:-1], "sam@support"], service_env(DATABASE_URL=sqlite_url), tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert " refunded: approve 110000 usd" in done.stdout


def test_a_refund_stripe_refused_ends_failed_and_exits_1(
    make_settings, sqlite_url: str, stripe_mock: StripeMock, service_env, tmp_path: Path
) -> None:
    w = BillingWorld.create(make_settings(database_url=sqlite_url), stripe_mock.url)
    bought_6_days_ago(w)
    with w.runtime.sessions.begin() as session:  # nothing Stripe could refund: a final error
        session.execute(update(Invoice).values(payment_intent_id=None, charge_id=None))
    env = service_env(DATABASE_URL=sqlite_url)
    args = ["refunds", "request", "--customer", "cus_ana", "--invoice", "A1-6"]
    args += ["--reason", "requested_by_customer", "--format", "json"]
    done = cli(args, env, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert '"status": "failed"' in done.stdout
    assert "has no payment to refund" in done.stdout


def test_bad_usage_exits_2(service_env, tmp_path: Path) -> None:
    done = cli(["refunds", "request", "--customer", "cus_ana"], service_env(), tmp_path)
    assert done.returncode == 2
    assert "Missing option '--reason'" in done.stderr
