"""Long-running processes: the receiver, the Celery worker, beat, and all of them at once."""

from __future__ import annotations

import os
import sys

import click

from worker.cli.runtime import command_runtime
from worker.config import load_settings
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
    """Process stored events: a Celery worker, or with no BROKER_URL loops on the event log."""
    settings = load_settings()
    # Exec a fresh interpreter, so prometheus-client starts there in multiprocess mode.
    prepare_multiprocess_dir(settings.data_dir, "worker")
    if settings.embedded:
        # No broker: the loops read `received` events themselves, so no sweeper is needed.
        argv = [sys.executable, "-m", "worker.embedded", "--concurrency", str(concurrency)]
        os.execvp(sys.executable, argv)
    argv = [sys.executable, "-m", "celery", "-A", CELERY_APP, "worker"]
    argv += ["--loglevel", settings.log_level, "--concurrency", str(concurrency)]
    os.execvp(sys.executable, argv + (["--beat"] if with_beat else []))


@click.command()
def beat() -> None:
    """Run Celery beat: queues the sweeper that re-queues stranded events."""
    runtime = command_runtime()
    if runtime.settings.embedded:
        click.echo("no BROKER_URL: the processing loops take every received event; no beat needed")
        return
    runtime.settings.data_dir.mkdir(parents=True, exist_ok=True)  # beat keeps its schedule there
    runtime.celery.start(["beat", "--loglevel", runtime.settings.log_level])


@click.command()
def run() -> None:
    """Everything on the embedded default: migrate, then receiver and processing together."""
    from worker.cli.supervise import run_all

    run_all()
