"""The `billing-worker` command line."""

import os

import click

from worker.cli.config import config
from worker.cli.db import db
from worker.cli.demo import demo
from worker.cli.events import events
from worker.cli.policy import decide, policy
from worker.cli.refunds import refunds
from worker.cli.services import beat, run, serve, worker
from worker.cli.subscriptions import subscriptions
from worker.config import ConfigError
from worker.logging import configure_logging


class _Main(click.Group):
    """A configuration problem found at start ends any command with its message and exit 1."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except ConfigError as problem:
            raise click.ClickException(str(problem)) from None


@click.group(cls=_Main)
def main() -> None:
    """Stripe billing worker: intake, processing, policy and ops commands."""
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"))


for command in (db, events, serve, worker, beat, run):
    main.add_command(command)
main.add_command(decide)
main.add_command(policy)
main.add_command(config)
main.add_command(refunds)
main.add_command(subscriptions)
main.add_command(demo)
