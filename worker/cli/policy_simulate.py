"""`billing-worker policy simulate`: what a proposed policy would have done to the stored past.

Output is streamed: each request decided differently is printed when its page is read, the
totals and the accounts after; `--format json` writes one JSON object the same way.
"""

from __future__ import annotations

import importlib
import json
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import click

from worker.cli.moments import MOMENT
from worker.cli.policy import exit_invalid
from worker.policy import BUILTIN_POLICIES, Policy, PolicyFileError, UnknownPolicy, load_policy

SKIPPED_LISTED = 100  # a request whose invoice is gone is rare: list the first ones, count all


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
def simulate(proposed_name: str, since: datetime | None, until: datetime | None, fmt: str) -> None:
    """Decide the stored refund requests and disputes of a period again, under the policy in
    force ($BILLING_POLICY) and the proposed one, and show what would change. Reads only."""
    try:
        proposed = load_policy(proposed_name)
    except (UnknownPolicy, PolicyFileError) as problem:
        exit_invalid(f"policy simulate: {problem}")
        return
    # Imported here: `policy show` starts without SQLAlchemy (python -m bench --only cli).
    from worker.cli.runtime import command_runtime
    from worker.commands.policy_simulation import (
        Period,
        SimulationError,
        account_comparisons,
        request_comparisons,
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
    report = JsonReport() if fmt == "json" else TextReport()
    report.start(runtime.policy, proposed, period.to_json())
    requests = request_comparisons(runtime.sessions, runtime.policy, proposed, period)
    report.requests(requests)
    report.accounts(account_comparisons(runtime.sessions, runtime.policy, proposed, period))
    report.finish()


class Report(ABC):
    """Counts what streams through; subclasses print it."""

    def __init__(self) -> None:
        from worker.policy.simulation import Tally

        self.tally = Tally()
        self.skipped: list[Any] = []
        self.skipped_count = 0
        self.accounts_seen = 0
        self.accounts_changed = 0

    def _requests(self, items: Iterable[Any], changed: Callable[[Any], None]) -> None:
        from worker.commands.policy_simulation import Skipped

        for item in items:
            if isinstance(item, Skipped):
                self.skipped_count += 1
                if len(self.skipped) < SKIPPED_LISTED:
                    self.skipped.append(item)
                continue
            self.tally.add(item)
            if item.changed:
                changed(item)

    def _accounts(self, items: Iterable[Any], changed: Callable[[Any], None]) -> None:
        for item in items:
            self.accounts_seen += 1
            if item.changed:
                self.accounts_changed += 1
                changed(item)

    @abstractmethod
    def start(self, current: Policy, proposed: Policy, period: dict[str, str | None]) -> None: ...

    @abstractmethod
    def requests(self, items: Iterable[Any]) -> None: ...

    @abstractmethod
    def accounts(self, items: Iterable[Any]) -> None: ...

    @abstractmethod
    def finish(self) -> None: ...


def _policy_line(chosen: Policy) -> str:
    return f"{chosen.name} {chosen.version or 'undated'} ({_where(chosen)})"


def _where(chosen: Policy) -> str:
    """A built-in policy is named so; its path inside the installed package says nothing."""
    if chosen.name in BUILTIN_POLICIES and chosen.source == load_policy(chosen.name).source:
        return "built in"
    return str(chosen.source)


def _verdict_text(verdict: Any, currency: str) -> str:
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

    def requests(self, items: Iterable[Any]) -> None:
        def show(item: Any) -> None:
            click.echo(
                f"{item.request_id}  {item.customer}  {item.invoice}  received "
                f"{item.received_at[:19].replace('T', ' ')}"
            )
            click.echo(f"  before  {_verdict_text(item.before, item.currency)}")
            click.echo(f"  after   {_verdict_text(item.after, item.currency)}")

        self._requests(items, show)
        for skipped in self.skipped:
            click.echo(f"skipped {skipped.request_id}: {skipped.reason}")
        t = self.tally
        click.echo(f"{t.requests} refund request(s) decided again, {t.changed} differently")
        if self.skipped_count:
            click.echo(f"{self.skipped_count} request(s) skipped")
        for totals in t.totals():
            change = _signed(totals.refunded_after - totals.refunded_before)
            click.echo(
                f"  {totals.currency}  refunded {totals.refunded_before} -> "
                f"{totals.refunded_after} ({change}); proposed for review "
                f"{totals.review_before} -> {totals.review_after}"
            )
        click.echo("")

    def accounts(self, items: Iterable[Any]) -> None:
        def show(item: Any) -> None:
            clauses = dict.fromkeys((item.before.clause, item.after.clause))
            disputes = ", ".join(item.before.disputes or item.after.disputes)
            click.echo(
                f"{item.customer}  {item.before.state} -> {item.after.state}  "
                f"({' -> '.join(clauses)}: {disputes})"
            )

        self._accounts(items, show)
        click.echo(
            f"{self.accounts_seen} account(s) with disputes, "
            f"{self.accounts_changed} in another state"
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

    def requests(self, items: Iterable[Any]) -> None:
        self._list("requests_changed", lambda show: self._requests(items, show))
        t = self.tally
        self._field("requests", {"decided": t.requests, "changed": t.changed})
        self._field("skipped", [s.to_json() for s in self.skipped])
        self._field("skipped_count", self.skipped_count)
        self._field("totals", [totals.to_json() for totals in t.totals()])

    def accounts(self, items: Iterable[Any]) -> None:
        self._list("accounts_changed", lambda show: self._accounts(items, show))
        counts = {"with_disputes": self.accounts_seen, "changed": self.accounts_changed}
        self._field("accounts", counts, last=True)

    def finish(self) -> None:
        click.echo("}")

    def _field(self, name: str, value: Any, *, last: bool = False) -> None:
        text = json.dumps(value, indent=2, ensure_ascii=False).replace("\n", "\n  ")
        click.echo(f"  {json.dumps(name)}: {text}{'' if last else ','}")

    def _list(self, name: str, fill: Callable[[Callable[[Any], None]], None]) -> None:
        click.echo(f"  {json.dumps(name)}: [", nl=False)
        written = 0

        def write(item: Any) -> None:
            nonlocal written
            text = json.dumps(item.to_json(), indent=2, ensure_ascii=False)
            click.echo(("," if written else "") + "\n    " + text.replace("\n", "\n    "), nl=False)
            written += 1

        fill(write)
        click.echo("\n  ]," if written else "],")


def _policy_json(chosen: Policy) -> dict[str, Any]:
    return {"name": chosen.name, "version": chosen.version, "source": str(chosen.source)}
