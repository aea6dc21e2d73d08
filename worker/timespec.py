"""Moments typed by people: `2025-05-01`, `2025-05-01T10:00:00Z`, or `6h` / `2d` ago."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_AGO = re.compile(r"^(\d+)\s*([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_moment(text: str, now: datetime | None = None) -> datetime:
    """An aware UTC datetime; a moment without a zone is read as UTC.

    Raises ValueError with a message that can be shown to the person who typed it.
    """
    text = text.strip()
    ago = _AGO.match(text)
    if ago:
        now = now or datetime.now(UTC)
        return now - timedelta(**{_UNITS[ago.group(2)]: int(ago.group(1))})
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a moment: use ISO 8601 (2025-05-01, 2025-05-01T10:00:00Z) "
            "or a duration ago (90m, 6h, 2d)"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
