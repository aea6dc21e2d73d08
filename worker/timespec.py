"""Moments typed by people: `2025-05-01`, `2025-05-01T10:00:00Z`, or `6h` / `2d` ago."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_AGO = re.compile(r"^(\d+)\s*([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
# Farther back than any event (Stripe is younger), and well inside what a datetime can hold.
MAX_AGO = timedelta(days=36500)


def parse_moment(text: str, now: datetime | None = None) -> datetime:
    """An aware UTC datetime; a moment without a zone is read as UTC.

    Raises ValueError with a message that can be shown to the person who typed it.
    """
    text = text.strip()
    ago = _AGO.match(text)
    if ago:
        amount, unit = ago.groups()
        # A timedelta holds nine digits in any unit; more is too far back in every unit.
        delta = timedelta(**{_UNITS[unit]: int(amount)}) if len(amount) <= 9 else None
        if delta is None or delta > MAX_AGO:
            raise ValueError(
                f"{text!r} is too far back: a duration ago is at most {MAX_AGO.days}d (100 years)"
            )
        return (now or datetime.now(UTC)) - delta
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a moment: use ISO 8601 (2025-05-01, 2025-05-01T10:00:00Z) "
            "or a duration ago (90m, 6h, 2d)"
        ) from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is a moment of the year 0 in UTC
        raise ValueError(f"{text!r} is outside the years 1 to 9999 in UTC") from None
