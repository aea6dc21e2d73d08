"""The `billing-worker` command line.

Only click is imported here: a command's module (and stripe, Celery, SQLAlchemy or Flask behind
it) is imported when that command runs, so `--help`, `decide`, `policy show` and `config check`
start in a fraction of a second (`python -m bench --only cli`).
"""

from __future__ import annotations

import importlib
import os

import click

from worker.cli.lazy import PACKAGE, PROG, Lazy, LazyGroup
from worker.errors import BillingWorkerError

COMMANDS = {
    "run": Lazy("worker.cli.services:run", "Migrate, then receiver, worker and sweeper together."),
    "serve": Lazy("worker.cli.services:serve", "The webhook receiver under gunicorn."),
    "worker": Lazy("worker.cli.services:worker", "A Celery worker that processes stored events."),
    "beat": Lazy("worker.cli.services:beat", "Celery beat: the sweeper's schedule."),
    "db": Lazy("worker.cli.db:db", "Database schema migrations."),
    "config": Lazy("worker.cli.config:config", "Check the settings; print them, secrets masked."),
    "events": Lazy("worker.cli.events:events", "The event log: list, show, replay, backfill..."),
    "refunds": Lazy("worker.cli.refunds:refunds", "Refund requests under the billing policy."),
    "subscriptions": Lazy(
        "worker.cli.subscriptions:subscriptions", "Plan and add-on changes, cancellation."
    ),
    "reconcile": Lazy(
        "worker.cli.reconcile:reconcile_command", "Compare Stripe with the policy; --fix it."
    ),
    "demo": Lazy("worker.cli.demo:demo", "Load the README's demo world into a running worker."),
    "decide": Lazy("worker.cli.policy:decide", "The policy's decision on a facts JSON, offline."),
    "policy": Lazy("worker.cli.policy:policy", "A policy's parameters and clauses."),
}
# Commands that read no event log and log nothing: they skip structlog's import and setup.
OFFLINE = {"decide", "policy", "config"}


class _Main(LazyGroup):
    """A configuration problem found at start, or a command the worker refuses, ends any command
    with its message and exit 1: the one place errors become an exit code, not every command.
    Exit status: 0 done, 1 failed (ClickException), 2 bad usage (click's UsageError)."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except BillingWorkerError as problem:  # ConfigError is one too
            raise click.ClickException(str(problem)) from None


@click.group(
    cls=_Main,
    lazy_subcommands=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(package_name=PACKAGE, prog_name=PROG)
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Also log libraries' INFO lines (stripe-python's requests, alembic's steps).",
)
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """Stripe billing worker: intake, processing, policy and ops commands.

    Exit status: 0 done, 1 failed (the message says why), 2 bad usage.
    """
    if verbose:
        os.environ["LOG_VERBOSE"] = "1"  # and the processes this command starts
    if ctx.invoked_subcommand not in OFFLINE:
        # Imported here: structlog is not needed by --help or the offline commands.
        logging = importlib.import_module("worker.logging")
        logging.configure_logging(os.environ.get("LOG_LEVEL", "INFO"))
