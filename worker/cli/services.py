"""Long-running processes: the receiver, the Celery worker, beat, and all of them at once."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys

import click

from worker.cli.runtime import command_runtime
from worker.config import Settings, load_settings
from worker.db.migrate import upgrade as upgrade_schema
from worker.local_stripe import NO_STRIPE, LocalStripe, local_stripe, wants_local_stripe
from worker.metrics import prepare_multiprocess_dir

APP = "webhooks:create_app()"
GUNICORN_CONFIG = "python:webhooks.gunicorn_conf"
CELERY_APP = "worker.bootstrap:app"  # built on first use: see worker/bootstrap.py


@click.command()
@click.option("--workers", default=2, show_default=True, help="gunicorn worker processes")
def serve(workers: int) -> None:
    """Run the webhook receiver under gunicorn on HOST:PORT."""
    settings = load_settings()
    settings.webhook_secrets()  # development: create the local secret here, not in racing workers
    # gunicorn is a fresh interpreter, so prometheus-client starts in multiprocess mode there.
    prepare_multiprocess_dir(settings.data_dir, "receiver")
    bind = f"{settings.host}:{settings.port}"
    os.execvp(
        sys.executable,
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            GUNICORN_CONFIG,
            "--workers",
            str(workers),
            "--bind",
            bind,
            APP,
        ],
    )


@click.command()
@click.option("--concurrency", default=2, show_default=True)
@click.option("--beat/--no-beat", "with_beat", default=False, help="also run the sweeper schedule")
def worker(concurrency: int, with_beat: bool) -> None:
    """Run a Celery worker that processes stored events."""
    settings = load_settings()
    # Exec a fresh interpreter, so prometheus-client starts there in multiprocess mode.
    prepare_multiprocess_dir(settings.data_dir, "worker")
    argv = [sys.executable, "-m", "celery", "-A", CELERY_APP, "worker"]
    argv += ["--loglevel", settings.log_level, "--concurrency", str(concurrency)]
    os.execvp(sys.executable, argv + (["--beat"] if with_beat else []))


@click.command()
def beat() -> None:
    """Run Celery beat: queues the sweeper that re-queues stranded events."""
    runtime = command_runtime()
    runtime.settings.data_dir.mkdir(parents=True, exist_ok=True)  # beat keeps its schedule there
    runtime.celery.start(["beat", "--loglevel", runtime.settings.log_level])


@click.command()
def run() -> None:
    """Everything on the embedded default: migrate, then receiver, worker and sweeper together."""
    settings = load_settings()
    upgrade_schema(settings.effective_database_url)
    settings.webhook_secrets()  # creates the local development secret once, if none is set
    prepare_multiprocess_dir(settings.data_dir, "run")  # one directory: /metrics shows all
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    stripe_mock = start_local_stripe(settings)
    env = {**os.environ, **(stripe_mock.env() if stripe_mock else {})}
    me = [sys.executable, "-m", "worker.cli"]
    children = [
        subprocess.Popen(me + ["worker", "--beat", "--concurrency", "2"], env=env),
        subprocess.Popen(me + ["serve"], env=env),
    ]
    click.echo(
        f"receiver on http://{settings.host}:{settings.port}/webhooks/stripe "
        f"(database {settings.effective_database_url})"
    )
    click.echo("send a signed test event with: billing-worker events send-test")
    try:
        while all(child.poll() is None for child in children):
            with contextlib.suppress(subprocess.TimeoutExpired):
                children[0].wait(timeout=1)
    except KeyboardInterrupt:
        pass
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            child.wait(timeout=30)
        if stripe_mock:
            stripe_mock.stop()
    # Children stopped by our own SIGTERM ended as asked; any other exit code is a failure.
    sys.exit(max(0, *(child.returncode or 0 for child in children)))


def start_local_stripe(settings: Settings) -> LocalStripe | None:
    """Development without a Stripe key: a local stripe-mock for the children, or one line
    saying what to set (the events that need Stripe then fail with the same advice)."""
    stripe_mock = local_stripe(settings)
    if stripe_mock is not None:
        click.echo(f"Stripe: a local stripe-mock on {stripe_mock.url} (no Stripe key set)")
    elif wants_local_stripe(settings):
        click.echo(f"warning: {NO_STRIPE}", err=True)
    return stripe_mock


def _stop_on_sigterm(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt
