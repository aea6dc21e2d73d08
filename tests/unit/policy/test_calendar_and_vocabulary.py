"""Anniversary months, business days, line categories and billing reasons."""

from datetime import UTC, date, datetime

import pytest

from worker.policy import (
    UnknownCategory,
    add_months,
    business_day_after,
    format_money,
    line_category,
    purchase_kind,
    unused_months,
    used_months,
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("months", "expected"),
    [(0, utc(2025, 1, 31, 12)), (1, utc(2025, 2, 28, 12)), (2, utc(2025, 3, 31, 12)),
     (3, utc(2025, 4, 30, 12)), (12, utc(2026, 1, 31, 12)), (13, utc(2026, 2, 28, 12))],
)  # fmt: skip
def test_months_from_january_31_are_counted_from_period_start_never_chained(months, expected):
    assert add_months(utc(2025, 1, 31, 12), months) == expected


def test_january_31_plus_one_month_is_february_29_in_a_leap_year():
    assert add_months(utc(2024, 1, 31), 1) == utc(2024, 2, 29)
    assert add_months(utc(2024, 2, 29), 12) == utc(2025, 2, 28)
    assert add_months(utc(2024, 2, 29), 48) == utc(2028, 2, 29)
    assert add_months(utc(2100, 1, 31), 1) == utc(2100, 2, 28)  # 2100 is not a leap year


def test_used_months_count_the_month_in_progress_and_a_month_starting_now():
    # M3.partial
    start = utc(2025, 1, 31)
    assert used_months(start, start) == 1
    assert used_months(start, utc(2025, 2, 27, 23, 59, 59)) == 1
    assert used_months(start, utc(2025, 2, 28)) == 2
    assert used_months(start, utc(2025, 3, 30)) == 2
    assert used_months(start, utc(2025, 3, 31)) == 3


def test_used_months_are_at_least_1_and_at_most_12():
    start = utc(2025, 1, 31)
    assert used_months(start, utc(2024, 12, 1)) == 1  # requested before the period began
    assert used_months(start, utc(2026, 1, 31)) == 12
    assert used_months(start, utc(2030, 1, 1)) == 12
    assert unused_months(start, utc(2026, 1, 30)) == 0


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [(date(2025, 5, 1), 5, date(2025, 5, 8)), (date(2025, 5, 1), 7, date(2025, 5, 12)),
     (date(2025, 5, 3), 1, date(2025, 5, 5)), (date(2025, 5, 4), 5, date(2025, 5, 9)),
     (date(2025, 5, 2), 10, date(2025, 5, 16))],
)  # fmt: skip
def test_business_days_skip_weekends_and_never_count_the_start_day(start, n, expected):
    assert business_day_after(start, n) == expected


@pytest.mark.parametrize(
    ("metadata", "recurring", "metered", "category"),
    [
        ("addon", True, False, "addon"),
        (" Pass_Through ", True, True, "pass_through"),
        (None, True, True, "usage"),  # metered price -> usage
        (None, True, False, "plan"),  # other recurring -> plan
        (None, False, False, "addon"),  # one-time -> addon
        ("", False, False, "addon"),
    ],
)
def test_line_category_comes_from_metadata_with_the_spec_fallbacks(
    metadata, recurring, metered, category
):
    assert line_category(metadata, recurring=recurring, metered=metered) == category


def test_an_unknown_metadata_category_is_an_error_not_a_fallback():
    with pytest.raises(UnknownCategory, match="'addons'"):
        line_category("addons", recurring=True)


@pytest.mark.parametrize(
    ("billing_reason", "kind"),
    [("subscription_create", "new_purchase"), ("manual", "new_purchase"),
     ("subscription_cycle", "renewal"), ("subscription_update", "change"),
     ("subscription_threshold", "new_purchase"), (None, "new_purchase")],
)  # fmt: skip
def test_billing_reason_tells_renewals_from_new_purchases(billing_reason, kind):
    assert purchase_kind(billing_reason) == kind


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [(110000, "usd", "1,100.00 USD"), (5, "eur", "0.05 EUR"), (1200, "JPY", "1,200 JPY"),
     (150000, "krw", "150,000 KRW"), (1234, "bhd", "1.234 BHD"), (0, "usd", "0.00 USD")],
)  # fmt: skip
def test_money_is_written_in_the_currency_minor_unit(amount, currency, text):
    assert format_money(amount, currency) == text
