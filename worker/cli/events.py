"""`billing-worker events`: look at the event log, re-queue stranded events, send a test event."""

from __future__ import annotations

import json
from datetime import timedelta

import click
from sqlalchemy import select

from worker.cli.accounts import shown_account
from worker.cli.event_filters import event_filters
from worker.cli.recovery import backfill_command, replay_command
from worker.cli.runtime import command_runtime
from worker.cli.shown import echo_json, echo_text
from worker.cli.triggers import trigger, trigger_command
from worker.db.models import Event
from worker.eventlog.record import event_record
from worker.eventlog.selection import EventSelection, ordered


@click.group()
def events() -> None:
    """The event log."""


@events.command("list")
@event_filters
@click.option("--limit", type=int, help="at most N events (default: all)")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def list_events(selection: EventSelection, limit: int | None, fmt: str) -> None:
    """List events, oldest first; a connected account's show its acct_… last."""
    sessions = command_runtime().sessions
    query = ordered(select(Event), selection, None)
    if limit is not None:
        query = query.limit(limit)
    with sessions() as session:
        rows = (event_record(e) for e in session.scalars(query.execution_options(yield_per=500)))
        if fmt == "json":
            echo_json(list(rows))
            return
        click.echo(f"{'ID':<34} {'TYPE':<38} {'STATUS':<10} {'TRIES':>5}  RECEIVED")
        for row in rows:
            click.echo(
                f"{row['id']:<34} {row['type']:<38} {row['status']:<10} "
                f"{row['attempts']:>5}  {row['received_at']}{shown_account(row['account'] or '')}"
            )


@events.command("show")
@click.argument("event_id")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="json")
def show_event(event_id: str, fmt: str) -> None:
    """One event: its record, its last error and its payload."""
    sessions = command_runtime().sessions
    with sessions() as session:
        event = session.get(Event, event_id)
        if event is None:
            raise click.ClickException(f"no event {event_id}")
        record = event_record(event) | {
            "livemode": event.livemode,
            "account": event.account,
            "api_version": event.api_version,
            "last_traceback": event.last_traceback,
            "payload": json.loads(event.payload),
        }
    if fmt == "json":  # the default: what `events show` always printed
        echo_json(record)
        return
    payload, traceback = record.pop("payload"), record.pop("last_traceback")
    width = max(map(len, record))
    for key, value in record.items():
        echo_text(f"{key:<{width}}  {'' if value is None else value}")
    if traceback:
        echo_text(f"\n{traceback.rstrip()}")
    click.echo("\npayload:")
    echo_json(payload)


@events.command("sweep")
@click.option(
    "--older-than", type=int, help="seconds an event may wait (default: the grace period)"
)
def sweep_command(older_than: int | None) -> None:
    """Re-queue events still `received` after the grace period."""
    from worker.eventlog.sweeper import sweep

    runtime = command_runtime()
    if runtime.settings.embedded:
        click.echo("no BROKER_URL: the processing loops take every received event; none to queue")
        return
    grace = runtime.settings.sweep_grace_seconds if older_than is None else older_than
    try:
        queued = sweep(runtime.sessions, runtime.enqueue, timedelta(seconds=grace))
    except Exception as exc:  # noqa: BLE001 - the broker is down: say so, lose nothing
        raise click.ClickException(
            f"broker unreachable ({type(exc).__name__}); nothing lost, "
            "run the sweep again when it is back"
        ) from exc
    click.echo(f"queued {queued} stranded event(s)")


@events.command("send-test")
@click.option("--type", "event_type", default="invoice.paid", show_default=True)
@click.option("--url", help="receiver URL (default: this machine's HOST:PORT)")
@click.option(
    "--thin", is_flag=True, help="send its thin version (v1.TYPE), as an event destination"
)
def send_test(event_type: str, url: str | None, thin: bool) -> None:
    """Sign a realistic fixture event with the configured secret and post it (`trigger`)."""
    trigger(event_type, url, "text", thin)


events.add_command(replay_command)
events.add_command(backfill_command)
events.add_command(trigger_command)
