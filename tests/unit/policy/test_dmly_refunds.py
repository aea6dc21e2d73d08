"""DMLY: the 3-day window (D2.*), exclusions (D4.exclusions), disputes (D6.dispute)."""

from datetime import timedelta

import pytest
from policy_factories import decide_on_annual_plan, facts, line, line_verdict

from worker.policy import decide_json

THREE_DAYS = timedelta(hours=72)
ONE_SECOND = timedelta(seconds=1)


def _monthly(**overrides):
    return line(**{"amount": 4900, "interval": "month", **overrides})


def test_dmly_monthly_plan_on_day_3_is_refunded_in_full():
    # D2.monthly at the limit: exactly 72 h after payment is inside.
    decision = decide_json(facts("dmly", lines=[_monthly()], received_after=THREE_DAYS))
    assert line_verdict(decision) == (
        "approve 4900 D2.monthly: Monthly plan paid 3 days ago, within 3 days: refunded in full."
    )
    assert (decision["outcome"], decision["amount"]) == ("approve", 4900)
    assert (decision["policy"], decision["policy_version"]) == ("dmly", None)


def test_dmly_monthly_plan_one_second_past_3_days_is_denied_by_the_window():
    # D2.window: one second past the limit is outside.
    decision = decide_json(
        facts("dmly", lines=[_monthly()], received_after=THREE_DAYS + ONE_SECOND)
    )
    assert line_verdict(decision) == (
        "deny 0 D2.window: Monthly plan paid more than 3 days ago: not refundable after 3 days."
    )
    assert decision["expected_credit"] is None


def test_dmly_annual_plan_on_day_3_is_refunded_by_unused_months():
    # D2.annual at the limit: 11 of 12 months unused (the month in progress is used).
    decision = decide_json(facts("dmly", received_after=THREE_DAYS))
    assert line_verdict(decision) == (
        "approve 110000 D2.annual: "
        "Annual plan paid 3 days ago, within 3 days: 11 of 12 months unused."
    )


def test_dmly_annual_plan_one_second_past_3_days_is_denied():
    decision = decide_json(facts("dmly", received_after=THREE_DAYS + ONE_SECOND))
    assert decision["lines"][0]["clauses"] == ["D2.window"]
    assert decision["outcome"] == "deny"


def test_dmly_annual_with_2_months_used_refunds_the_remaining_10():
    # D2.annual, the seed's example: paid late, inside the window, in the plan's 2nd month.
    decision = decide_on_annual_plan(
        "dmly", ("2025-03-01T00:00:00Z", "2026-03-01T00:00:00Z"),
        paid_at="2025-04-03T00:00:00Z", received_at="2025-04-05T00:00:00Z",
    )  # fmt: skip
    assert decision["lines"][0]["amount"] == 100000
    assert "10 of 12 months unused" in decision["lines"][0]["explanation"]


def test_dmly_annual_with_no_unused_month_approves_0_and_the_decision_is_deny():
    # D2.annual: "An annual line with no unused month gives amount 0".
    decision = decide_on_annual_plan(
        "dmly", ("2024-04-01T00:00:00Z", "2025-04-30T00:00:00Z"),
        paid_at="2025-04-25T00:00:00Z", received_at="2025-04-26T00:00:00Z",
    )  # fmt: skip
    assert (decision["lines"][0]["outcome"], decision["lines"][0]["amount"]) == ("approve", 0)
    assert decision["lines"][0]["clauses"] == ["D2.annual"]
    assert (decision["outcome"], decision["amount"]) == ("deny", 0)


def test_dmly_addon_inside_the_window_is_refunded_in_full():
    # D2.window: add-ons in full (DMLY has no "used add-on" rule).
    addon = line(id="il_agents", category="addon", amount=1500, interval="month", consumed=True)
    decision = decide_json(facts("dmly", lines=[addon], received_after=THREE_DAYS))
    assert line_verdict(decision) == (
        "approve 1500 D2.window: Add-on paid 3 days ago, within 3 days: refunded in full."
    )


def test_dmly_addon_outside_the_window_is_denied():
    addon = line(id="il_agents", category="addon", amount=1500, interval="month")
    decision = decide_json(facts("dmly", lines=[addon], received_after=THREE_DAYS + ONE_SECOND))
    assert (decision["lines"][0]["outcome"], decision["lines"][0]["clauses"]) == (
        "deny", ["D2.window"],
    )  # fmt: skip


def test_dmly_renewal_inside_the_window_is_refunded_like_a_new_purchase():
    # D2.window: "new purchases and renewals alike" (renewals_refundable = true).
    decision = decide_json(
        facts("dmly", lines=[_monthly()], billing_reason="subscription_cycle",
              received_after=timedelta(days=1))
    )  # fmt: skip
    assert decision["lines"][0]["clauses"] == ["D2.monthly"]
    assert decision["lines"][0]["explanation"] == (
        "Monthly plan renewal paid 1 day ago, within 3 days: refunded in full."
    )


@pytest.mark.parametrize(
    ("category", "sentence"),
    [
        ("usage", "Consumed usage beyond the subscription's limits is never refunded."),
        (
            "pass_through",
            "Fees billed on behalf of a third party, such as WhatsApp API fees billed by Meta, "
            "are never refunded.",
        ),
    ],
)
def test_dmly_usage_and_pass_through_are_excluded_even_one_second_after_payment(category, sentence):
    # D4.exclusions: at any time, inside the window too.
    fees = line(id="il_fees", category=category, amount=800, interval="month")
    decision = decide_json(facts("dmly", lines=[fees], received_after=ONE_SECOND))
    line_decision = decision["lines"][0]
    assert (line_decision["outcome"], line_decision["clauses"]) == ("deny", ["D4.exclusions"])
    assert line_decision["explanation"] == sentence


def test_dmly_billing_period_that_ended_at_the_request_time_is_excluded():
    # D4.exclusions at the limit: period_end == request time is a fully used period, even
    # inside the 3-day window.
    plan = _monthly(period_start="2025-03-26T09:00:00Z", period_end="2025-04-26T09:00:00Z")
    decision = decide_json(facts("dmly", lines=[plan], received_at="2025-04-26T09:00:00Z"))
    assert line_verdict(decision) == (
        "deny 0 D4.exclusions: "
        "This billing period ended on 26 April 2025 and was fully used: not refundable."
    )


def test_dmly_billing_period_one_second_before_its_end_is_still_refundable():
    plan = _monthly(period_start="2025-03-26T09:00:00Z", period_end="2025-04-26T09:00:00Z")
    decision = decide_json(facts("dmly", lines=[plan], received_at="2025-04-26T08:59:59Z"))
    assert decision["lines"][0]["clauses"] == ["D2.monthly"]
    assert decision["outcome"] == "approve"


def test_dmly_one_off_addon_has_no_period_to_end():
    addon = line(id="il_pack", category="addon", amount=1500, interval=None)
    decision = decide_json(facts("dmly", lines=[addon], received_after=timedelta(days=2)))
    assert decision["lines"][0]["clauses"] == ["D2.window"]
    assert decision["outcome"] == "approve"


def test_dmly_support_override_outside_the_window_proposes_unused_months_for_review():
    # D2.override: the seed's "2 months used" example, reached outside the window.
    decision = decide_on_annual_plan(
        "dmly", ("2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z"),
        paid_at="2025-01-01T00:00:00Z", received_at="2025-02-15T00:00:00Z", support_override=True,
    )  # fmt: skip
    assert line_verdict(decision) == (
        "review 100000 D2.override: "
        "Annual plan paid 45 days ago, outside the 3-day window: 10 of 12 months unused, "
        "1,000.00 USD, proposed for support's approval as an exception."
    )
    assert (decision["outcome"], decision["amount"]) == ("review", 100000)


def test_dmly_support_override_one_second_past_the_window_proposes_the_monthly_plan_in_full():
    decision = decide_json(
        facts("dmly", lines=[_monthly()], received_after=THREE_DAYS + ONE_SECOND,
              support_override=True)
    )  # fmt: skip
    line_decision = decision["lines"][0]
    assert (line_decision["outcome"], line_decision["amount"]) == ("review", 4900)
    assert line_decision["clauses"] == ["D2.override"]


def test_dmly_support_override_inside_the_window_changes_nothing():
    decision = decide_json(
        facts("dmly", lines=[_monthly()], received_after=THREE_DAYS, support_override=True)
    )
    assert decision["lines"][0]["clauses"] == ["D2.monthly"]
    assert decision["outcome"] == "approve"


def test_dmly_support_override_does_not_reach_addons_or_exclusions():
    lines = [
        line(id="il_agents", category="addon", amount=1500, interval="month"),
        line(id="il_usage", category="usage", amount=800, interval="month"),
    ]
    decision = decide_json(
        facts("dmly", lines=lines, received_after=timedelta(days=10), support_override=True)
    )
    assert [d["clauses"] for d in decision["lines"]] == [["D2.window"], ["D4.exclusions"]]
    assert decision["outcome"] == "deny"


def test_dmly_ignores_a_technical_issue_reason():
    customer = decide_json(facts("dmly", received_after=timedelta(days=1)))
    technical = decide_json(
        facts("dmly", received_after=timedelta(days=1), reason="technical_issue")
    )
    assert technical == customer


def test_dmly_disputed_charge_is_denied_first():
    # D6.dispute: before the window and the exclusions.
    lines = [_monthly(), line(id="il_usage", category="usage", amount=800)]
    decision = decide_json(
        facts("dmly", lines=lines, disputed=True, received_after=ONE_SECOND, support_override=True)
    )
    assert [(d["outcome"], d["clauses"]) for d in decision["lines"]] == [
        ("deny", ["D6.dispute"]),
        ("deny", ["D6.dispute"]),
    ]
    assert (decision["outcome"], decision["clauses"]) == ("deny", ["D6.dispute"])
