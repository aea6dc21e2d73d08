"""`billing-worker run`: the receiver and the processing as two child processes, stopped together.

SIGTERM (to this process or to its whole group) and Ctrl-C (SIGINT to the group) only set a flag:
no exception unwinds through a half-started child. Then each child gets SIGTERM, and one still
running after `STOP_SECONDS` is killed, so `run` ends within 10 s whatever a child does. The
children stop their own: gunicorn its workers, the processing supervisor its loops (which also
stop by themselves if their parent is gone).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import click

from worker.config import Settings, load_settings
from worker.db.migrate import upgrade as upgrade_schema
from worker.metrics import prepare_multiprocess_dir
from worker.stripe.local import NO_STRIPE, LocalStripe, local_stripe, wants_local_stripe

STOP_SECONDS = 7.0
WATCH_SECONDS = 0.5


def run_all() -> None:
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    settings = load_settings()
    upgrade_schema(settings.effective_database_url)
    settings.webhook_secrets()  # creates the local development secret once, if none is set
    prepare_multiprocess_dir(settings.data_dir, "run")  # one directory: /metrics shows all
    stripe_mock = None if stop.is_set() else start_local_stripe(settings)
    env = {**os.environ, **(stripe_mock.env() if stripe_mock else {})}
    me = [sys.executable, "-m", "worker.cli"]
    # With a broker configured, `run` is a Celery worker with the sweeper's schedule beside it.
    processing = me + ["worker", "--concurrency", "2"] + ([] if settings.embedded else ["--beat"])
    children: dict[str, subprocess.Popen[bytes]] = {}
    if not stop.is_set():
        children["processing"] = subprocess.Popen(processing, env=env)
        children["receiver"] = subprocess.Popen(me + ["serve"], env=env)
        click.echo(
            f"receiver on http://{settings.host}:{settings.port}/webhooks/stripe "
            f"(database {settings.effective_database_url})"
        )
        click.echo("send a signed test event with: billing-worker events send-test")
    try:
        while not stop.wait(WATCH_SECONDS):
            ended = [name for name, child in children.items() if child.poll() is not None]
            if ended:
                code = children[ended[0]].returncode
                click.echo(f"the {ended[0]} exited with code {code}; stopping", err=True)
                break
    finally:
        # stripe-mock stops with the others, inside the same bound.
        _stop([*children.values(), *([stripe_mock.process] if stripe_mock else [])])
        if stripe_mock:
            stripe_mock.stop()  # forgets its address; the process has ended
    # Children stopped by our own signal ended as asked; any other exit code is a failure.
    code = 0 if stop.is_set() else max(1, *(c.returncode or 0 for c in children.values()))
    # Everything is stopped: skip the teardown of a large import graph, which on a busy
    # machine took seconds of the stop budget.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _stop(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    for child in children:
        try:
            child.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            click.echo(f"pid {child.pid} did not stop within {STOP_SECONDS:g} s; killed", err=True)
            for pid in [*_descendants(child.pid), child.pid]:  # its own children too: no orphan
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            child.wait()


def _descendants(pid: int) -> list[int]:
    """Every process under `pid`, from Linux's /proc (none found elsewhere)."""
    found: list[int] = []
    pending = [pid]
    while pending:
        parent = pending.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            with contextlib.suppress(OSError, ValueError):
                children = [int(p) for p in (task / "children").read_text().split()]
                found += children
                pending += children
    return found


def start_local_stripe(settings: Settings) -> LocalStripe | None:
    """Development without a Stripe key: a local stripe-mock for the children, or one line
    saying what to set (the events that need Stripe then fail with the same advice)."""
    stripe_mock = local_stripe(settings)
    if stripe_mock is not None:
        click.echo(f"Stripe: a local stripe-mock on {stripe_mock.url} (no Stripe key set)")
    elif wants_local_stripe(settings):
        click.echo(f"warning: {NO_STRIPE}", err=True)
    return stripe_mock
