"""Benchmark 5's processing: the embedded default (SQLite, no broker) drains what it acknowledged.

- **drain**: the call-free burst of issue 17 (half `invoice.paid`, half a type without a handler)
  stored with no worker running, then `billing-worker worker` (its default 2 loops) started;
  events/s from the first to the last `processed_at`, so the figure leaves out process start
  (and counts the events committed after the first commit: a batch shares one `processed_at`).
  Floor: the same drain of events that all have no handler.
- **burst**: `billing-worker run` as a user starts it; the same burst posted by 16 clients
  (`python -m bench.burst`); seconds from the last 200 until nothing is `received`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.burst import burst_events, drain
from bench.processing import NO_HANDLER
from bench.report import Figure, at_most, events_per_second_beside_no_handler
from bench.stack import REPO, WEBHOOK_SECRET
from tests.harness.processes import CLI, ProcessGroup, wait_http_ok
from tests.harness.servers import free_port
from worker import samples
from worker.db.session import session_factory
from worker.embedded.loop import IDLE_SECONDS
from worker.eventlog.intake import parse_event, store_event


@dataclass(frozen=True)
class EmbeddedSizes:
    events: int = 2000
    concurrency: int = 16
    timeout: float = 300.0  # the longest a drain may take before the figure says so


def _fresh(workdir: Path, name: str, env: dict[str, str]) -> tuple[dict[str, str], str]:
    """A new data directory, migrated; its environment and its database URL."""
    data = workdir / name
    env = dict(env, DATA_DIR=str(data))
    subprocess.run([*CLI, "db", "upgrade"], env=env, cwd=REPO, check=True, capture_output=True)
    return env, f"sqlite:///{(data / 'billing.sqlite3').resolve()}"


def measure_drain(
    run: ProcessGroup, env: dict[str, str], sizes: EmbeddedSizes, *, no_handler: bool = False
) -> dict[str, Any]:
    """The burst stored with no worker running, then drained by `billing-worker worker`.
    `no_handler`: every event of a type without a handler, the floor (row lock, status, commit)."""
    name = "embedded-drain-floor" if no_handler else "embedded-drain"
    env, database_url = _fresh(run.workdir, name, env)
    sessions = session_factory(database_url)
    for evt in burst_events(sizes.events):
        if no_handler:
            evt["type"] = NO_HANDLER
        store_event(sessions, parse_event(samples.body(evt)))
    worker = run.spawn([*CLI, "worker"], env, f"{name}.log")
    try:
        result = drain(sessions, sizes.timeout)
    finally:
        run.stop(worker)
    seconds = (result["last_processed"] or 0) - (result["first_processed"] or 0)
    done = sizes.events - result["left_received"] - result["processed_at_first"]
    rate = round(done / seconds, 1) if seconds > 0 else None
    return result | {"events": sizes.events, "per_second": rate}


def measure_burst(run: ProcessGroup, env: dict[str, str], sizes: EmbeddedSizes) -> dict[str, Any]:
    env, database_url = _fresh(run.workdir, "embedded-run", env)
    port = free_port()
    everything = run.spawn([*CLI, "run"], dict(env, PORT=str(port)), "embedded-run.log")
    try:
        wait_http_ok(f"http://127.0.0.1:{port}/healthz", timeout=180.0, process=everything)
        url = f"http://127.0.0.1:{port}/webhooks/stripe"
        args = [sys.executable, "-m", "bench.burst", url, "--secret", WEBHOOK_SECRET]
        args += ["--events", str(sizes.events), "--concurrency", str(sizes.concurrency)]
        posted = subprocess.run(
            args, cwd=REPO, capture_output=True, text=True, timeout=sizes.timeout, check=True
        )
        sent = json.loads(posted.stdout)
        drained = drain(session_factory(database_url), sizes.timeout)
    finally:
        run.stop(everything)
    seconds = None
    if drained["left_received"] == 0 and sent["last_ack"] and drained["last_processed"]:
        seconds = max(0.0, drained["last_processed"] - sent["last_ack"])
    intake = sent["acked"] / (sent["last_ack"] - sent["first_ack"]) if sent["acked"] > 1 else None
    return sent | drained | {"seconds_after_last_ack": seconds, "intake_per_second": intake}


def figures(
    drained: dict[str, Any], floor: dict[str, Any], burst: dict[str, Any], sizes: EmbeddedSizes
) -> list[Figure]:
    after = burst["seconds_after_last_ack"]
    return [
        events_per_second_beside_no_handler(
            "embedded",
            "events/s drained, call-free",
            drained,
            floor,
            100,
            detail={"burst": drained, "floor": floor},
        ),
        Figure(
            "embedded",
            f"s from last ack to drained, {sizes.events:,} burst",
            after,
            "s",
            IDLE_SECONDS,  # an idle loop looks again this often: no event is taken sooner
            "one idle poll",
            "≤ 60 s",
            at_most(after, 60) if after is not None else False,
            detail=burst,
        ),
    ]
