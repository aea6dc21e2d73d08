"""The compose file's own command lines, run as processes against real PostgreSQL and Redis.

What `docker compose up` would start: `migrate` to completion, then `web`, `worker` and `beat`,
each with its entrypoint + command and the environment compose gives it (.env, then the
service's `environment:`), and each healthcheck passing; in front of `web`, the proxy: Debian's
nginx with the file compose mounts, on the port compose publishes. A signed event goes through
the proxy to `processed`, and beat's sweeper (configured only through .env) re-queues a
stranded event.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from compose_stack import ServiceProcess, load_compose, service_process
from harness.deliveries import deliver
from harness.nginx import Nginx
from harness.processes import ProcessGroup, wait_http_ok, wait_until
from harness.servers import PostgresServer, RedisServer, StripeMock, free_port
from scrape import scrape, value
from signing import WEBHOOK_SECRET
from sqlalchemy import inspect, select

from worker import samples
from worker.db.models import Event
from worker.db.session import session_factory
from worker.eventlog.intake import parse_event, store_event

POSTGRES_PASSWORD = "compose-check-pw"


def healthy(service: ServiceProcess, cwd: Path) -> bool:
    assert service.healthcheck, f"{service.name} has no healthcheck"
    check = subprocess.run(
        service.healthcheck, env=service.env, cwd=cwd, capture_output=True, timeout=60
    )
    return check.returncode == 0


def test_compose_command_lines_run_the_stack_and_process_a_signed_event(
    tmp_path: Path,
    postgres_server: PostgresServer,
    redis_server: RedisServer,
    redis_url: str,
    stripe_mock: StripeMock,
    processes: ProcessGroup,
) -> None:
    database_url = postgres_server.create_owned_database("billing", "billing", POSTGRES_PASSWORD)
    port = free_port()
    dotenv = {  # an operator's .env: ports and settings, read by compose and by the containers
        "PORT": str(port),
        "POSTGRES_PASSWORD": POSTGRES_PASSWORD,
        "STRIPE_WEBHOOK_SECRETS": WEBHOOK_SECRET,
        "SWEEP_GRACE_SECONDS": "0",
        "SWEEP_INTERVAL_SECONDS": "1",
    }
    document = load_compose(dotenv)
    addresses = {  # what the compose network's DNS does for the service names
        "postgres:5432": f"127.0.0.1:{postgres_server.port}",
        "redis:6379": f"127.0.0.1:{redis_server.port}",
        "stripe-mock:12111": f"127.0.0.1:{stripe_mock.port}",
    }

    def service(name: str, **ports: int) -> ServiceProcess:
        # Each container has its own /app/data. Not named after the service: a `worker/` in the
        # working directory would shadow the `worker` package for gunicorn, which imports from it.
        data_dir = tmp_path / f"{name}-data"
        data_dir.mkdir()
        return service_process(
            document, name, dotenv, addresses=addresses, data_dir=data_dir, ports=ports
        )

    migrate = service("migrate")
    assert migrate.argv == ["billing-worker", "db", "upgrade"]
    assert migrate.env["DATABASE_URL"] == database_url
    done = subprocess.run(
        migrate.argv, env=migrate.env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    sessions = session_factory(database_url)
    with sessions() as session:
        assert "events" in inspect(session.get_bind()).get_table_names()

    web = service("web", PORT=free_port())  # 8000 inside its container, published by the proxy
    worker = service("worker", WORKER_METRICS_PORT=free_port())  # 9808 inside its container
    beat = service("beat")
    assert web.argv == ["billing-worker", "serve", "--workers", "2"]
    running = [processes.spawn(s.argv, s.env, f"{s.name}.log") for s in (web, worker, beat)]
    # The proxy: nginx with the file compose mounts, on the port compose publishes.
    proxy = Nginx(tmp_path / "proxy", upstream_port=int(web.env["PORT"]), port=port)
    try:
        proxy.start()
        wait_http_ok(f"http://127.0.0.1:{port}/healthz", timeout=60)
        for each in (web, worker, beat):
            wait_until(lambda each=each: healthy(each, tmp_path), 60, f"{each.name}'s healthcheck")

        evt = samples.invoice_paid_event(customer="cus_compose", amount_paid=4200)
        response = deliver(f"http://127.0.0.1:{port}/webhooks/stripe", evt, WEBHOOK_SECRET)
        assert response.status_code == 200, response.text

        # Committed but never queued (as if the broker had lost it): only beat's sweep finds it.
        stranded = samples.invoice_paid_event(customer="cus_stranded", amount_paid=990)
        store_event(sessions, parse_event(samples.body(stranded)))

        def statuses() -> dict[str, str] | None:
            with sessions() as session:
                found = dict(session.execute(select(Event.id, Event.status)).all())
            done = found == {evt["id"]: "processed", stranded["id"]: "processed"}
            return found if done else None

        wait_until(statuses, 60, "both events to be processed")
        received = scrape(f"http://127.0.0.1:{port}/metrics")
        stored = value(
            received, "billing_webhook_events_total", type="invoice.paid", result="stored"
        )
        assert stored == 1
        worked = scrape(f"http://127.0.0.1:{worker.env['WORKER_METRICS_PORT']}/metrics")
        tasks = "billing_event_tasks_total"
        # At least: the sweep may ring twice for an event it finds before the first ring is done.
        assert value(worked, tasks, event_type="invoice.paid", outcome="processed") >= 2
        for process in running:
            assert process.poll() is None, f"{process.args} exited with {process.returncode}"
    finally:
        proxy.remove()
        processes.stop_all()
        for log in sorted(tmp_path.glob("*.log")):  # shown by pytest when the test failed
            print(f"--- {log.name}\n{log.read_text(errors='replace')[-4000:]}")
