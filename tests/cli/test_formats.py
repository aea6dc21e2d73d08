"""docs/commands.md: every command that prints records takes `--format json` for scripts, and
prints text a person reads by default."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from worker import samples
from worker.db.migrate import upgrade
from worker.db.session import session_factory
from worker.eventlog.intake import parse_event, store_event


def cli(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "BROKER_"))}
    return subprocess.run(
        [sys.executable, "-m", "worker.cli", *args],
        env={**env, "DATA_DIR": str(tmp_path / "data"), "BROKER_URL": "memory://"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_policy_show_json_has_the_parameters_as_values_and_every_clause(tmp_path: Path) -> None:
    done = cli(["policy", "show", "mittrik", "--format", "json"], tmp_path)
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert (shown["name"], shown["rules"]) == ("mittrik", "mittrik")
    assert all(not isinstance(value, str) or value for value in shown["parameters"].values())
    assert "M1.annual" in shown["clauses"]


def test_events_show_prints_json_or_a_readable_record(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'data' / 'billing.sqlite3'}"
    upgrade(url)
    evt = samples.invoice_paid_event()
    store_event(session_factory(url), parse_event(samples.body(evt)))

    as_json = cli(["events", "show", evt["id"], "--format", "json"], tmp_path)
    assert as_json.returncode == 0, as_json.stderr
    record = json.loads(as_json.stdout)
    assert (record["id"], record["status"]) == (evt["id"], "received")

    as_text = cli(["events", "show", evt["id"], "--format", "text"], tmp_path)
    assert as_text.returncode == 0, as_text.stderr
    lines = as_text.stdout.splitlines()
    assert lines[0].split() == ["id", evt["id"]]
    assert ["status", "received"] in [line.split() for line in lines]
    assert "payload:" in lines
