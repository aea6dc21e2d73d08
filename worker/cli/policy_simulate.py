"""`billing-worker policy simulate`: what a proposed policy would have done to the stored past.

Output is streamed: each request decided differently is printed when its page is read, the
totals and the accounts after; `--format json` writes one JSON object the same way.
"""

from __future__ import annotations

import importlib
import json
import os
from abc import ABC, abstractmethod
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from worker.cli.accounts import acting_account
from worker.cli.moments import MOMENT
from worker.cli.policy import exit_invalid
from worker.policy import BUILTIN_POLICIES, Policy, PolicyFileError, UnknownPolicy, load_policy

if TYPE_CHECKING:
    from worker.commands.policy_simulation import Summary
    from worker.policy.simulation import AccountComparison, RequestComparison, Verdict


@click.command("simulate")
@click.option(
    "--policy",
    "proposed_name",
    required=True,
    metavar="FILE",
    help="the proposed policy: a policy file (or mittrik, dmly)",
)
@click.option("--since", type=MOMENT, help="requests received at or after (ISO 8601, or 2d ago)")
@click.option("--until", type=MOMENT, help="received before")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@acting_account()
def simulate(
    proposed_name: str, since: datetime | None, until: datetime | None, fmt: str, account: str
) -> None:
    """Decide an account's stored refund requests and disputes of a period again, under its
    policy in force ($BILLING_POLICY, or its $BILLING_POLICY_BY_ACCOUNT entry) and the proposed
    one, and show what would change. Reads only."""
    try:
        proposed = load_policy(proposed_name)
    except (UnknownPolicy, PolicyFileError) as problem:
        exit_invalid(f"policy simulate: {problem}")
        return
    # Imported here: `policy show` starts without SQLAlchemy (python -m bench --only cli).
    from worker.cli.runtime import command_runtime
    from worker.commands.policy_simulation import (
        Period,
        Simulation,
        SimulationError,
        Summary,
    )

    period = Period(since, until)
    try:
        period.check()
    except SimulationError as problem:
        raise click.UsageError(str(problem)) from None
    # `policy` is an offline group: this command reads the event log, so it logs like one.
    logging = importlib.import_module("worker.logging")
    logging.configure_logging(os.environ.get("LOG_LEVEL", "INFO"))
    runtime = command_runtime()
    current, sessions, summary = runtime.policy_for(account), runtime.sessions, Summary()
    report = JsonReport(summary) if fmt == "json" else TextReport(summary)
    report.start(current, proposed, period.to_json())
    simulation = Simulation(sessions, current, proposed, period, account=account)
    report.requests(summary.changed_requests(simulation.requests()))
    report.accounts(summary.changed_accounts(simulation.accounts()))
    report.finish()


class Report(ABC):
    """Prints what `Summary` lets through, and its counts at the end."""

    def __init__(self, summary: Summary) -> None:
        self.summary = summary

    @abstractmethod
    def start(self, current: Policy, proposed: Policy, period: dict[str, str | None]) -> None: ...

    @abstractmethod
    def requests(self, changed: Iterable[RequestComparison]) -> None: ...

    @abstractmethod
    def accounts(self, changed: Iterable[AccountComparison]) -> None: ...

    @abstractmethod
    def finish(self) -> None: ...


def _policy_line(chosen: Policy) -> str:
    return f"{chosen.name} {chosen.version or 'undated'} ({_where(chosen)})"


def _where(chosen: Policy) -> str:
    """A built-in policy is named so; its path inside the installed package says nothing."""
    if chosen.name in BUILTIN_POLICIES and chosen.source == load_policy(chosen.name).source:
        return "built in"
    return str(chosen.source)


def _verdict_text(verdict: Verdict, currency: str) -> str:
    return f"{verdict.outcome} {verdict.amount} {currency} ({', '.join(verdict.clauses)})"


def _moment_text(iso: str | None) -> str | None:
    return iso[:19].replace("T", " ") if iso else None


def _signed(amount: int) -> str:
    return f"{amount:+d}" if amount else "0"


class TextReport(Report):
    def start(self, current: Policy, proposed: Policy, period: dict[str, str | None]) -> None:
        click.echo(f"policy in force: {_policy_line(current)}")
        click.echo(f"proposed:        {_policy_line(proposed)}")
        since, until = (_moment_text(period[end]) for end in ("since", "until"))
        if since or until:
            click.echo(f"period:          {since or 'the start'} .. {until or 'now'} UTC")
        click.echo("")

    def requests(self, changed: Iterable[RequestComparison]) -> None:
        for item in changed:
            received = _moment_text(item.received_at)
            click.echo(f"{item.request_id}  {item.customer}  {item.invoice}  received {received}")
            click.echo(f"  before  {_verdict_text(item.before, item.currency)}")
            click.echo(f"  after   {_verdict_text(item.after, item.currency)}")
        summary = self.summary
        for skipped in summary.skipped:
            click.echo(f"skipped {skipped.request_id}: {skipped.reason}")
        t = summary.tally
        click.echo(f"{t.requests} refund request(s) decided again, {t.changed} differently")
        if summary.skipped_count:
            click.echo(f"{summary.skipped_count} request(s) skipped")
        for totals in t.totals():
            change = _signed(totals.refunded_after - totals.refunded_before)
            click.echo(
                f"  {totals.currency}  refunded {totals.refunded_before} -> "
                f"{totals.refunded_after} ({change}); proposed for review "
                f"{totals.review_before} -> {totals.review_after}"
            )
        click.echo("")

    def accounts(self, changed: Iterable[AccountComparison]) -> None:
        for item in changed:
            clauses = dict.fromkeys((item.before.clause, item.after.clause))
            disputes = ", ".join(item.before.disputes or item.after.disputes)
            click.echo(
                f"{item.customer}  {item.before.state} -> {item.after.state}  "
                f"({' -> '.join(clauses)}: {disputes})"
            )
        click.echo(
            f"{self.summary.accounts_with_disputes} account(s) with disputes, "
            f"{self.summary.accounts_changed} in another state"
        )

    def finish(self) -> None:
        pass


class JsonReport(Report):
    """One JSON object, written as it goes: the lists are streamed item by item."""

    def start(self, current: Policy, proposed: Policy, period: dict[str, str | None]) -> None:
        click.echo("{")
        self._field("current", _policy_json(current))
        self._field("proposed", _policy_json(proposed))
        self._field("period", period)

    def requests(self, changed: Iterable[RequestComparison]) -> None:
        self._list("requests_changed", changed)
        summary, t = self.summary, self.summary.tally
        self._field("requests", {"decided": t.requests, "changed": t.changed})
        self._field("skipped", [s.to_json() for s in summary.skipped])
        self._field("skipped_count", summary.skipped_count)
        self._field("totals", [totals.to_json() for totals in t.totals()])

    def accounts(self, changed: Iterable[AccountComparison]) -> None:
        self._list("accounts_changed", changed)
        counts = {
            "with_disputes": self.summary.accounts_with_disputes,
            "changed": self.summary.accounts_changed,
        }
        self._field("accounts", counts, last=True)

    def finish(self) -> None:
        click.echo("}")

    def _field(self, name: str, value: Any, *, last: bool = False) -> None:
        text = json.dumps(value, indent=2, ensure_ascii=False).replace("\n", "\n  ")
        click.echo(f"  {json.dumps(name)}: {text}{'' if last else ','}")

    def _list(self, name: str, items: Iterable[Any]) -> None:
        click.echo(f"  {json.dumps(name)}: [", nl=False)
        written = 0
        for item in items:
            text = json.dumps(item.to_json(), indent=2, ensure_ascii=False)
            click.echo(("," if written else "") + "\n    " + text.replace("\n", "\n    "), nl=False)
            written += 1
        click.echo("\n  ]," if written else "],")


def _policy_json(chosen: Policy) -> dict[str, Any]:
    return {"name": chosen.name, "version": chosen.version, "source": str(chosen.source)}
