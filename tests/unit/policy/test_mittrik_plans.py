"""Mittrik, section 1 (subscription plans), with M3.partial and M7.version."""

from datetime import timedelta

import pytest
from policy_factories import decide_on_annual_plan, facts, line, line_verdict, mittrik

from worker.policy import decide_json

DAY_14 = timedelta(hours=336)
ONE_SECOND = timedelta(seconds=1)


def test_mittrik_annual_refund_on_day_14_is_11_of_12_months():
    # M1.annual at the limit: exactly 336 h after payment is inside the window.
    decision = decide_json(facts("mittrik", received_after=DAY_14))
    assert line_verdict(decision) == (
        "approve 110000 M1.annual M3.partial: "
        "Annual plan bought 14 days ago, within 14 days: 11 of 12 months unused."
    )
    assert decision["outcome"] == "approve"


def test_mittrik_annual_one_second_past_14_days_is_denied():
    # M1.annual: one second past the limit is outside.
    decision = decide_json(facts("mittrik", received_after=DAY_14 + ONE_SECOND))
    assert line_verdict(decision) == (
        "deny 0 M1.annual: Annual plan bought more than 14 days ago: not refundable after 14 days."
    )
    assert decision["outcome"] == "deny"
    assert decision["expected_credit"] is None


def test_mittrik_annual_bought_20_days_ago_is_denied():
    decision = decide_json(facts("mittrik", received_after=timedelta(days=20)))
    assert decision["lines"][0]["explanation"] == (
        "Annual plan bought 20 days ago: not refundable after 14 days."
    )
    assert decision["clauses"] == ["M1.annual"]


def test_mittrik_annual_refund_right_after_payment_is_11_of_12_months():
    # M3.partial: the month in progress counts as used, even one second into it.
    decision = decide_json(facts("mittrik", received_after=ONE_SECOND))
    assert decision["amount"] == 110000
    assert decision["lines"][0]["explanation"] == (
        "Annual plan bought less than a day ago, within 14 days: 11 of 12 months unused."
    )


def test_mittrik_annual_refund_floors_the_pro_rata_amount():
    # M1.annual: floor(amount × unused / 12), multiplied first: 99999 × 11 / 12 = 91665.75.
    decision = decide_json(facts("mittrik", lines=[line(amount=99999)]))
    assert decision["amount"] == 91665


@pytest.mark.parametrize(
    ("period", "paid_at", "received_at", "unused"),
    [
        # M3.partial: Jan 31 + 1 month is Feb 28 (2025 is not a leap year); the month that
        # starts exactly at the request time has started, so it is used.
        (("2025-01-31T00:00:00Z", "2026-01-31T00:00:00Z"), "2025-02-20T00:00:00Z",
         "2025-02-27T23:59:59Z", 11),
        (("2025-01-31T00:00:00Z", "2026-01-31T00:00:00Z"), "2025-02-20T00:00:00Z",
         "2025-02-28T00:00:00Z", 10),
        # In a leap year the month from Jan 31 ends on February 29.
        (("2024-01-31T00:00:00Z", "2025-01-31T00:00:00Z"), "2024-02-20T00:00:00Z",
         "2024-02-28T23:59:59Z", 11),
        (("2024-01-31T00:00:00Z", "2025-01-31T00:00:00Z"), "2024-02-20T00:00:00Z",
         "2024-02-29T00:00:00Z", 10),
    ],
)  # fmt: skip
def test_mittrik_partial_month_counts_from_period_start_on_the_anniversary(
    period, paid_at, received_at, unused
):
    # Paid after the period began (period_start Jan 31, paid Feb 20): window from paid_at,
    # months from period_start.
    decision = decide_on_annual_plan("mittrik", period, paid_at=paid_at, received_at=received_at)
    assert decision["lines"][0]["amount"] == 120000 * unused // 12
    assert decision["lines"][0]["clauses"] == ["M1.annual", "M3.partial"]
    assert f"{unused} of 12 months unused" in decision["lines"][0]["explanation"]


def test_mittrik_annual_paid_when_no_month_is_unused_refunds_nothing():
    # M1.annual inside the window, but all 12 months have started (the invoice was paid a year
    # late): the line approves 0, so the decision is a denial.
    decision = decide_on_annual_plan(
        "mittrik", ("2024-05-01T00:00:00Z", "2025-05-01T00:00:00Z"),
        paid_at="2025-04-25T00:00:00Z", received_at="2025-05-01T00:00:00Z",
    )  # fmt: skip
    line_decision = decision["lines"][0]
    assert (line_decision["outcome"], line_decision["amount"]) == ("approve", 0)
    assert "0 of 12 months unused" in line_decision["explanation"]
    assert (decision["outcome"], decision["amount"]) == ("deny", 0)
    assert decision["expected_credit"] is None


def test_mittrik_monthly_plan_is_denied_from_the_first_second():
    # M1.monthly: non-refundable once the billing cycle begins, i.e. at once.
    plan = line(amount=4900, interval="month")
    decision = decide_json(facts("mittrik", lines=[plan], received_after=timedelta(0)))
    assert line_verdict(decision) == (
        "deny 0 M1.monthly: "
        "Monthly plan payments are not refundable once the billing cycle has begun."
    )


def test_mittrik_plan_without_interval_is_treated_as_monthly():
    plan = line(amount=4900, interval=None)
    decision = decide_json(facts("mittrik", lines=[plan], received_after=timedelta(hours=1)))
    assert decision["lines"][0]["clauses"] == ["M1.monthly"]
    assert decision["outcome"] == "deny"


@pytest.mark.parametrize("interval", ["year", "month"])
def test_mittrik_renewal_is_denied_even_one_second_after_payment(interval):
    # M1.renewal: a renewal (subscription_cycle) is the failure to cancel on time (M3.cancel).
    decision = decide_json(
        facts(
            "mittrik",
            lines=[line(interval=interval)],
            billing_reason="subscription_cycle",
            received_after=ONE_SECOND,
        )
    )
    line_decision = decision["lines"][0]
    assert (line_decision["outcome"], line_decision["clauses"]) == ("deny", ["M1.renewal"])
    assert line_decision["explanation"].startswith(
        "Annual plan renewal paid on 25 April 2025" if interval == "year" else "Monthly plan"
    )


@pytest.mark.parametrize("billing_reason", ["subscription_update", "manual", "quote_accept"])
def test_mittrik_annual_plan_on_a_non_renewal_invoice_follows_the_purchase_rules(billing_reason):
    decision = decide_json(facts("mittrik", billing_reason=billing_reason))
    assert decision["clauses"] == ["M1.annual", "M3.partial"]
    assert decision["amount"] == 110000


def test_mittrik_decision_records_the_policy_version_in_force():
    assert "last updated on 10 April 2025" in mittrik.sentence("M7.version")
    decision = decide_json(facts("mittrik", received_after=timedelta(days=30)))
    assert (decision["policy"], decision["policy_version"]) == ("mittrik", "2025-04-10")


def test_mittrik_request_time_with_an_offset_is_the_same_instant_in_utc():
    # M1.annual: 11:00+02:00 on 9 May is 09:00Z, exactly 336 h after payment: still inside.
    inside = decide_json(facts("mittrik", received_at="2025-05-09T11:00:00+02:00"))
    outside = decide_json(facts("mittrik", received_at="2025-05-09T11:00:01+02:00"))
    assert (inside["outcome"], outside["outcome"]) == ("approve", "deny")
