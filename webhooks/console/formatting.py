"""How the pages write moments and money: UTC throughout, amounts in the currency's units."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from worker.db.models import utcnow
from worker.policy.money import format_money, minor_unit_digits


def moment(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if value else "—"


def ago(value: datetime | None, now: datetime | None = None) -> str:
    """`5 min ago`-style age, for scanning a table; the full moment is in the cell's title."""
    if value is None:
        return ""
    seconds = int(((now or utcnow()) - value).total_seconds())
    if seconds < 60:
        return f"{max(seconds, 0)} s ago"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return ""


def money(amount: int | None, currency: str) -> str:
    return "—" if amount is None else format_money(amount, currency)


def major_units(amount: int, currency: str) -> str:
    """`1100.00` for 110000 usd: what an amount field shows and expects."""
    digits = minor_unit_digits(currency)
    return f"{Decimal(amount).scaleb(-digits):.{digits}f}"


def parse_amount(text: str, currency: str) -> int:
    """`1,100.00` in usd → 110000 minor units; ValueError with a message to show otherwise."""
    digits = minor_unit_digits(currency)
    cleaned = text.strip().replace(",", "").replace(" ", "")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite():
        raise ValueError(f"{text!r} is not an amount: write it like 1100.00")
    minor = value.scaleb(digits)
    if minor != minor.to_integral_value():
        raise ValueError(f"{text!r} has more than {digits} decimals for {currency.upper()}")
    return int(minor)


FILTERS = {"moment": moment, "ago": ago, "money": money, "major_units": major_units}
