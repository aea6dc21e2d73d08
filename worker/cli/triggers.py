"""`billing-worker events trigger TYPE` (and `send-test`, its `invoice.paid`): sign realistic
fixture events and post them to the receiver, in the manner of `stripe trigger`."""

from __future__ import annotations

import json
import sys

import click

from worker import samples
from worker.config import Settings, load_settings
from worker.fixtures.delivery import (
    Delivery,
    ReceiverUnreachable,
    StillWaiting,
    post_event,
    receiver_url,
    wait_for_outcomes,
)
from worker.fixtures.triggers import TRIGGERS


def trigger(name: str, url: str | None, fmt: str, thin: bool = False) -> None:
    """Post the fixture's events in order; a prerequisite is processed before the next is sent,
    as Stripe would have sent it earlier. With `thin`, each as its thin version (`v1.` + type,
    naming its object, which the worker then reads from Stripe). Exit 1 unless every post was
    answered 2xx."""
    fixture = TRIGGERS.get(name)
    if fixture is None:
        raise click.BadParameter(
            f"no fixture for {name!r}; known: {', '.join(TRIGGERS)}", param_hint="TYPE"
        )
    settings = load_settings()
    target = receiver_url(settings, url)
    events = [samples.thin_event(evt) for evt in fixture()] if thin else fixture()
    deliveries: list[Delivery] = []
    try:
        for position, evt in enumerate(events):
            delivery = post_event(settings, target, evt)
            deliveries.append(delivery)
            if fmt == "text":
                click.echo(delivery.line())
            if not delivery.ok:
                break
            if position < len(events) - 1:
                _wait_quietly(settings, evt["id"])
    except ReceiverUnreachable as exc:
        raise click.ClickException(str(exc)) from None
    if fmt == "json":
        click.echo(json.dumps([d.as_json() for d in deliveries], indent=2))
    sys.exit(0 if deliveries and all(d.ok for d in deliveries) else 1)


def _wait_quietly(settings: Settings, event_id: str) -> None:
    try:
        wait_for_outcomes(settings, [event_id], timeout=30)
    except StillWaiting as exc:  # another machine's receiver: send the rest anyway
        click.echo(f"warning: {exc}", err=True)


@click.command("trigger")
@click.argument("name", metavar="TYPE")
@click.option("--url", help="receiver URL (default: this machine's HOST:PORT)")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.option("--thin", is_flag=True, help="send thin events (v1.TYPE), as an event destination")
def trigger_command(name: str, url: str | None, fmt: str, thin: bool) -> None:
    """Sign and post a realistic event of TYPE (e.g. charge.dispute.created), with the events
    it depends on; TYPE:variant picks another case (customer.subscription.updated:addon)."""
    trigger(name, url, fmt, thin)
