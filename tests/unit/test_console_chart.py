"""The events chart's geometry and the console's amount field: pure functions, no server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from webhooks.console.chart import HOURS, build_chart, first_hour, nice_ceiling
from webhooks.console.formatting import major_units, parse_amount

NOW = datetime(2025, 5, 1, 10, 25, tzinfo=UTC)


def test_the_chart_covers_48_hours_ending_with_the_current_one() -> None:
    chart = build_chart({}, NOW)
    assert len(chart.bars) == HOURS
    assert chart.bars[0].hour == first_hour(NOW) == datetime(2025, 4, 29, 11, tzinfo=UTC)
    assert chart.bars[-1].hour == datetime(2025, 5, 1, 10, tzinfo=UTC)
    assert (chart.total, chart.scale_max) == (0, 1)
    assert [t.label for t in chart.ticks] == [
        "12:00",
        "18:00",
        "Apr 30",
        "06:00",
        "12:00",
        "18:00",
        "May 01",
        "06:00",
    ]


def test_bars_stack_statuses_from_the_baseline_scaled_to_a_round_maximum() -> None:
    hour = datetime(2025, 5, 1, 9, tzinfo=UTC)
    counts = {
        (hour, "processed"): 30,
        (hour, "failed"): 7,
        (first_hour(NOW), "ignored"): 1,
    }
    chart = build_chart(counts, NOW)
    bar = chart.bars[-2]
    assert (bar.hour, bar.total, chart.scale_max, chart.total) == (hour, 37, 50, 38)
    processed, failed = bar.segments
    assert (processed.status, failed.status) == ("processed", "failed")
    assert processed.y + processed.height == pytest.approx(chart.baseline)  # on the axis
    assert failed.y + failed.height == pytest.approx(processed.y)  # stacked on top
    assert processed.height / failed.height == pytest.approx(30 / 7)
    assert bar.title == "2025-05-01 09:00 UTC: 37 events (7 failed, 30 processed)"
    assert chart.bars[0].segments[0].status == "ignored"  # the oldest hour is still shown
    assert build_chart({(hour - timedelta(hours=48), "failed"): 5}, NOW).total == 0


@pytest.mark.parametrize(
    ("tallest", "axis"),
    [(0, 1), (1, 1), (2, 2), (3, 3), (4, 5), (7, 10), (11, 20), (23, 30), (250, 300), (501, 1000)],
)
def test_the_axis_maximum_is_1_2_3_or_5_times_a_power_of_ten(tallest: int, axis: int) -> None:
    assert nice_ceiling(tallest) == axis


@pytest.mark.parametrize(
    ("typed", "currency", "minor"),
    [
        ("1200.00", "usd", 120000),
        ("1,200", "usd", 120000),
        ("0.5", "eur", 50),
        ("1200", "jpy", 1200),
        ("1.234", "kwd", 1234),
    ],
)
def test_an_amount_is_typed_in_the_currency_units_and_kept_in_minor_units(
    typed: str, currency: str, minor: int
) -> None:
    assert parse_amount(typed, currency) == minor


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("12.345", "more than 2 decimals"),
        ("ten", "is not an amount"),
        ("NaN", "is not an amount"),
        ("-Infinity", "is not an amount"),
    ],
)
def test_an_amount_that_is_not_one_says_why(typed: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_amount(typed, "usd")


def test_an_amount_field_shows_the_proposal_in_currency_units() -> None:
    assert (major_units(120000, "usd"), major_units(1200, "jpy"), major_units(5, "usd")) == (
        "1200.00",
        "1200",
        "0.05",
    )
