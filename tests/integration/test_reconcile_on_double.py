"""Reconcile (issue 22) on the Stripe double: each kind of drift made the way it happens in life
(a change by hand in the Dashboard, a refund the bank returns, an event that never arrived) is
found by `billing-worker reconcile` in support's words with exit 1, brought back to the policy's
end state by `--fix` through the gateway, and a second run finds nothing. A clean account finds
nothing and writes nothing; `--fix` twice changes Stripe once; a `--fix` cut short by Stripe's
5xx and run again leaves exactly one effect. Each runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from double_world import ANNUAL, CUSTOMER, SUBSCRIPTION, DoubleWorld, double_world, subscribed_world
from prometheus_client import REGISTRY
from stripe_double import Sent, StripeDouble

from worker import samples
from worker.cli import main
from worker.commands.refunds import request_refund
from worker.commands.subscriptions import cancel_subscription
from worker.db.models import Customer, Dispute, Refund, RefundRequest
from worker.reconcile.schedule import run_scheduled

DAY = 86400


w = subscribed_world  # fixture


@pytest.fixture
def reconcile(database_url: str, double: StripeDouble, tmp_path: Path):
    env = {
        "DATABASE_URL": database_url,
        "STRIPE_API_BASE": double.url,
        "STRIPE_API_KEY": "sk_test_123",
        "BILLING_POLICY": "mittrik",
        "DATA_DIR": str(tmp_path),
        "BROKER_URL": "memory://",
    }

    def run(*args: str, policy: str = "mittrik") -> Result:
        return CliRunner().invoke(main, ["reconcile", *args], env={**env, "BILLING_POLICY": policy})

    return run


def by_hand(double: StripeDouble, kind: str, object_id: str, **fields: Any) -> None:
    """A change made in the Dashboard: Stripe's state moves, no event reaches us."""
    with double.server.lock:
        double.state.get(kind, object_id).update(fields)


def writes(w: DoubleWorld) -> list[Sent]:
    """Every mutating request the double received (executed, failed or replayed)."""
    return w.double.mutations()


def suspended_by_a_dispute(w: DoubleWorld) -> dict[str, Any]:
    invoice = w.paid_annual_invoice()
    dispute = w.double.dispute(w.payment_intent(invoice), reason="fraudulent")
    assert w.deliver("charge.dispute.created", dispute) == "processed"
    assert w.subscription()["pause_collection"] == {"behavior": "void"}
    return dispute


def pause_lifted_by_hand(w: DoubleWorld) -> dict[str, Any]:
    """Suspended by a fraudulent dispute, then the subscription's collection resumed by hand in
    the Dashboard: the drift most of these tests fix. Returns the dispute."""
    dispute = suspended_by_a_dispute(w)
    by_hand(w.double, "subscription", SUBSCRIPTION, pause_collection=None)
    return dispute


def fixed_once_then_clean(w: DoubleWorld, reconcile, kind: str) -> list[Sent]:
    """Found (exit 1), fixed (exit 0), and neither a second check nor a second fix finds or
    writes anything: the fix's writes."""
    found = reconcile()
    assert found.exit_code == 1, found.output
    assert kind in found.output
    before = len(writes(w))
    fixed = reconcile("--fix")
    assert fixed.exit_code == 0, fixed.output
    made = writes(w)[before:]
    again = reconcile("--fix")
    assert again.exit_code == 0, again.output
    assert "0 difference(s) found, 0 change(s) made at Stripe, 0 left" in again.output
    assert reconcile().exit_code == 0
    assert len(writes(w)) == before + len(made)
    return made


def test_a_clean_account_finds_nothing_and_makes_no_write(w: DoubleWorld, reconcile) -> None:
    suspended_by_a_dispute(w)  # suspended as the policy says: nothing differs
    before = len(writes(w))
    checked = reconcile()
    assert checked.exit_code == 0, checked.output
    assert "1 customer(s) checked, 0 difference(s) found" in checked.output
    assert reconcile("--fix").exit_code == 0
    assert len(writes(w)) == before


def test_a_suspended_subscription_resumed_in_the_dashboard_is_paused_again(
    w: DoubleWorld, reconcile
) -> None:
    dispute = pause_lifted_by_hand(w)

    found = reconcile()
    assert found.exit_code == 1
    assert f"{CUSTOMER}  {SUBSCRIPTION}  subscription_not_paused  [M6.dispute]" in found.output
    assert (
        "  policy expects: collection paused (pause_collection.behavior=void): the account is "
        f"suspended while dispute {dispute['id']} is open" in found.output
    )
    assert "  Stripe holds:   status active, collection running" in found.output
    assert "  fix:            pause collection (pause_collection.behavior=void)" in found.output

    [made] = fixed_once_then_clean(w, reconcile, "subscription_not_paused")
    assert (made.method, made.path, made.params) == (
        "POST",
        f"/v1/subscriptions/{SUBSCRIPTION}",
        {"pause_collection": {"behavior": "void"}},
    )
    assert str(made.idempotency_key).startswith("bw:reconcile-")
    assert str(made.idempotency_key).endswith(f":pause_collection:{SUBSCRIPTION}")
    assert w.subscription()["pause_collection"] == {"behavior": "void"}
    audited = [c for c in w.world.audit() if c.idempotency_key == made.idempotency_key]
    assert [(c.method, c.outcome) for c in audited] == [("subscriptions.update", "ok")]


def test_an_open_invoice_set_collecting_again_by_hand_while_suspended_is_stopped_again(
    w: DoubleWorld, reconcile
) -> None:
    invoice = w.double.declined_invoice(CUSTOMER, SUBSCRIPTION, 120000)
    suspended_by_a_dispute(w)
    assert w.double.get("invoice", invoice["id"])["auto_advance"] is False  # M6: stopped
    by_hand(w.double, "invoice", invoice["id"], auto_advance=True)

    found = reconcile()
    assert found.exit_code == 1
    assert f"{invoice['id']}  open_invoice_collecting  [M6.dispute]" in found.output
    assert "  Stripe holds:   auto_advance=true: Stripe keeps retrying the payment" in found.output

    [made] = fixed_once_then_clean(w, reconcile, "open_invoice_collecting")
    assert (made.path, made.params["auto_advance"]) == (f"/v1/invoices/{invoice['id']}", "false")
    assert w.double.get("invoice", invoice["id"])["auto_advance"] is False


def test_a_dispute_whose_events_never_arrived_is_recorded_and_suspends(
    w: DoubleWorld, reconcile
) -> None:
    invoice = w.paid_annual_invoice()
    dispute = w.double.dispute(w.payment_intent(invoice), reason="unrecognized")

    found = reconcile()
    assert found.exit_code == 1
    assert f"{dispute['id']}  dispute_unknown  [M6.dispute]" in found.output
    assert "unrecognized, needs_response, 1,200.00 USD; unknown to us" in found.output

    made = fixed_once_then_clean(w, reconcile, "dispute_unknown")
    assert sorted(s.path for s in made) == [
        f"/v1/customers/{CUSTOMER}",
        f"/v1/subscriptions/{SUBSCRIPTION}",
    ]
    assert w.subscription()["pause_collection"] == {"behavior": "void"}
    assert w.account_status() == "suspended"
    assert w.world.one(Dispute, dispute["id"]).status == "needs_response"
    assert w.world.one(Customer, CUSTOMER).account_status == "suspended"


def refunded_request(w: DoubleWorld) -> RefundRequest:
    w.paid_annual_invoice()
    result = request_refund(
        w.world.runtime, customer=CUSTOMER, invoice="A-1", reason="requested_by_customer"
    )
    assert result.request.status == "refunded"
    return w.world.one(RefundRequest, result.request.id)


def test_a_refund_made_in_the_dashboard_with_our_metadata_is_recorded_without_a_write(
    w: DoubleWorld, reconcile
) -> None:
    request = refunded_request(w)
    with w.double.server.lock:
        refund = dict(
            w.double.state.create_refund(
                {
                    "payment_intent": w.double.get("refund", str(request.refund_id))[
                        "payment_intent"
                    ],
                    "amount": 5000,
                    "metadata": {"refund_request_id": request.id},
                }
            )
        )

    found = reconcile()
    assert found.exit_code == 1
    assert f"{refund['id']}  refund_unknown  [M5.request]" in found.output
    assert "refund " + refund["id"] + " of 50.00 USD, pending, made outside the worker" in (
        found.output
    )

    assert fixed_once_then_clean(w, reconcile, "refund_unknown") == []
    assert w.world.one(Refund, refund["id"]).request_id == request.id


def test_a_refund_that_failed_after_it_succeeded_reopens_the_request(
    w: DoubleWorld, reconcile
) -> None:
    request = refunded_request(w)
    refund_id = str(request.refund_id)
    w.double.settle_refund(refund_id, "succeeded")
    w.double.settle_refund(refund_id, "failed")  # the bank returned it; no event reached us

    found = reconcile()
    assert found.exit_code == 1
    assert f"{refund_id}  refund_failed_still_counted  [M5.request]" in found.output
    assert f"request {request.id} reopened: the money never went back" in found.output

    assert fixed_once_then_clean(w, reconcile, "refund_failed_still_counted") == []
    assert w.world.one(Refund, refund_id).status == "failed"
    reopened = w.world.one(RefundRequest, request.id)
    assert reopened.status == "refund_failed"
    assert "refunds approve" in str(reopened.error)


def test_a_downgrade_proration_added_again_is_deleted(w: DoubleWorld, reconcile) -> None:
    double = w.double
    double.price("price_dbl_small", 60000, interval="year")
    w.deliver("product.created", double.get("product", "prod_for_price_dbl_small"))
    w.deliver("price.created", double.get("price", "price_dbl_small"))
    after, previous = double.change_items(
        SUBSCRIPTION, [{"id": "si_dbl", "price": "price_dbl_small"}], "create_prorations"
    )
    moment = double.clock.now()
    w.world.deliver("customer.subscription.updated", after, previous=previous, created=moment)
    assert double.pending_items(CUSTOMER) == []  # M3.downgrade handled: both removed
    end = after["items"]["data"][0]["current_period_end"]
    with double.server.lock:  # the credit put back by hand in the Dashboard
        item = double.state.add_invoice_item(
            CUSTOMER, -59000, "price_dbl_year", 1, "Unused time on price_dbl_year",
            SUBSCRIPTION, "si_dbl", (moment, end),
        )  # fmt: skip

    found = reconcile()
    assert f"{item['id']}  downgrade_proration_left  [M3.downgrade]" in found.output
    assert "pending proration -590.00 USD (Unused time on price_dbl_year)" in found.output

    [made] = fixed_once_then_clean(w, reconcile, "downgrade_proration_left")
    assert (made.method, made.path) == ("DELETE", f"/v1/invoiceitems/{item['id']}")
    assert double.pending_items(CUSTOMER) == []


def test_a_cancellation_at_period_end_undone_in_the_dashboard_is_made_again(
    w: DoubleWorld, reconcile
) -> None:
    cancel_subscription(w.world.runtime, SUBSCRIPTION)
    assert w.subscription()["cancel_at_period_end"] is True
    by_hand(w.double, "subscription", SUBSCRIPTION, cancel_at_period_end=False)

    found = reconcile("--format", "json")
    assert found.exit_code == 1
    [finding] = json.loads(found.stdout)["found"]
    assert finding["kind"] == "cancellation_undone"
    assert (finding["customer"], finding["object"], finding["clause"]) == (
        CUSTOMER,
        SUBSCRIPTION,
        "M3.cancel",
    )
    assert finding["expected"].startswith("cancel_at_period_end=true")
    assert "it will renew" in finding["held"]

    [made] = fixed_once_then_clean(w, reconcile, "cancellation_undone")
    assert made.params == {"cancel_at_period_end": "true"}
    assert w.subscription()["cancel_at_period_end"] is True


def test_a_fix_cut_short_by_a_5xx_and_run_again_leaves_exactly_one_effect(
    w: DoubleWorld, reconcile
) -> None:
    pause_lifted_by_hand(w)
    before = len(writes(w))
    w.double.fail_next("POST", f"/v1/subscriptions/{SUBSCRIPTION}", 500)

    cut_short = reconcile("--fix")
    assert cut_short.exit_code == 1
    assert "fix stopped" in cut_short.output
    assert w.subscription()["pause_collection"] is None
    failed = [c for c in w.world.audit() if c.outcome != "ok"]
    assert [(c.method, c.outcome) for c in failed] == [("subscriptions.update", "no_effect")]

    assert reconcile("--fix").exit_code == 0
    assert reconcile("--fix").exit_code == 0
    took_effect = [s for s in writes(w)[before:] if s.status == 200]
    assert len(took_effect) == 1
    assert w.subscription()["pause_collection"] == {"behavior": "void"}


def test_a_fix_whose_write_stripe_made_but_answered_5xx_is_not_made_twice(
    w: DoubleWorld, reconcile
) -> None:
    pause_lifted_by_hand(w)
    before = len(writes(w))
    w.double.apply_then_fail_next("POST", f"/v1/subscriptions/{SUBSCRIPTION}")

    first = reconcile("--fix")
    assert first.exit_code == 0, first.output  # the effect check saw Stripe's work done
    assert reconcile("--fix").exit_code == 0
    # Stripe's client retried under the same key: the saved 5xx was replayed, nothing re-ran.
    executed = [s for s in writes(w)[before:] if not s.replayed]
    assert [s.status for s in executed] == [500]
    assert w.subscription()["pause_collection"] == {"behavior": "void"}
    [audited] = [c for c in w.world.audit() if c.idempotency_key == executed[0].idempotency_key]
    assert (audited.method, audited.outcome) == ("subscriptions.update", "ok")


def test_reconcile_narrows_to_one_customer_and_refuses_a_bad_account(
    w: DoubleWorld, reconcile
) -> None:
    pause_lifted_by_hand(w)
    assert reconcile("--customer", "cus_other").exit_code == 0
    assert reconcile("--customer", CUSTOMER).exit_code == 1
    assert reconcile("--since", "1h").exit_code == 1
    refused = reconcile("--account", CUSTOMER)
    assert refused.exit_code == 2 and "--account" in refused.output


def test_a_complete_run_sets_the_drift_gauge_by_kind_and_when_it_ended(
    w: DoubleWorld, reconcile
) -> None:
    def sample(name: str, **labels: str) -> float | None:
        return REGISTRY.get_sample_value(name, labels)

    drift, last = "billing_reconcile_drift", "billing_reconcile_last_complete_run_timestamp_seconds"
    pause_lifted_by_hand(w)
    started = time.time()
    assert reconcile().exit_code == 1
    assert sample(drift, kind="subscription_not_paused") == 1
    assert sample(drift, kind="refund_unknown") == 0
    ended = sample(last)
    assert ended is not None and ended >= started

    assert reconcile("--customer", CUSTOMER, "--fix").exit_code == 0  # not a complete run
    assert sample(drift, kind="subscription_not_paused") == 1
    assert sample(last) == ended
    assert reconcile().exit_code == 0
    assert sample(drift, kind="subscription_not_paused") == 0


def test_a_connected_accounts_customer_is_compared_and_fixed_on_its_own_account(
    w: DoubleWorld, reconcile
) -> None:
    # The same customer and subscription ids on a connected account, suspended there.
    connected, double = "acct_1Reconcile", w.double
    now = double.clock.now()
    line = samples.line(
        amount=ANNUAL, price="price_dbl_year", period_start=now, period_end=now + 365 * DAY
    )
    with double.as_account(connected):
        seeded = [
            ("customer.created", double.customer(CUSTOMER, "shop@example.com")),
            ("price.created", double.price("price_dbl_year", ANNUAL, interval="year")),
            ("product.created", double.get("product", "prod_for_price_dbl_year")),
        ]
        items = [("si_dbl", "price_dbl_year", 1)]
        sub = double.subscription(SUBSCRIPTION, CUSTOMER, items, now, now + 365 * DAY)
        invoice = double.paid_invoice(
            CUSTOMER, [line], paid_at=now, number="C-1", subscription=SUBSCRIPTION
        )
        dispute = double.dispute(double.payment_of(invoice["id"])["id"], reason="fraudulent")
    seeded += [
        ("customer.subscription.created", sub),
        ("invoice.paid", invoice),
        ("charge.dispute.created", dispute),
    ]
    for event_type, obj in seeded:
        assert w.world.deliver(event_type, obj, account=connected)[1] == "processed"
    with double.as_account(connected):
        assert double.get("subscription", SUBSCRIPTION)["pause_collection"] == {"behavior": "void"}
        by_hand(double, "subscription", SUBSCRIPTION, pause_collection=None)

    found = reconcile()
    assert found.exit_code == 1
    assert f"{CUSTOMER} of {connected}  {SUBSCRIPTION}  subscription_not_paused" in found.output
    assert "1 difference(s) found" in found.output  # the platform's customer of that id is clean
    assert reconcile("--account", "platform").exit_code == 0
    before = len(writes(w))
    assert reconcile("--account", connected, "--fix").exit_code == 0
    [made] = writes(w)[before:]
    assert str(made.idempotency_key).startswith(f"bw:{connected}:reconcile-")
    with double.as_account(connected):
        assert double.get("subscription", SUBSCRIPTION)["pause_collection"] == {"behavior": "void"}
    assert w.subscription()["pause_collection"] is None  # the platform's is not touched
    assert reconcile().exit_code == 0


def test_a_fix_that_crashed_before_its_commit_and_ran_again_leaves_exactly_one_effect(
    w: DoubleWorld, reconcile, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The missed dispute's suspension was made at Stripe, then the process died before our
    # commit: no dispute row, no audit row. The re-run records it again and writes nothing.
    invoice = w.paid_annual_invoice()
    w.double.dispute(w.payment_intent(invoice), reason="fraudulent")
    before = len(writes(w))

    def crash(*_: Any) -> None:
        raise SystemExit("killed")

    with monkeypatch.context() as patched:
        patched.setattr("worker.reconcile.run._changes", crash)
        assert reconcile("--fix").exit_code != 0
    assert not [c for c in w.world.audit() if "reconcile-" in c.idempotency_key]  # rolled back
    made = writes(w)[before:]
    assert sorted(s.path for s in made) == [
        f"/v1/customers/{CUSTOMER}",
        f"/v1/subscriptions/{SUBSCRIPTION}",
    ]

    again = reconcile("--fix")
    assert again.exit_code == 0, again.output
    assert "dispute_unknown" in again.output
    assert "0 change(s) made at Stripe, 0 left" in again.output
    assert writes(w)[before:] == made
    assert w.subscription()["pause_collection"] == {"behavior": "void"}
    assert w.account_status() == "suspended"


def test_a_scheduled_run_is_whole_and_read_only_unless_told_to_fix(
    w: DoubleWorld,
) -> None:
    pause_lifted_by_hand(w)
    before = len(writes(w))
    counts = run_scheduled(w.world.runtime)  # what tasks.reconcile runs; RECONCILE_FIX is off
    assert counts == {"customers": 1, "found": 1, "changes": 0, "left": 1, "not_done": 0}
    assert len(writes(w)) == before
    assert (
        REGISTRY.get_sample_value("billing_reconcile_drift", {"kind": "subscription_not_paused"})
        == 1
    )


def test_the_policy_in_force_decides_what_is_drift_a_dmly_dispute_suspends_nothing(
    make_settings, database_url: str, double: StripeDouble, reconcile
) -> None:
    w = double_world(make_settings, database_url, double, "dmly")
    invoice = w.paid_annual_invoice()
    w.deliver("charge.dispute.created", double.dispute(w.payment_intent(invoice)))
    assert w.subscription()["pause_collection"] is None  # D6.dispute: recorded, not suspended
    before = len(writes(w))
    assert reconcile("--fix", policy="dmly").exit_code == 0
    assert len(writes(w)) == before
    # The same history under Mittrik: a fraudulent dispute open, so the account should be held.
    under_mittrik = reconcile()
    assert under_mittrik.exit_code == 1
    assert "subscription_not_paused  [M6.dispute]" in under_mittrik.output
