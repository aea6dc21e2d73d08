"""`events trigger TYPE`: each fixture reaches the handler it names and is processed, on
`billing-worker run` with no Stripe key (its local stripe-mock plays Stripe)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from harness.processes import CLI, ProcessGroup, wait_http_ok, wait_until
from harness.servers import free_port
from sqlalchemy import select

from worker.cli import main
from worker.db.models import Event
from worker.db.session import session_factory
from worker.fixtures.triggers import TRIGGERS
from worker.handlers import HANDLERS


@pytest.fixture
def run_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "DATABASE_"))}
    env.update(PORT=str(free_port()), DATA_DIR=str(tmp_path / "data"), LOG_LEVEL="WARNING")
    return env


def test_every_handled_type_has_a_trigger() -> None:
    assert {name.split(":")[0] for name in TRIGGERS} == set(HANDLERS)


def test_an_unknown_type_exits_2_listing_the_known_ones() -> None:
    result = CliRunner().invoke(main, ["events", "trigger", "invoice.payed"])
    assert result.exit_code == 2
    assert "no fixture for 'invoice.payed'" in result.output
    assert "invoice.paid" in result.output and "charge.dispute.closed:lost" in result.output


def test_each_trigger_is_processed_by_its_handler(
    tmp_path: Path, run_env: dict[str, str], processes: ProcessGroup
) -> None:
    everything = processes.spawn(CLI + ["run"], run_env, "run.log")
    sessions = session_factory(f"sqlite:///{tmp_path / 'data' / 'billing.sqlite3'}")
    try:
        wait_http_ok(f"http://127.0.0.1:{run_env['PORT']}/healthz", timeout=180)
        posted: dict[str, list[dict[str, object]]] = {}
        for name in TRIGGERS:
            result = CliRunner().invoke(
                main, ["events", "trigger", name, "--format", "json"], env=run_env
            )
            assert result.exit_code == 0, result.output
            posted[name] = json.loads(result.output)
            assert posted[name][-1]["type"] == name.split(":")[0]
        ids = [d["id"] for deliveries in posted.values() for d in deliveries]

        def outcomes() -> dict[str, str] | None:
            with sessions() as session:
                rows = dict(session.execute(select(Event.id, Event.status)).all())
            done = all(rows.get(i) not in (None, "received") for i in ids)
            return {i: rows[i] for i in ids} if done else None

        statuses = wait_until(outcomes, 60, "every triggered event to be processed")
        with sessions() as session:
            failed = session.scalars(select(Event).where(Event.status != "processed")).all()
            assert not failed, [(e.type, e.status, e.last_error) for e in failed]
        assert set(statuses.values()) == {"processed"}
    finally:
        processes.stop(everything)
