"""Long-running processes: the receiver, the Celery worker, beat, and all of them at once."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys

import click

from worker.cli.runtime import command_runtime
from worker.config import load_settings
from worker.db.migrate import upgrade as upgrade_schema
from worker.metrics import prepare_multiprocess_dir

APP = "webhooks:create_app()"
GUNICORN_CONFIG = "python:webhooks.gunicorn_conf"
CELERY_APP = "tasks.app"  # its `app` is built on first use: see tasks/app.py


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
    runtime.celery.start(["beat", "--loglevel", runtime.settings.log_level])


@click.command()
def run() -> None:
    """Everything on the embedded default: migrate, then receiver, worker and sweeper together."""
    settings = load_settings()
    upgrade_schema(settings.effective_database_url)
    settings.webhook_secrets()  # creates the local development secret once, if none is set
    prepare_multiprocess_dir(settings.data_dir, "run")  # one directory: /metrics shows all
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    me = [sys.executable, "-m", "worker.cli"]
    children = [
        subprocess.Popen(me + ["worker", "--beat", "--concurrency", "2"]),
        subprocess.Popen(me + ["serve"]),
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
    # Children stopped by our own SIGTERM ended as asked; any other exit code is a failure.
    sys.exit(max(0, *(child.returncode or 0 for child in children)))


def _stop_on_sigterm(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt
