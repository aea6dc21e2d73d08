"""Phrases the explanations share, so every sentence says time and windows the same way."""

from datetime import datetime, timedelta

_DAY = timedelta(days=1)


def window_text(hours: int) -> str:
    """`14 days` for 336 hours; `36 hours` when the window is not whole days."""
    if hours and hours % 24 == 0:
        days = hours // 24
        return f"{days} day" if days == 1 else f"{days} days"
    return f"{hours} hour" if hours == 1 else f"{hours} hours"


def days_ago(elapsed: timedelta) -> str:
    """Whole days elapsed, floored: 6 days and 1 hour is `6 days ago`."""
    days = elapsed // _DAY
    if days == 0:
        return "less than a day ago"
    return "1 day ago" if days == 1 else f"{days} days ago"


def ago_outside(elapsed: timedelta, window_hours: int) -> str:
    """How long ago, for a payment just outside its window, without a self-contradiction.

    One second past 14 days is still `14 days ago` when floored; say `more than 14 days ago`.
    """
    if elapsed // _DAY * 24 <= window_hours:
        return f"more than {window_text(window_hours)} ago"
    return days_ago(elapsed)


def long_date(moment: datetime) -> str:
    """`30 April 2025`: unambiguous in every country."""
    return f"{moment.day} {moment:%B} {moment.year}"


def months_text(count: int) -> str:
    return "1 month" if count == 1 else f"{count} months"


def window_name(hours: int) -> str:
    """`the 3-day window`, `the 36-hour window`."""
    if hours and hours % 24 == 0:
        return f"the {hours // 24}-day window"
    return f"the {hours}-hour window"
