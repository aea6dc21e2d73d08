"""Running the transcripts of README.md and docs/ on a `billing-worker run` the test started: each
`$` command in a shell, its output compared with the page's, and the event log let go quiet
before the next."""

from __future__ import annotations

import subprocess
from pathlib import Path

from harness.processes import wait_until
from sqlalchemy import func, select
from transcripts import Step, Values

from worker.db.models import Event
from worker.db.session import session_factory


def run_steps(steps: list[Step], env: dict[str, str], cwd: Path, worker: bool = True) -> None:
    """Run each step as a reader would, failing on the first output that differs; with a
    `worker` running, let it process what a step sent before the next looks."""
    values = Values()
    for step in steps:
        command = values.command(step.command)
        ran = subprocess.run(
            ["bash", "-c", command],
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=120,
        )
        difference = values.match(step.expected, ran.stdout)
        assert difference is None, f"$ {command}\n{difference}"
        if worker:
            wait_until_quiet(Path(env["DATA_DIR"]))  # as a reader would, before the next step


def event_count(data_dir: Path) -> int:
    with session_factory(f"sqlite:///{data_dir / 'billing.sqlite3'}")() as session:
        return session.scalar(select(func.count()).select_from(Event)) or 0


def wait_until_quiet(data_dir: Path) -> None:
    """Every event the last command caused is processed before the next one looks."""
    sessions = session_factory(f"sqlite:///{data_dir / 'billing.sqlite3'}")

    def quiet() -> bool:
        with sessions() as session:
            waiting = session.scalar(
                select(func.count()).select_from(Event).where(Event.status == "received")
            )
        return waiting == 0

    wait_until(quiet, 60, "the worker to process what the last command sent")
