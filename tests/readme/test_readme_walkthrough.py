"""README's hands-on path, run as printed: `./scripts/run`'s `billing-worker run` on the embedded
default (a local stripe-mock for Stripe, no key set), the demo world, then every transcript of
"Send a test event", "Refunds and subscriptions", "Replay and backfill" and "Trying a policy change
on the past", compared with README.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from harness.processes import CLI, ProcessGroup, wait_http_ok, wait_until
from harness.servers import find_binary, free_port
from sqlalchemy import func, select
from transcripts import Values, transcripts

from worker.db.models import Event
from worker.db.session import session_factory

CHECKOUT = Path(__file__).resolve().parents[2]
SECTIONS = (
    "Send a test event",
    "Refunds and subscriptions",
    "Replay and backfill",
    "Trying a policy change on the past",
)


@pytest.fixture
def walkthrough_env(tmp_path: Path) -> dict[str, str]:
    """A new user's shell in a fresh checkout: nothing configured but the ops token."""
    venv = Path(sys.executable).parent.parent
    (tmp_path / ".venv").symlink_to(venv)  # README calls `.venv/bin/billing-worker` too
    (tmp_path / "docs").symlink_to(CHECKOUT / "docs")  # and names docs/examples/ files
    stripe_mock = Path(find_binary("stripe-mock", "~/go/bin/stripe-mock")).parent
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("STRIPE_", "DATABASE_", "BROKER_", "BILLING_", "OPS_"))
    }
    env.update(
        PATH=os.pathsep.join([str(venv / "bin"), env.get("PATH", ""), str(stripe_mock)]),
        PORT=str(free_port()),
        DATA_DIR=str(tmp_path / "data"),
        OPS_API_TOKEN=secrets.token_hex(16),
        LOG_LEVEL="INFO",
    )
    return env


def test_readme_transcripts_run_as_printed_on_the_demo_world(
    tmp_path: Path, walkthrough_env: dict[str, str], processes: ProcessGroup
) -> None:
    env = walkthrough_env
    everything = processes.spawn(CLI + ["run"], env, "run.log")
    values = Values()
    try:
        wait_http_ok(f"http://127.0.0.1:{env['PORT']}/healthz", timeout=180)
        steps = [step for title in SECTIONS for step in transcripts(title)]
        assert steps[0].command.endswith("billing-worker demo"), "README starts from the demo"
        for step in steps:
            command = values.command(step.command)
            ran = subprocess.run(
                ["bash", "-c", command],
                env=env,
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=120,
            )
            difference = values.match(step.expected, ran.stdout)
            assert difference is None, f"$ {command}\n{difference}"
            _wait_until_quiet(Path(env["DATA_DIR"]))  # as a reader would, before the next step
        # README: the demo's ids are fixed, so loading it again stores nothing new.
        before = _event_count(Path(env["DATA_DIR"]))
        again = subprocess.run(
            CLI + ["demo"], env=env, cwd=tmp_path, capture_output=True, text=True
        )
        assert again.returncode == 0, again.stderr
        assert _event_count(Path(env["DATA_DIR"])) == before
    finally:
        processes.stop(everything)
    log = (tmp_path / "run.log").read_text()
    assert "a local stripe-mock on http://127.0.0.1:" in log, log[-3000:]


def _event_count(data_dir: Path) -> int:
    with session_factory(f"sqlite:///{data_dir / 'billing.sqlite3'}")() as session:
        return session.scalar(select(func.count()).select_from(Event)) or 0


def _wait_until_quiet(data_dir: Path) -> None:
    """Every event the last command caused is processed before the next one looks."""
    sessions = session_factory(f"sqlite:///{data_dir / 'billing.sqlite3'}")

    def quiet() -> bool:
        with sessions() as session:
            waiting = session.scalar(
                select(func.count()).select_from(Event).where(Event.status == "received")
            )
        return waiting == 0

    wait_until(quiet, 60, "the worker to process what the last command sent")
