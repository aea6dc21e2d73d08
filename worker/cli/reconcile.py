"""`billing-worker reconcile`: what differs between Stripe and the policy, and with `--fix`, Stripe
brought back to the policy's end state.

Exit status: 0 nothing drifted (with `--fix`: nothing is left drifted), 1 something did, or a
customer could not be compared or fixed (the report says which), 2 bad usage.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime

import click

from worker.cli.accounts import account_filter
from worker.cli.moments import MOMENT
from worker.cli.runtime import command_runtime
from worker.reconcile.run import ReconcileReport, reconcile


@click.command("reconcile")
@click.option("--customer", metavar="CUS", help="only this customer (cus_…)")
@account_filter()
@click.option(
    "--since",
    type=MOMENT,
    help="only customers with an event or a refund request since then (e.g. 2h, 3d, ISO 8601)",
)
@click.option("--fix", is_flag=True, help="bring Stripe back to the policy's end state")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def reconcile_command(
    customer: str | None, account: str | None, since: datetime | None, fix: bool, fmt: str
) -> None:
    """Compare Stripe with the policy and our history; read-only unless --fix."""
    report = reconcile(command_runtime(), customer=customer, account=account, since=since, fix=fix)
    if fmt == "json":
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        click.echo(report_text(report))
    if not report.clean:
        sys.exit(1)


def report_text(report: ReconcileReport) -> str:
    lines: list[str] = []
    for finding in report.found:
        lines += [finding.text(), ""]
    if report.fix:
        for result in report.customers:
            for change in result.changes:
                lines.append(f"changed at Stripe: {change.text()}")
            for finding in result.fixed:
                lines.append(f"fixed {finding.id}: {finding.kind} {finding.object_id}")
        for finding in report.remaining:
            lines.append(f"left: {finding.id}: {finding.kind} {finding.object_id}")
    for result in report.errors:
        lines.append(f"{result.whose.customer}: {result.error}")
    checked = len(report.customers)
    found, left = len(report.found), len(report.remaining)
    summary = f"{checked} customer(s) checked, {found} difference(s) found"
    if report.fix:
        summary += f", {len(report.changes)} change(s) made at Stripe, {left} left"
    if report.errors:
        summary += f", {len(report.errors)} customer(s) not done"
    lines.append(summary + f" (run {report.run_id})")
    return "\n".join(lines)
