"""Six money defects a review against Stripe's docs found, each where the double used to behave
unlike Stripe; every test here failed before its fix, and asserts the end state at the double.

1. a downgrade made with `proration_behavior=none` refunded an earlier upgrade's invoice;
2. undoing a change invoiced at once left out its tax and discounts;
3. a 5xx after Stripe acted, or a replay after Stripe forgot the key, made a second refund,
   balance debit or invoice;
4. a suspended account's open invoices kept being collected (a pause stops only new ones);
5. a refund aimed at the invoice's default payment when another, attached payment paid it;
6. unauthorized bank debits (`debit_not_authorized`) did not suspend a Mittrik account.
"""

from __future__ import annotations

from collections.abc import Callable

import money_double
import pytest
from billing_world import BillingWorld
from double_world import CUSTOMER, SUBSCRIPTION, DoubleWorld, double_world
from ledger import assert_ledger
from money_double import (
    DAY,
    monthly_subscription,
    one_line_paid_in_parts,
    paid_payment,
    refund_asked,
)
from sqlalchemy.orm import Session
from stripe_double import StripeDouble

from worker.commands.subscriptions import change_subscription
from worker.db.models import Event
from worker.db.session import session_factory
from worker.errors import RetryableError
from worker.stripe.client import build_client
from worker.stripe.gateway import StripeGateway

make_world = money_double.make_world  # fixture


# 1 ----------------------------------------------------------------------------------------


def test_a_downgrade_with_none_a_day_after_an_upgrade_invoiced_at_once_refunds_nothing(
    double: StripeDouble, make_world: Callable[..., BillingWorld]
) -> None:
    world = make_world("mittrik")
    created = monthly_subscription(double)  # price_pro 30000/month, 15 of 30 days left
    world.deliver("customer.subscription.created", created, created=double.clock.now() - 10)
    change_subscription(world.runtime, "sub_1", price="price_max")  # M.upgrade: always_invoice
    [upgrade] = double.state.all("invoice", customer="cus_1")
    assert upgrade["amount_paid"] == 15000  # 30000 for the half month left, less 15000 unused

    double.advance(DAY)
    after, previous = double.change_items("sub_1", [{"id": "si_1", "price": "price_basic"}], "none")
    event_id, status = world.deliver(
        "customer.subscription.updated", after, previous=previous, created=double.clock.now()
    )

    assert status == "processed", world.one(Event, event_id).last_error
    # The downgrade made no proration: nothing of it to undo, and the upgrade's stays charged.
    assert double.state.all("refund") == []
    assert double.state.all("customer_balance_transaction") == []
    assert_ledger(double, "cus_1", expected=15000 + 10000)  # the upgrade, then price_basic


# 3 ----------------------------------------------------------------------------------------
# A refund Stripe made but answered 5xx: test_gateway_retries_on_double.py, for an event
# handler's gateway as for a refund request's.


@pytest.fixture
def gateways(double: StripeDouble, make_settings, sqlite_url: str):
    """`gateways(source)`: a fresh gateway on a fresh session, as a replay of the same event
    in another process would have (with the audit rows earlier sessions committed)."""
    settings = make_settings(database_url=sqlite_url, stripe_api_base=double.url)
    sessions = session_factory(settings.database_url)
    client = build_client(settings)
    opened: list[Session] = []

    def make(source: str = "evt_undo") -> StripeGateway:
        session = sessions()
        opened.append(session)
        return StripeGateway(client, session, source, event_id=source)

    yield make
    for session in opened:
        session.close()


def test_a_handler_refund_rolled_back_is_found_not_made_again_once_stripe_forgot_the_key(
    double: StripeDouble, gateways: Callable[..., StripeGateway]
) -> None:
    pi = paid_payment(double)
    first = gateways()
    made = refund_from_handler(first, pi)
    first.session.rollback()  # a later step of the same handler failed: our record is gone
    double.advance(25 * 3600)  # and Stripe has forgotten the key

    assert refund_from_handler(gateways(), pi) == made
    assert len(double.state.all("refund")) == 1


def test_a_balance_debit_rolled_back_is_found_not_made_again_once_stripe_forgot_the_key(
    double: StripeDouble, gateways: Callable[..., StripeGateway]
) -> None:
    double.customer("cus_1", "ana@example.com", balance=-5000)
    first = gateways()
    made = first.debit_customer_balance("cus_1", 5000, "usd", "in_downgrade")
    first.session.rollback()
    double.advance(25 * 3600)

    assert gateways().debit_customer_balance("cus_1", 5000, "usd", "in_downgrade") == made
    assert len(double.state.all("customer_balance_transaction")) == 1
    assert double.get("customer", "cus_1")["balance"] == 0


def test_a_balance_debit_answered_500_after_it_was_made_is_made_once(
    double: StripeDouble, gateways: Callable[..., StripeGateway]
) -> None:
    double.customer("cus_1", "ana@example.com", balance=-5000)
    double.apply_then_fail_next("POST", "/v1/customers/cus_1/balance_transactions", 500)
    first = gateways()
    made = first.debit_customer_balance("cus_1", 5000, "usd", "in_downgrade")
    first.session.commit()

    assert gateways().debit_customer_balance("cus_1", 5000, "usd", "in_downgrade") == made
    assert double.get("customer", "cus_1")["balance"] == 0


def test_an_invoice_of_a_pending_upgrade_rolled_back_is_found_not_made_again(
    double: StripeDouble, gateways: Callable[..., StripeGateway]
) -> None:
    monthly_subscription(double)
    double.change_items("sub_1", [{"id": "si_1", "price": "price_max"}], "create_prorations")
    first = gateways()
    made = first.invoice_pending_now("cus_1", "sub_1")
    first.session.rollback()
    double.advance(25 * 3600)

    assert gateways().invoice_pending_now("cus_1", "sub_1") == made
    assert len(double.state.all("invoice", customer="cus_1")) == 1
    assert_ledger(double, "cus_1", expected=15000 + 60000)  # charged once, then price_max


def test_nothing_is_posted_again_while_the_look_for_an_earlier_effect_fails(
    double: StripeDouble, gateways: Callable[..., StripeGateway]
) -> None:
    pi = paid_payment(double)
    first = gateways()
    refund_from_handler(first, pi)
    first.session.rollback()
    double.advance(25 * 3600)
    double.fail_next("GET", "/v1/refunds", 503, times=3)  # stripe-python retries a read twice

    with pytest.raises(RetryableError, match="could not look"):
        refund_from_handler(gateways(), pi)
    assert len(double.state.all("refund")) == 1
    assert [s.method for s in double.sent if s.path == "/v1/refunds"][-3:] == ["GET"] * 3


def refund_from_handler(gateway: StripeGateway, payment_intent: str) -> str | None:
    """The refund M3.downgrade makes of a change's net charge: no refund request behind it."""
    metadata = {"invoice": "in_change", "clause": "M3.downgrade"}
    return gateway.refund(
        payment_intent=payment_intent, charge=None, amount=7000, metadata=metadata
    )


# 4 and 6 ----------------------------------------------------------------------------------


@pytest.fixture
def chargeback(make_settings, sqlite_url: str, double: StripeDouble):
    """A Mittrik customer with an annual invoice paid, and a renewal invoice left open by a
    declined card, which Stripe's dunning retries in 3 days."""

    def make(policy: str = "mittrik") -> tuple[DoubleWorld, str, dict]:
        w = double_world(make_settings, sqlite_url, double, policy)
        pi = w.payment_intent(w.paid_annual_invoice())
        open_invoice = double.declined_invoice(CUSTOMER, SUBSCRIPTION, 120000)
        return w, pi, open_invoice

    return make


def test_a_suspended_accounts_open_invoice_is_not_charged_until_the_dispute_is_won(
    chargeback, double: StripeDouble
) -> None:
    w, pi, invoice = chargeback()
    dispute = double.dispute(pi, reason="fraudulent")
    assert w.deliver("charge.dispute.created", dispute) == "processed"

    double.advance(4 * DAY)  # the dunning's retry falls due while the account is suspended
    held = double.get("invoice", invoice["id"])
    assert (held["status"], held["auto_advance"]) == ("open", False)
    assert w.subscription()["pause_collection"] == {"behavior": "void"}

    closed = double.set_dispute_status(dispute["id"], "won")
    assert w.deliver("charge.dispute.closed", closed) == "processed"  # reinstated
    assert double.get("invoice", invoice["id"])["auto_advance"] is True
    double.advance(4 * DAY)
    assert double.get("invoice", invoice["id"])["status"] == "paid"  # collected again


def test_a_terminated_accounts_open_invoice_stays_stopped(chargeback, double: StripeDouble) -> None:
    w, pi, invoice = chargeback()
    dispute = double.dispute(pi, reason="fraudulent")
    w.deliver("charge.dispute.created", dispute)
    w.deliver("charge.dispute.closed", double.set_dispute_status(dispute["id"], "lost"))

    double.advance(4 * DAY)
    held = double.get("invoice", invoice["id"])
    assert (held["status"], held["auto_advance"]) == ("open", False)  # finance decides
    assert w.subscription()["status"] == "canceled"


def test_an_open_invoice_stopped_by_hand_stays_stopped_after_reinstatement(
    chargeback, double: StripeDouble
) -> None:
    w, pi, invoice = chargeback()
    other = double.declined_invoice(CUSTOMER, SUBSCRIPTION, 5000, "Credits pack")
    with double.server.lock:
        double.state.update_invoice(other["id"], {"auto_advance": "false"})  # finance did
    dispute = double.dispute(pi, reason="fraudulent")
    w.deliver("charge.dispute.created", dispute)
    w.deliver("charge.dispute.closed", double.set_dispute_status(dispute["id"], "won"))

    assert double.get("invoice", invoice["id"])["auto_advance"] is True
    assert double.get("invoice", other["id"])["auto_advance"] is False


def test_an_unauthorized_bank_debit_suspends_a_mittrik_account(
    chargeback, double: StripeDouble
) -> None:
    w, pi, _ = chargeback()
    dispute = double.dispute(pi, reason="debit_not_authorized")  # ACH, SEPA: "unauthorized"
    assert w.deliver("charge.dispute.created", dispute) == "processed"
    assert w.account_status() == "suspended"
    assert w.subscription()["pause_collection"] == {"behavior": "void"}


# 5 ----------------------------------------------------------------------------------------


def test_a_refund_goes_to_the_attached_payment_that_paid_not_the_canceled_default(
    double: StripeDouble, make_world: Callable[..., BillingWorld]
) -> None:
    world = make_world("dmly")
    # The card of the payment made at finalization was declined (that default payment is
    # canceled); the customer paid with another method, attached to the invoice.
    invoice = one_line_paid_in_parts(
        double, "price_month", 10000, [10000], number="D-1", interval="month"
    )
    result = refund_asked(world, invoice, created=invoice["status_transitions"]["paid_at"])

    assert (result.request.status, result.request.error) == ("refunded", None)
    payments = double.state.all("invoice_payment", invoice=invoice["id"])
    [paid] = [p for p in payments if p["status"] == "paid"]
    assert not paid["is_default"]
    [refund] = double.state.all("refund")
    assert (refund["payment_intent"], refund["amount"]) == (
        paid["payment"]["payment_intent"],
        10000,
    )
    assert_ledger(double, "cus_1", expected=0)
