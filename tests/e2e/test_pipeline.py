"""End to end: a signed event posted to the running receiver is processed by a real worker."""

from __future__ import annotations

import subprocess
from pathlib import Path

import requests
from harness.deliveries import deliver
from harness.processes import CLI, ProcessGroup, cli_json, wait_until
from harness.servers import free_port
from signing import WEBHOOK_SECRET
from sqlalchemy import select

from worker import samples
from worker.db.models import Invoice
from worker.db.session import session_factory


def test_invoice_paid_goes_through_gunicorn_redis_and_a_celery_worker_on_postgres(
    tmp_path: Path, pg_url: str, redis_url: str, service_env, processes: ProcessGroup
) -> None:
    port = free_port()
    env = service_env(DATABASE_URL=pg_url, BROKER_URL=redis_url, PORT=str(port))
    processes.worker(env)
    processes.receiver(env)
    evt = samples.invoice_paid_event(customer="cus_e2e", amount_paid=120000)
    url = f"http://127.0.0.1:{port}/webhooks/stripe"
    assert deliver(url, evt, WEBHOOK_SECRET, timeout=5).status_code == 200

    def status() -> str:
        [row] = cli_json(["events", "list", "--format", "json"], env, tmp_path)
        return row["status"] == "processed" and row

    row = wait_until(status, 30, "the event to be processed")
    assert (row["id"], row["type"], row["attempts"]) == (evt["id"], "invoice.paid", 1)
    with session_factory(pg_url)() as session:
        payment = session.scalars(select(Invoice)).one()
    assert (payment.customer, payment.amount_paid) == ("cus_e2e", 120000)
    assert requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5).json()["ready"] is True


def test_run_on_the_embedded_default_processes_send_test_within_seconds(
    tmp_path: Path, service_env, processes: ProcessGroup
) -> None:
    port = free_port()
    # A new user: no webhook secret (one is generated locally) and no Stripe to talk to.
    env = service_env(PORT=str(port), STRIPE_WEBHOOK_SECRETS="", STRIPE_API_BASE="")
    everything = processes.all_in_one(env)
    sent = subprocess.run(
        CLI + ["events", "send-test"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert sent.returncode == 0, sent.stderr
    assert "HTTP 200" in sent.stdout
    event_id = sent.stdout.split()[0]

    def processed() -> bool:
        rows = cli_json(["events", "list", "--format", "json"], env, tmp_path)
        return [(r["id"], r["status"]) for r in rows] == [(event_id, "processed")]

    wait_until(processed, 60, "send-test's event to be processed")
    # The event log is the only queue: nothing was published to a broker.
    assert (tmp_path / "billing.sqlite3").exists()
    assert not (tmp_path / "broker.sqlite3").exists()
    ready = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5).json()
    assert ready == {"ready": True, "database": "ok"}
    assert processes.stop(everything) == 0, (tmp_path / "run.log").read_text()[-3000:]
