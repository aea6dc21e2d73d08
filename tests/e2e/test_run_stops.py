"""`billing-worker run` stops as a whole: every way a user stops it ends every process it started.

Each test starts `run` in a session of its own (so a signal to its group reaches only it), waits
until a delivery is processed (receiver and processing loops all up), notes every descendant, and
then stops it. The 10 s are a bound on the wait, not a speed being measured.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
import requests
from harness.processes import CLI, wait_http_ok, wait_until
from harness.servers import free_port
from process_tree import command_line, descendants, running
from signing import signed_headers
from sqlalchemy import select

from worker import samples
from worker.db.models import Event
from worker.db.session import session_factory

STOP_BOUND_SECONDS = 10


def start_run(tmp_path: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    log = open(tmp_path / "run.log", "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        CLI + ["run"], env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip


def deliver_and_wait_processed(port: int, tmp_path: Path) -> None:
    evt = samples.invoice_paid_event(customer="cus_stop")
    body = samples.body(evt)
    url = f"http://127.0.0.1:{port}/webhooks/stripe"
    answer = requests.post(url, data=body.encode(), headers=signed_headers(body), timeout=10)
    assert answer.status_code == 200
    sessions = session_factory(f"sqlite:///{tmp_path / 'billing.sqlite3'}")

    def processed() -> bool:
        with sessions() as session:
            return session.scalar(select(Event.status).where(Event.id == evt["id"])) == "processed"

    wait_until(processed, 60, "the delivery to be processed")


def stop_by(how: str, run: subprocess.Popen[bytes]) -> None:
    if how == "SIGTERM to the group":
        os.killpg(run.pid, signal.SIGTERM)
    elif how == "SIGTERM to run":
        run.send_signal(signal.SIGTERM)
    else:  # Ctrl-C in a terminal: SIGINT to the foreground group
        os.killpg(run.pid, signal.SIGINT)


@pytest.mark.parametrize("how", ["SIGTERM to the group", "SIGTERM to run", "Ctrl-C"])
def test_run_stops_every_process_it_started_cleanly(how: str, tmp_path: Path, service_env) -> None:
    port = free_port()
    run = start_run(tmp_path, service_env(PORT=str(port)))
    try:
        wait_http_ok(f"http://127.0.0.1:{port}/healthz", timeout=120)
        deliver_and_wait_processed(port, tmp_path)
        started = descendants(run.pid)
        commands = " | ".join(command_line(pid) for pid in started)
        assert "worker.embedded" in commands and "gunicorn" in commands, commands
        stop_by(how, run)
        run.wait(timeout=STOP_BOUND_SECONDS)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    output = (tmp_path / "run.log").read_text()
    assert run.returncode == 0, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    survivors = [f"{pid}: {command_line(pid)}" for pid in started if running(pid)]
    assert survivors == []
