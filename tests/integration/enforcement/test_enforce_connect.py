"""Stripe Connect against stripe-mock: a connected account's refund request is decided by that
account's policy (BILLING_POLICY_BY_ACCOUNT) and refunded on that account (Stripe-Account,
its own key), while the platform's customer of the same id keeps the platform's policy."""

from __future__ import annotations

import pytest
from billing_world import BillingWorld, days_ago, monthly_line
from enforcement_scenarios import Catalog, subscription_with
from harness.servers import StripeMock

from worker import samples
from worker.commands.policy_simulation import Simulation, Skipped
from worker.commands.refunds import RequestError, list_requests
from worker.commands.subscriptions import SubscriptionError, cancel_subscription
from worker.db.models import PLATFORM, Refund
from worker.policy import load_policy
from worker.policy.simulation import RequestComparison

DMLY_ACCOUNT = "acct_1DmlyShop"
PLAIN_ACCOUNT = "acct_1PlainShop"  # no policy of its own: the platform's


@pytest.fixture
def w(make_settings, database_url: str, stripe_mock: StripeMock) -> BillingWorld:
    settings = make_settings(
        database_url=database_url,
        billing_policy="mittrik",
        billing_policy_by_account=f"{DMLY_ACCOUNT}=dmly",
    )
    return BillingWorld.create(settings, stripe_mock.url)


def paid_yesterday(w: BillingWorld, account: str) -> None:
    """cus_same paid in_same (a monthly plan, 100.00) a day ago, on `account`."""
    connected = account or None
    w.customer("cus_same", "same@example.com", account=connected)
    w.catalog(Catalog.PLAN_MONTH, account=connected)
    paid_at = days_ago(1)
    invoice = samples.invoice_with_lines(
        [monthly_line(paid_at)],
        customer="cus_same",
        paid_at=paid_at,
        number="SAME-0001",
        payment_intent="pi_same",
    )
    invoice["id"] = "in_same"
    _, status = w.deliver("invoice.paid", invoice, account=connected)
    assert status == "processed"


def test_each_account_is_decided_by_its_policy_and_refunded_on_its_stripe_account(w) -> None:
    for account in (DMLY_ACCOUNT, PLAIN_ACCOUNT, PLATFORM):
        paid_yesterday(w, account)
    w.stripe.clear()

    decided = {}
    for account in (DMLY_ACCOUNT, PLAIN_ACCOUNT, PLATFORM):
        request = w.ask_refund("same@example.com", invoice="SAME-0001", account=account).request
        decided[account] = (request.policy, request.status, request.account)
        assert request.clauses, "every decision names its clause"
        assert all(clause[0] == request.policy[0].upper() for clause in request.clauses)
        if request.status != "refunded":
            assert not w.stripe.sent
            continue
        assert w.one(Refund, request.refund_id, account).request_id == request.id
        [refund] = w.stripe.mutations()
        assert refund.idempotency_key == ":".join(
            part for part in ("bw", account, request.id, "refund", "pi_same") if part
        )
        assert set(w.stripe.stripe_accounts) == {account or None}
        w.stripe.clear()

    # The same facts: DMLY refunds a monthly plan a day old (D2.monthly), Mittrik does not.
    assert decided == {
        DMLY_ACCOUNT: ("dmly", "refunded", DMLY_ACCOUNT),
        PLAIN_ACCOUNT: ("mittrik", "denied", PLAIN_ACCOUNT),
        PLATFORM: ("mittrik", "denied", PLATFORM),
    }
    assert [r.account for r in list_requests(w.runtime, account=DMLY_ACCOUNT)] == [DMLY_ACCOUNT]


def test_a_customer_of_one_account_is_unknown_to_another(w) -> None:
    paid_yesterday(w, DMLY_ACCOUNT)
    with pytest.raises(RequestError, match=f"unknown customer cus_same of {PLAIN_ACCOUNT}"):
        w.ask_refund("cus_same", invoice="SAME-0001", account=PLAIN_ACCOUNT)


def test_a_connected_accounts_subscription_is_cancelled_on_that_account_by_its_policy(w) -> None:
    w.customer("cus_portal", "portal@example.com", account=DMLY_ACCOUNT)
    prices = w.catalog(Catalog.PLAN_MONTH, account=DMLY_ACCOUNT)
    sub = subscription_with(prices["price_growth_month"])
    assert w.deliver("customer.subscription.created", sub, account=DMLY_ACCOUNT)[1] == "processed"
    w.stripe.clear()

    with pytest.raises(SubscriptionError, match="unknown subscription sub_portal:"):
        cancel_subscription(w.runtime, "sub_portal")  # the platform has no such subscription
    cancelled = cancel_subscription(w.runtime, "sub_portal", DMLY_ACCOUNT)

    assert cancelled.clause.startswith("D")  # DMLY's cancellation rule, not Mittrik's
    assert w.stripe.mutations()
    assert set(w.stripe.stripe_accounts) == {DMLY_ACCOUNT}
    assert all(
        call.idempotency_key and call.idempotency_key.startswith(f"bw:{DMLY_ACCOUNT}:")
        for call in w.stripe.mutations()
    )


def test_policy_simulate_decides_each_request_on_its_own_accounts_invoice(w) -> None:
    for account in (DMLY_ACCOUNT, PLATFORM):
        paid_yesterday(w, account)
    made = {
        account: w.ask_refund("cus_same", invoice="SAME-0001", account=account).request
        for account in (DMLY_ACCOUNT, PLATFORM)
    }
    assert (made[DMLY_ACCOUNT].status, made[PLATFORM].status) == ("refunded", "denied")

    dmly = load_policy("dmly")
    compared = {
        account: list(Simulation(w.runtime.sessions, dmly, dmly, account=account).requests())
        for account in (DMLY_ACCOUNT, PLATFORM)
    }

    assert not [c for cs in compared.values() for c in cs if isinstance(c, Skipped)]
    # One account at a time: each sees its own request only.
    assert [c.request_id for c in compared[DMLY_ACCOUNT]] == [made[DMLY_ACCOUNT].id]
    assert [c.request_id for c in compared[PLATFORM]] == [made[PLATFORM].id]
    mine, theirs = compared[DMLY_ACCOUNT][0], compared[PLATFORM][0]
    assert isinstance(mine, RequestComparison) and isinstance(theirs, RequestComparison)
    assert (mine.customer, theirs.customer) == (f"cus_same ({DMLY_ACCOUNT})", "cus_same")
    # The connected account's refund of pi_same is not the platform's: under DMLY the
    # platform's request is refundable in full, as the connected account's was.
    assert (mine.before.amount, theirs.after.amount) == (10000, 10000)
