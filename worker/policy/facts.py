"""The facts a decision is made on, and their validation from the contract's JSON.

Everything the engine needs arrives here as plain, already-checked values: timestamps are aware
UTC datetimes, money is a non-negative int in the currency's minor unit. Anything else is an
`InvalidFacts` naming the field, so the CLI can exit 2 with one line saying what is wrong.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, cast

from worker.policy.categories import CATEGORIES, Category

Reason = Literal["requested_by_customer", "technical_issue"]
REASONS: tuple[Reason, ...] = ("requested_by_customer", "technical_issue")

Interval = Literal["month", "year"]
INTERVALS: tuple[Interval, ...] = ("month", "year")


class InvalidFacts(ValueError):
    """The facts break the contract; `field` is the dotted path of the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class RefundRequest:
    received_at: datetime  # when the worker received the request: windows are measured to it
    reason: Reason
    line_ids: tuple[str, ...] | None = None  # None: every line of the invoice
    support_override: bool = False  # D2.override: support asks to decide outside the window


@dataclass(frozen=True)
class InvoiceLine:
    id: str
    category: Category
    amount: int
    interval: Interval | None  # None: a one-off item
    period_start: datetime
    period_end: datetime
    consumed: bool  # an add-on has been used or activated (M2.used)

    def period_has_ended(self, at: datetime) -> bool:
        """M3.credits, D4.exclusions: the line's billing period is over at `at`.

        A zero-length period (Stripe gives one-off items period_start == period_end) is no
        billing period at all, so it never "ends".
        """
        return self.period_end > self.period_start and self.period_end <= at


@dataclass(frozen=True)
class Invoice:
    id: str
    number: str | None
    customer: str | None
    currency: str
    billing_reason: str
    paid_at: datetime
    amount_paid: int
    amount_refunded: int
    disputed: bool
    lines: tuple[InvoiceLine, ...]

    @property
    def refundable_remainder(self) -> int:
        """What may still be refunded of this payment: never negative."""
        return max(0, self.amount_paid - self.amount_refunded)


@dataclass(frozen=True)
class Facts:
    policy: str  # a policy name (mittrik, dmly) or the path of a policy file
    request: RefundRequest
    invoice: Invoice

    def requested_lines(self) -> tuple[InvoiceLine, ...]:
        """The lines the request is about, in invoice order."""
        wanted = self.request.line_ids
        if wanted is None:
            return self.invoice.lines
        return tuple(line for line in self.invoice.lines if line.id in wanted)


_MISSING = object()


def _get(raw: Mapping[str, Any], key: str, path: str) -> Any:
    value = raw.get(key, _MISSING)
    if value is _MISSING:
        raise InvalidFacts(f"{path}{key}", "is missing")
    return value


def _object(value: Any, field: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidFacts(field, "must be an object")
    return value


def _string(value: Any, field: str, *, nullable: bool = False) -> Any:
    if value is None and nullable:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidFacts(field, "must be a non-empty string" + (" or null" if nullable else ""))
    return value


def _boolean(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidFacts(field, "must be true or false")
    return value


def _money(value: Any, field: str) -> int:
    # bool is an int in Python; `true` is not an amount.
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidFacts(field, "must be a non-negative integer")
    return int(value)


def _choice(value: Any, field: str, choices: tuple[str, ...]) -> Any:
    if value not in choices:
        raise InvalidFacts(field, f"must be one of {', '.join(choices)}")
    return value


def parse_timestamp(value: Any, field: str) -> datetime:
    """An ISO 8601 timestamp with a zone (`Z` or an offset), normalised to UTC."""
    problem = "must be an ISO 8601 timestamp with a zone, e.g. 2025-05-01T10:00:00Z"
    # fromisoformat also takes a bare date; a timestamp needs its time (and its zone).
    if not isinstance(value, str) or not re.match(r"^\d{4}-?\d{2}-?\d{2}[T ]\d", value):
        raise InvalidFacts(field, problem)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidFacts(field, problem) from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidFacts(field, problem)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 would be in the year 0
        raise InvalidFacts(field, "must be within the years 1 to 9999 in UTC") from None


def _parse_line(raw: Any, path: str) -> InvoiceLine:
    line = _object(raw, path.rstrip("."))
    interval = _get(line, "interval", path)
    if interval is not None:
        _choice(interval, f"{path}interval", INTERVALS)
    period_start = parse_timestamp(_get(line, "period_start", path), f"{path}period_start")
    period_end = parse_timestamp(_get(line, "period_end", path), f"{path}period_end")
    if period_end < period_start:
        raise InvalidFacts(f"{path}period_end", "must not be before period_start")
    return InvoiceLine(
        id=_string(_get(line, "id", path), f"{path}id"),
        category=_choice(_get(line, "category", path), f"{path}category", CATEGORIES),
        amount=_money(_get(line, "amount", path), f"{path}amount"),
        interval=interval,
        period_start=period_start,
        period_end=period_end,
        consumed=_boolean(_get(line, "consumed", path), f"{path}consumed"),
    )


def _parse_lines(raw: Any) -> tuple[InvoiceLine, ...]:
    if not isinstance(raw, list) or not raw:
        raise InvalidFacts("invoice.lines", "must be a non-empty list of lines")
    lines = tuple(_parse_line(item, f"invoice.lines[{i}].") for i, item in enumerate(raw))
    seen: set[str] = set()
    for i, line in enumerate(lines):
        if line.id in seen:
            raise InvalidFacts(f"invoice.lines[{i}].id", f"{line.id!r} appears twice")
        seen.add(line.id)
    return lines


def _parse_invoice(raw: Any) -> Invoice:
    invoice = _object(raw, "invoice")
    path = "invoice."
    currency = _string(_get(invoice, "currency", path), "invoice.currency")
    if not re.fullmatch(r"[A-Za-z]{3}", currency):
        raise InvalidFacts("invoice.currency", "must be a three-letter ISO 4217 code")
    return Invoice(
        id=_string(_get(invoice, "id", path), "invoice.id"),
        number=_string(_get(invoice, "number", path), "invoice.number", nullable=True),
        customer=_string(_get(invoice, "customer", path), "invoice.customer", nullable=True),
        currency=currency.lower(),
        billing_reason=_string(_get(invoice, "billing_reason", path), "invoice.billing_reason"),
        paid_at=parse_timestamp(_get(invoice, "paid_at", path), "invoice.paid_at"),
        amount_paid=_money(_get(invoice, "amount_paid", path), "invoice.amount_paid"),
        amount_refunded=_money(_get(invoice, "amount_refunded", path), "invoice.amount_refunded"),
        disputed=_boolean(_get(invoice, "disputed", path), "invoice.disputed"),
        lines=_parse_lines(_get(invoice, "lines", path)),
    )


def _parse_line_ids(raw: Any) -> tuple[str, ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or not raw or not all(isinstance(i, str) for i in raw):
        raise InvalidFacts("request.line_ids", "must be null or a non-empty list of line ids")
    return tuple(dict.fromkeys(raw))  # a repeated id asks for the same line once


def _parse_request(raw: Any) -> RefundRequest:
    request = _object(raw, "request")
    path = "request."
    return RefundRequest(
        received_at=parse_timestamp(_get(request, "received_at", path), "request.received_at"),
        reason=_choice(_get(request, "reason", path), "request.reason", REASONS),
        line_ids=_parse_line_ids(request.get("line_ids")),
        support_override=_boolean(
            request.get("support_override", False), "request.support_override"
        ),
    )


def _check_lines_are_on_invoice(request: RefundRequest, invoice: Invoice) -> None:
    on_invoice = {line.id for line in invoice.lines}
    for line_id in request.line_ids or ():
        if line_id not in on_invoice:
            raise InvalidFacts(
                "request.line_ids", f"{line_id!r} is not a line of invoice {invoice.id}"
            )


def parse_facts(raw: Any) -> Facts:
    """Facts from the contract's JSON (already decoded); unknown extra fields are ignored."""
    document = _object(raw, "facts")
    policy = _string(_get(document, "policy", ""), "policy")
    request = _parse_request(_get(document, "request", ""))
    invoice = _parse_invoice(_get(document, "invoice", ""))
    _check_lines_are_on_invoice(request, invoice)
    return Facts(policy=cast(str, policy), request=request, invoice=invoice)
