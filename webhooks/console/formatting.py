"""How the pages write moments and money (UTC throughout, amounts in the currency's units), and
what no page shows: every value a template writes is scrubbed of card numbers and secrets."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from markupsafe import Markup

from worker.db.models import utcnow
from worker.policy.money import format_money, minor_unit_digits
from worker.redact import scrub


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


def shown(value: Any) -> Any:
    """Jinja's `finalize`: each `{{ … }}` a page writes, scrubbed, whoever typed it (a customer's
    note, a payload, an exception's message). A filter that cuts text short must come after
    `| scrub`, or the cut could leave a card number's first digits unmasked."""
    if isinstance(value, Markup):  # a macro's HTML: a mask adds no markup, it stays safe
        return Markup(scrub(str(value)))
    return scrub(value) if isinstance(value, str) else value


FILTERS = {
    "moment": moment,
    "ago": ago,
    "money": money,
    "major_units": major_units,
    "scrub": scrub,
}
