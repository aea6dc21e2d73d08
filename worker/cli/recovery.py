"""`billing-worker events replay` and `events backfill`: progress on a terminal, then a summary."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click
from sqlalchemy.exc import DBAPIError
from tqdm import tqdm

from worker.cli.accounts import acting_account
from worker.cli.event_filters import event_filters
from worker.cli.moments import MOMENT
from worker.cli.runtime import command_runtime
from worker.cli.shown import echo_json, echo_text
from worker.db.models import utcnow
from worker.errors import RetryableError
from worker.eventlog.selection import EventSelection, SelectionError, count

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from worker.eventlog.replay import ProcessMany


FORMAT = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")


def progress(total: int | None, unit: str) -> tqdm:
    """A bar on stderr when it is a terminal; nothing at all when piped or in a script."""
    return tqdm(total=total, unit=unit, file=sys.stderr, disable=not sys.stderr.isatty())


@click.command("replay")
@click.argument("event_ids", nargs=-1)
@event_filters
@click.option("--all", "everything", is_flag=True, help="every stored event")
@click.option("--dry-run", is_flag=True, help="count what would be replayed, run nothing")
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    help="processes replaying at once, by customer (default: the cores on PostgreSQL, 1 on SQLite)",
)
@FORMAT
def replay_command(
    event_ids: tuple[str, ...],
    selection: EventSelection,
    everything: bool,
    dry_run: bool,
    jobs: int | None,
    fmt: str,
) -> None:
    """Run stored events through their handlers again; what was done stays done.

    Select by ids, or by filters that all apply. Exits 1 if an event fails or an id is not
    stored. With --jobs N, N processes each replay a share of the customers, one customer's
    events in order.
    """
    from worker.eventlog.parallel_replay import default_jobs, replay_parallel
    from worker.eventlog.replay import ReplaySummary, operator_batches, replay

    selection = replace(selection, ids=event_ids, everything=everything)
    try:
        selection.require_explicit()
    except SelectionError as exc:
        raise click.UsageError(str(exc)) from None
    runtime = command_runtime()
    sessions = runtime.sessions
    dialect = sessions.kw["bind"].dialect.name
    jobs = default_jobs(dialect) if jobs is None else jobs
    if jobs > 1 and dialect != "postgresql":
        click.echo(f"{dialect}: one writer at a time, replaying with --jobs 1", err=True)
        jobs = 1
    # A dry run runs nothing and an id selection is small: neither gains from more processes.
    parallel = jobs > 1 and not dry_run and not selection.ids
    summary = ReplaySummary(dry_run=dry_run)
    try:
        with progress(count(sessions, selection), "event") as bar:
            outcomes = (
                replay_parallel(selection, jobs, operator_worker)
                if parallel
                else replay(
                    sessions, selection, dry_run=dry_run, process_many=operator_batches(runtime)
                )
            )
            for outcome in outcomes:
                summary.add(outcome)
                if outcome.kind != "missing":
                    bar.update()
    except (DBAPIError, RetryableError) as exc:
        _echo_replay(summary, fmt)
        raise click.ClickException(
            f"database unavailable ({type(exc).__name__}); stopped after {summary.selected} "
            "event(s), run the replay again"
        ) from exc
    _echo_replay(summary, fmt)
    sys.exit(0 if summary.ok else 1)


def _echo_replay(summary: Any, fmt: str) -> None:
    if fmt == "json":
        echo_json(summary.to_dict())
        return
    statuses = ", ".join(f"{n} {status}" for status, n in sorted(summary.by_status.items()))
    selected = f"selected {summary.selected} event(s)" + (f" ({statuses})" if statuses else "")
    if summary.dry_run:
        click.echo(f"dry run: {selected}; nothing was run")
    else:
        click.echo(selected)
        click.echo(
            f"replayed {summary.replayed}, unchanged {summary.unchanged}, failed {summary.failed}"
        )
    for failure in summary.failures:  # the first line: Stripe's messages run on
        reason = (failure["error"] or "").splitlines()[0] if failure["error"] else "?"
        echo_text(f"  failed  {failure['id']}: {reason}")
    for event_id in summary.missing_ids:
        click.echo(f"  missing {event_id}: not stored")


@click.command("backfill")
@click.option("--since", type=MOMENT, required=True, help="created at or after (within 30 days)")
@click.option("--until", type=MOMENT, help="created at or before (default: now)")
@click.option("--type", "event_type", help="only this Stripe event type (wildcards as Stripe's)")
@acting_account()
@FORMAT
def backfill_command(
    since: datetime, until: datetime | None, event_type: str | None, account: str, fmt: str
) -> None:
    """Store and queue the events Stripe's Events API lists that were never received."""
    from worker.eventlog.backfill import (
        BackfillSummary,
        BackfillWindowError,
        EventsApiError,
        StripeEventsSource,
        backfill,
        check_window,
    )

    until = until or utcnow()
    try:
        check_window(since, until)
    except BackfillWindowError as exc:
        raise click.UsageError(str(exc)) from None
    runtime = command_runtime()
    source = StripeEventsSource(runtime.stripe, event_type, account)
    summary = BackfillSummary(since=since, until=until)
    try:
        with progress(None, "event") as bar:
            listed = backfill(runtime.sessions, source, runtime.enqueue, since, until, account)
            for outcome in listed:
                summary.add(outcome)
                bar.update()
    except EventsApiError as exc:
        # stdout has a summary only for a backfill that completed: a script never reads zeros.
        raise click.ClickException(f"Stripe's Events API failed: {exc}{_so_far(summary)}") from exc
    except DBAPIError as exc:
        raise click.ClickException(
            f"database unavailable ({type(exc).__name__}){_so_far(summary)}"
        ) from exc
    _echo_backfill(summary, fmt)


def _so_far(summary: Any) -> str:
    if not summary.seen:
        return ""
    return f" (before it: {summary.new} new event(s) stored, {summary.queued} queued; run again)"


def _echo_backfill(summary: Any, fmt: str) -> None:
    if fmt == "json":
        click.echo(json.dumps(summary.to_dict(), indent=2))
        return
    click.echo(
        f"seen {summary.seen} event(s) created {summary.since:%Y-%m-%d %H:%M:%S}"
        f" .. {summary.until:%Y-%m-%d %H:%M:%S} UTC: {summary.new} new, "
        f"{summary.already_stored} already stored"
    )
    click.echo(f"queued {summary.queued}")
    if summary.not_queued:
        click.echo(f"{summary.not_queued} stored but not queued (broker down): the sweeper will")
    for event_id in summary.malformed:
        click.echo(f"  skipped {event_id}: not a well-formed event")


def operator_worker() -> tuple[sessionmaker[Session], ProcessMany]:
    """Each `events replay --jobs N` process's runtime, built from the environment as this
    command builds its own (module level, so a spawned process can import it)."""
    from worker.bootstrap import bootstrap
    from worker.eventlog.replay import operator_batches

    runtime = bootstrap()
    return runtime.sessions, operator_batches(runtime)
