"""The embedded default's processing: no broker, loops that read `received` events themselves.

Issue 17: on the SQLite broker a stalled Celery consumer left acknowledged events `received` for
good, and the sweeper, queued behind it on the same broker, could not help. Here a consumer that
stops consuming (SIGSTOP: alive, silent, exactly what the stall looked like) is found by its
silence and replaced, and its events are processed by the replacement.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from pathlib import Path

from harness.processes import CLI, wait_until
from process_tree import running
from sqlalchemy import func, select

from worker import samples
from worker.db.models import Event, EventStatus
from worker.db.session import session_factory
from worker.embedded.loop import Partition
from worker.eventlog.intake import parse_event, store_event

STALL_SECONDS = "5"


def start_worker(tmp_path: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        CLI + ["worker", "--concurrency", "2"], env=env, cwd=tmp_path, stdout=log,
        stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip


def log_events(tmp_path: Path) -> list[str]:
    lines = (tmp_path / "worker.log").read_text().splitlines()
    return [json.loads(line).get("event", "") for line in lines if line.startswith("{")]


def loop_pids(tmp_path: Path) -> dict[int, int]:
    """Partition index -> pid of the loop that last said it started on it."""
    found = {}
    for text in log_events(tmp_path):
        if match := re.fullmatch(r"processing loop (\d+) of \d+ started \(pid (\d+)\)", text):
            found[int(match[1])] = int(match[2])
    return found


def customers_of(partition: Partition, count: int) -> list[str]:
    names = (f"cus_wedge{n:04d}" for n in range(10_000))
    return [name for name in names if partition.owns(name, "")][:count]


def test_a_wedged_processing_loop_is_replaced_and_its_events_are_processed(
    tmp_path: Path, sqlite_url: str, service_env
) -> None:
    worker = start_worker(tmp_path, service_env(PROCESSING_STALL_SECONDS=STALL_SECONDS))
    try:
        pids = wait_until(lambda: len(found := loop_pids(tmp_path)) == 2 and found, 60, "loops")
        wedged = pids[0]
        os.kill(wedged, signal.SIGSTOP)  # alive and silent: it holds its partition, takes nothing

        sessions = session_factory(sqlite_url)
        events = [
            samples.invoice_paid_event(customer=customer)
            for partition in (Partition(0, 2), Partition(1, 2))
            for customer in customers_of(partition, 5)
        ]
        for evt in events:  # stored as the receiver stores them; nothing else announces them
            store_event(sessions, parse_event(samples.body(evt)))

        def received() -> int:
            with sessions() as session:
                return session.scalar(
                    select(func.count())
                    .select_from(Event)
                    .where(Event.status == EventStatus.RECEIVED)
                )

        wait_until(lambda: received() == 0, 90, "every event to leave `received`")
        with sessions() as session:
            statuses = session.scalars(select(Event.status)).all()
        assert statuses == ["processed"] * len(events)
        assert not running(wedged)
        assert loop_pids(tmp_path)[0] != wedged
        assert any(text.startswith("processing loop 0 silent for") for text in log_events(tmp_path))
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=10)
    assert worker.returncode == 0
