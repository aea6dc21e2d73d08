"""Mittrik, section 2 (add-ons), M3.credits, M4.technical, M6.dispute, and usage lines."""

from datetime import timedelta

import pytest
from policy_factories import facts, line, line_verdict

from worker.policy import decide_json

SEVEN_DAYS = timedelta(hours=168)
ONE_SECOND = timedelta(seconds=1)


def _addon(**overrides):
    """A one-off credits pack: Stripe gives one-off items a zero-length period."""
    values = {"id": "il_credits", "category": "addon", "amount": 5000, "interval": None}
    return line(**{**values, **overrides})


def test_mittrik_unused_addon_on_day_7_goes_to_review_for_its_full_amount():
    # M2.unused at the limit: exactly 168 h after payment is inside.
    decision = decide_json(facts("mittrik", lines=[_addon()], received_after=SEVEN_DAYS))
    assert line_verdict(decision) == (
        "review 5000 M2.unused: "
        "Unused add-on bought 7 days ago, within 7 days: a refund of 50.00 USD will be "
        "considered by our support team."
    )
    assert (decision["outcome"], decision["amount"]) == ("review", 5000)
    assert decision["expected_credit"] is None  # only an approval has a credit window


def test_mittrik_unused_addon_one_second_past_7_days_is_denied():
    decision = decide_json(
        facts("mittrik", lines=[_addon()], received_after=SEVEN_DAYS + ONE_SECOND)
    )
    assert line_verdict(decision) == (
        "deny 0 M2.unused: Unused add-on bought more than 7 days ago: not refundable after 7 days."
    )


def test_mittrik_used_addon_is_denied_even_on_the_day_of_purchase():
    # M2.used: used or activated add-ons are non-refundable.
    decision = decide_json(
        facts("mittrik", lines=[_addon(consumed=True)], received_after=timedelta(hours=1))
    )
    assert line_verdict(decision) == (
        "deny 0 M2.used: This add-on has been used or activated: not refundable."
    )


@pytest.mark.parametrize("category", ["usage", "pass_through"])
def test_mittrik_usage_and_pass_through_lines_are_already_consumed(category):
    # M2.used: metered usage and third-party fees pay for service already delivered.
    usage = line(id="il_usage", category=category, amount=700, interval="month")
    decision = decide_json(facts("mittrik", lines=[usage], received_after=timedelta(hours=1)))
    assert decision["lines"][0]["clauses"] == ["M2.used"]
    assert decision["outcome"] == "deny"


def test_mittrik_unused_credits_after_their_period_ended_are_denied_inside_7_days():
    # M3.credits at the limit: period_end equal to the request time has ended, even though
    # the add-on was bought within 7 days.
    paid = "2025-04-25T09:00:00Z"
    credits = _addon(interval="month", period_start="2025-03-28T09:00:00Z",
                     period_end="2025-04-28T09:00:00Z")  # fmt: skip
    decision = decide_json(
        facts("mittrik", lines=[credits], paid_at=paid, received_at="2025-04-28T09:00:00Z")
    )
    line_decision = decision["lines"][0]
    assert (line_decision["outcome"], line_decision["clauses"]) == ("deny", ["M3.credits"])
    assert line_decision["explanation"] == (
        "This add-on's billing period ended on 28 April 2025: unused credits are not refunded "
        "after the period ends."
    )


def test_mittrik_unused_credits_one_second_before_their_period_ends_go_to_review():
    credits = _addon(interval="month", period_start="2025-03-28T09:00:00Z",
                     period_end="2025-04-28T09:00:00Z")  # fmt: skip
    decision = decide_json(facts("mittrik", lines=[credits], received_at="2025-04-28T08:59:59Z"))
    assert decision["lines"][0]["clauses"] == ["M2.unused"]
    assert decision["lines"][0]["outcome"] == "review"


def test_mittrik_one_off_addon_has_no_billing_period_to_end():
    # M3.credits needs a billing period: a zero-length one (one-off item) never ends.
    decision = decide_json(facts("mittrik", lines=[_addon()], received_after=timedelta(days=2)))
    assert decision["lines"][0]["clauses"] == ["M2.unused"]


def test_mittrik_technical_issue_sends_every_line_to_review_at_full_amount():
    # M4.technical: whatever the line and however late, support decides; the worker proposes
    # the line's full amount.
    lines = [
        line(amount=4900, interval="month"),
        _addon(consumed=True),
        line(id="il_usage", category="usage", amount=700, interval="month"),
    ]
    decision = decide_json(
        facts("mittrik", lines=lines, reason="technical_issue", received_after=timedelta(days=90))
    )
    assert [(d["outcome"], d["amount"], d["clauses"]) for d in decision["lines"]] == [
        ("review", 4900, ["M4.technical"]),
        ("review", 5000, ["M4.technical"]),
        ("review", 700, ["M4.technical"]),
    ]
    assert (decision["outcome"], decision["amount"]) == ("review", 10600)
    assert decision["lines"][0]["explanation"] == (
        "A technical issue support could not resolve: a refund of up to 49.00 USD will be "
        "considered by our support team."
    )


def test_mittrik_technical_issue_proposal_is_capped_at_what_remains_refundable():
    # M4.technical: "capped at what is refundable".
    decision = decide_json(
        facts("mittrik", reason="technical_issue", amount_paid=120000, amount_refunded=100000)
    )
    assert (decision["outcome"], decision["amount"]) == ("review", 20000)


def test_mittrik_disputed_charge_is_denied_before_anything_else():
    # M6.dispute: denied first, even for a technical issue inside every window.
    decision = decide_json(
        facts("mittrik", disputed=True, reason="technical_issue", received_after=ONE_SECOND)
    )
    assert line_verdict(decision) == (
        "deny 0 M6.dispute: "
        "This payment is under a chargeback dispute with the bank, so it cannot be refunded."
    )
    assert (decision["outcome"], decision["amount"], decision["clauses"]) == (
        "deny", 0, ["M6.dispute"],
    )  # fmt: skip
