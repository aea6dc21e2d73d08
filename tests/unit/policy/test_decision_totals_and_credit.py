"""The decision as a whole: outcome, amount, cap, clause list, line_ids, credit window."""

from datetime import timedelta

import pytest
from policy_factories import dmly, facts, line, mittrik

from worker.policy import decide_json


def _two_lines():
    return [
        line(id="il_plan", amount=4900, interval="month"),
        line(id="il_agents", category="addon", amount=1500, interval="month"),
    ]


def test_overall_is_review_when_any_line_is_review():
    # Mittrik: a denied monthly plan (M1.monthly) plus an unused add-on in review (M2.unused).
    decision = decide_json(facts("mittrik", lines=_two_lines(), received_after=timedelta(days=1)))
    assert [d["outcome"] for d in decision["lines"]] == ["deny", "review"]
    assert (decision["outcome"], decision["amount"]) == ("review", 1500)
    assert decision["clauses"] == ["M1.monthly", "M2.unused"]


def test_overall_amount_sums_approved_lines_and_clauses_keep_first_appearance_order():
    lines = [
        line(id="il_usage", category="usage", amount=800, interval="month"),
        *_two_lines(),
        line(id="il_fees", category="pass_through", amount=300, interval="month"),
    ]
    decision = decide_json(facts("dmly", lines=lines, received_after=timedelta(days=1)))
    assert [d["amount"] for d in decision["lines"]] == [0, 4900, 1500, 0]
    assert (decision["outcome"], decision["amount"]) == ("approve", 6400)
    assert decision["clauses"] == ["D4.exclusions", "D2.monthly", "D2.window"]


def test_refund_never_exceeds_what_remains_refundable_cutting_the_last_line_first():
    # Cap: paid 6400, already refunded 2000, so at most 4400: the add-on (last) goes to 0,
    # the plan is cut from 4900 to 4400.
    decision = decide_json(
        facts("dmly", lines=_two_lines(), amount_paid=6400, amount_refunded=2000,
              received_after=timedelta(days=1))
    )  # fmt: skip
    assert [d["amount"] for d in decision["lines"]] == [4400, 0]
    assert [d["outcome"] for d in decision["lines"]] == ["approve", "approve"]
    assert (decision["outcome"], decision["amount"]) == ("approve", 4400)
    assert decision["lines"][0]["explanation"] == (
        "Monthly plan paid 1 day ago, within 3 days: refunded in full, but only 44.00 USD of "
        "this payment remains refundable."
    )
    assert decision["lines"][1]["explanation"] == (
        "Add-on paid 1 day ago, within 3 days: refunded in full, but nothing more of this "
        "payment remains refundable."
    )


def test_a_fully_refunded_payment_is_denied():
    decision = decide_json(facts("mittrik", amount_paid=120000, amount_refunded=120000))
    assert (decision["outcome"], decision["amount"]) == ("deny", 0)
    assert decision["expected_credit"] is None


def test_amount_paid_below_the_lines_caps_the_refund():
    # A discount or a credit balance paid part of the invoice: lines sum to more than was paid.
    decision = decide_json(facts("mittrik", amount_paid=50000))
    assert decision["amount"] == 50000


def test_line_ids_limit_the_decision_to_those_lines():
    decision = decide_json(
        facts("dmly", lines=_two_lines(), line_ids=["il_agents"],
              received_after=timedelta(days=1))
    )  # fmt: skip
    assert [d["id"] for d in decision["lines"]] == ["il_agents"]
    assert (decision["amount"], decision["clauses"]) == (1500, ["D2.window"])


def test_line_ids_come_back_in_invoice_order_once_each():
    decision = decide_json(
        facts("dmly", lines=_two_lines(), line_ids=["il_agents", "il_plan", "il_agents"],
              received_after=timedelta(days=1))
    )  # fmt: skip
    assert [d["id"] for d in decision["lines"]] == ["il_plan", "il_agents"]


def test_mittrik_expected_credit_is_the_5th_to_7th_business_day_after_the_request():
    # Requested on Friday 2 May 2025 (UTC) -> Fri 9 May .. Tue 13 May.
    assert mittrik.credit_business_days == (5, 7)
    assert "within 5–7 business days" in mittrik.sentence("M5.request")
    decision = decide_json(facts("mittrik", received_at="2025-05-02T10:00:00Z"))
    assert decision["expected_credit"] == {"from": "2025-05-09", "to": "2025-05-13"}


def test_mittrik_expected_credit_counts_from_the_utc_date_of_the_request():
    # M5.request: 23:30 on Thursday at UTC-2 is already Friday in UTC.
    decision = decide_json(facts("mittrik", received_at="2025-05-01T23:30:00-02:00"))
    assert decision["expected_credit"] == {"from": "2025-05-09", "to": "2025-05-13"}


def test_dmly_expected_credit_is_the_5th_to_10th_business_day_after_the_request():
    # Requested on Saturday 26 April 2025 -> Fri 2 May .. Fri 9 May.
    assert dmly.credit_business_days == (5, 10)
    assert "within 5–10 business days" in dmly.sentence("D5.request")
    decision = decide_json(
        facts("dmly", lines=[line(amount=4900, interval="month")],
              received_at="2025-04-26T12:00:00Z")
    )  # fmt: skip
    assert decision["outcome"] == "approve"
    assert decision["expected_credit"] == {"from": "2025-05-02", "to": "2025-05-09"}


def test_review_and_deny_have_no_expected_credit():
    review = decide_json(facts("mittrik", reason="technical_issue"))
    deny = decide_json(facts("mittrik", received_after=timedelta(days=30)))
    assert (review["outcome"], review["expected_credit"]) == ("review", None)
    assert (deny["outcome"], deny["expected_credit"]) == ("deny", None)


@pytest.mark.parametrize(
    ("currency", "amount", "written"),
    [("jpy", 5000, "5,000 JPY"), ("usd", 5000, "50.00 USD"), ("kwd", 5000, "5.000 KWD")],
)
def test_explanations_write_money_in_the_currency_minor_unit(currency, amount, written):
    addon = line(id="il_credits", category="addon", amount=amount, interval=None)
    decision = decide_json(
        facts("mittrik", lines=[addon], currency=currency.upper(), received_after=timedelta(1))
    )
    assert decision["currency"] == currency
    assert decision["lines"][0]["explanation"] == (
        f"Unused add-on bought 1 day ago, within 7 days: a refund of {written} will be "
        "considered by our support team."
    )


def test_zero_decimal_annual_refund_is_integer_arithmetic():
    # 10,000 JPY annual, 11 of 12 unused: floor(10000 × 11 / 12) = 9166 (no sub-yen amounts).
    decision = decide_json(facts("mittrik", lines=[line(amount=10000)], currency="jpy"))
    assert decision["amount"] == 9166
