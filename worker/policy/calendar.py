"""Anniversary months and business days: the calendar arithmetic the policies rely on.

Months follow Stripe's anniversary billing: month k of a period starts at `period_start` plus k
calendar months, always counted from `period_start` (never chained), clamped to the end of a
shorter month. So Jan 31 + 1 month is Feb 28 (Feb 29 in a leap year), and Jan 31 + 2 months is
Mar 31, not Mar 28.
"""

from datetime import date, datetime, timedelta

MONTHS_IN_YEAR = 12


def _is_leap_year(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def days_in_month(year: int, month: int) -> int:
    if month == 2:
        return 29 if _is_leap_year(year) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def add_months(start: datetime, months: int) -> datetime:
    """`start` plus a number of calendar months, the day clamped to the target month's end."""
    month_index = start.year * 12 + (start.month - 1) + months
    year, month0 = divmod(month_index, 12)
    day = min(start.day, days_in_month(year, month0 + 1))
    return start.replace(year=year, month=month0 + 1, day=day)


def months_started(period_start: datetime, at: datetime) -> int:
    """How many months of the period have started by `at` (a month starting exactly at `at` has)."""
    if at < period_start:
        return 0
    # Estimate from the calendar difference, then step back while that month starts after `at`.
    months = (at.year - period_start.year) * 12 + (at.month - period_start.month)
    while months > 0 and add_months(period_start, months) > at:
        months -= 1
    return months + 1


def used_months(period_start: datetime, at: datetime) -> int:
    """Used months of an annual period at `at`: M3.partial — the month in progress counts as used.

    At least 1 (a refund is never for more than 11 months) and at most 12.
    """
    return max(1, min(MONTHS_IN_YEAR, months_started(period_start, at)))


def unused_months(period_start: datetime, at: datetime) -> int:
    return MONTHS_IN_YEAR - used_months(period_start, at)


def is_business_day(day: date) -> bool:
    """Monday to Friday; the policies name no holidays."""
    return day.weekday() < 5


def business_day_after(start: date, n: int) -> date:
    """The n-th business day after `start` (`start` itself never counts)."""
    day = start
    counted = 0
    while counted < n:
        day += timedelta(days=1)
        if is_business_day(day):
            counted += 1
    return day
