"""The `billing-worker` command line."""

import click

from worker.cli.db import db
from worker.cli.events import events
from worker.cli.policy import decide, policy
from worker.cli.services import beat, run, serve, worker


@click.group()
def main() -> None:
    """Stripe billing worker: intake, processing, policy and ops commands."""


for command in (db, events, serve, worker, beat, run):
    main.add_command(command)
main.add_command(decide)
main.add_command(policy)
