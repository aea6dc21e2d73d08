"""`billing-worker refunds`: request, review and list refunds under the billing policy."""

from __future__ import annotations

import sys
from datetime import date
from typing import Any

import click

from worker.cli.accounts import account_filter, acting_account, shown_account
from worker.cli.runtime import command_runtime
from worker.cli.shown import echo_json, echo_text
from worker.commands.refunds import (
    RefundRequestSummary,
    approve,
    list_requests,
    reject,
    request_refund,
)
from worker.db.models import REFUND_REQUEST_STATUSES
from worker.policy import REASONS


def show(request: RefundRequestSummary, fmt: str, duplicate: bool = False) -> None:
    """Print the request; exit 1 if its refund failed or is still to be retried: not done."""
    if fmt == "json":
        echo_json({**request.as_dict(), "duplicate": duplicate})
    else:
        _show_text(request, duplicate)
    if refund_failed(request):
        sys.exit(1)


def refund_failed(request: RefundRequestSummary) -> bool:
    """Stripe refused the refund (`failed`), it failed after Stripe took it (`refund_failed`),
    or it must be retried (approved, with an error): the money did not go back."""
    if request.status in ("failed", "refund_failed"):
        return True
    return request.status == "approved" and bool(request.error)


def _show_text(request: RefundRequestSummary, duplicate: bool) -> None:
    if duplicate:
        click.echo(f"already requested: {request.id} covers this invoice")
    amount = request.amount if request.amount is not None else request.proposed_amount
    click.echo(
        f"{request.id} {request.status}: {request.outcome} {amount} "
        f"{request.currency} on {request.invoice}{_of(request.account)} "
        f"({request.policy} {request.policy_version or ''}; {', '.join(request.clauses)})"
    )
    for line in request.lines:
        click.echo(f"  {line['id']}: {line['outcome']} {line['amount']} - {line['explanation']}")
    if request.refund_id:
        credit = request.expected_credit or {}
        click.echo(
            f"  refund {request.refund_id}; expected credit "
            f"{credit.get('from')} to {credit.get('to')}"
        )
    if request.error:
        echo_text(f"  error: {request.error}")


def _of(account: str) -> str:
    return f" of {account}" if account else ""


@click.group()
def refunds() -> None:
    """Refund requests decided by the billing policy."""


@refunds.command("request")
@click.option("--customer", required=True, help="customer id (cus_...) or account email")
@click.option("--invoice", help="invoice id (in_...) or number")
@click.option("--purchase-date", type=click.DateTime(["%Y-%m-%d"]), help="date paid (UTC)")
@click.option("--reason", required=True, type=click.Choice(REASONS))
@click.option("--note", help="what the customer said")
@click.option("--line", "lines", multiple=True, help="limit the request to these invoice lines")
@click.option(
    "--support-override",
    is_flag=True,
    help="support asks to decide outside the window (DMLY D2.override)",
)
@acting_account()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def request_command(
    customer: str,
    invoice: str | None,
    purchase_date: Any,
    reason: str,
    note: str | None,
    lines: tuple[str, ...],
    support_override: bool,
    account: str,
    fmt: str,
) -> None:
    """Decide a refund request; refund at once if the policy approves."""
    if (invoice is None) == (purchase_date is None):
        raise click.UsageError("give exactly one of --invoice and --purchase-date")
    day: date | None = purchase_date.date() if purchase_date else None
    result = request_refund(
        command_runtime(),
        customer=customer,
        invoice=invoice,
        purchase_date=day,
        reason=reason,
        note=note,
        line_ids=list(lines) or None,
        support_override=support_override,
        account=account,
    )
    show(result.request, fmt, result.duplicate)


@refunds.command("approve")
@click.argument("request_id")
@click.option("--amount", type=click.IntRange(min=1), help="minor units; default: the proposal")
@click.option("--by", required=True, help="who approves")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def approve_command(request_id: str, amount: int | None, by: str, fmt: str) -> None:
    """Approve a request waiting for review, and refund it."""
    show(approve(command_runtime(), request_id, by=by, amount=amount), fmt)


@refunds.command("reject")
@click.argument("request_id")
@click.option("--why", required=True)
@click.option("--by", required=True, help="who rejects")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def reject_command(request_id: str, why: str, by: str, fmt: str) -> None:
    """Reject a request waiting for review."""
    show(reject(command_runtime(), request_id, by=by, why=why), fmt)


@refunds.command("list")
@click.option("--status", type=click.Choice(REFUND_REQUEST_STATUSES))
@account_filter()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def list_command(status: str | None, account: str | None, fmt: str) -> None:
    """Refund requests, oldest first; a connected account's show its acct_… last."""
    rows = list_requests(command_runtime(), status, account)
    if fmt == "json":
        echo_json([row.as_dict() for row in rows])
        return
    for row in rows:
        amount = row.amount if row.amount is not None else row.proposed_amount
        click.echo(
            f"{row.id}  {row.status:<13} {amount:>10} {row.currency}  "
            f"{row.customer}  {row.invoice}  {','.join(row.clauses)}{shown_account(row.account)}"
        )
