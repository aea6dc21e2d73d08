"""GET /metrics on the real receiver (gunicorn, two workers, multiprocess mode) and the Celery
worker's own endpoint: counters and the intake histogram move by exactly what was sent, added up
across processes, and the queue-lag gauge rises while nothing works and falls once a worker does.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from harness.processes import ProcessGroup, wait_until
from harness.servers import free_port
from prometheus_client.mmap_dict import MmapedDict
from scrape import scrape, value
from signing import OLD_WEBHOOK_SECRET, signed_headers

from worker import samples

EVENTS = 24
RECEIVED = "billing_webhook_events_total"
SIGNATURE_FAILURES = "billing_webhook_signature_failures_total"
INTAKE = "billing_webhook_intake_seconds"


def observing_pids(metrics_dir: Path) -> set[str]:
    """The processes whose own files recorded at least one intake (each writes its own)."""
    pids = set()
    for path in metrics_dir.glob("histogram_*.db"):
        for key, observed, _timestamp, _position in MmapedDict.read_all_values_from_file(path):
            if json.loads(key)[1] == f"{INTAKE}_sum" and observed > 0:
                pids.add(path.stem.removeprefix("histogram_"))
    return pids


def test_metrics_move_with_deliveries_across_two_gunicorn_workers_and_a_celery_worker(
    tmp_path: Path,
    pg_url: str,
    redis_url: str,
    service_env: Callable[..., dict[str, str]],
    processes: ProcessGroup,
) -> None:
    port, worker_port = free_port(), free_port()
    env = service_env(
        DATABASE_URL=pg_url,
        BROKER_URL=redis_url,
        PORT=str(port),
        WORKER_METRICS_PORT=str(worker_port),
    )
    url = f"http://127.0.0.1:{port}"
    processes.receiver(env)
    try:
        metrics_dir = tmp_path / "metrics" / "receiver"
        # Each worker creates its files when it loads the app: wait until both can take requests.
        wait_until(lambda: len(list(metrics_dir.glob("histogram_*.db"))) == 2, 30, "2 workers")

        def both_workers_observed() -> bool:
            # The kernel, not us, picks the worker for a connection: warm both up with refused
            # deliveries until each has recorded one, so the totals below are sums over two.
            with ThreadPoolExecutor(max_workers=6) as pool:
                list(
                    pool.map(
                        lambda _: requests.post(f"{url}/webhooks/stripe", data=b"{}", timeout=10),
                        range(12),
                    )
                )
            return len(observing_pids(metrics_dir)) == 2

        wait_until(both_workers_observed, 30, "both gunicorn workers to take a delivery")
        before = scrape(f"{url}/metrics")
        assert value(before, "billing_queue_lag_seconds") == 0

        def post(payload: str, headers: dict[str, str]) -> requests.Response:
            # A new connection each time, so the kernel hands deliveries to both workers.
            with requests.Session() as session:
                return session.post(
                    f"{url}/webhooks/stripe", data=payload.encode(), headers=headers, timeout=10
                )

        payloads = [
            samples.body(samples.invoice_paid_event(customer=f"cus_metrics_{n}"))
            for n in range(EVENTS)
        ]
        with ThreadPoolExecutor(max_workers=6) as pool:
            answers = list(pool.map(lambda p: post(p, signed_headers(p)), payloads))
        assert [a.status_code for a in answers] == [200] * EVENTS
        duplicates = [post(p, signed_headers(p)) for p in payloads[:3]]
        assert [a.json()["duplicate"] for a in duplicates] == [True] * 3
        refused = [
            post(payloads[0], {"Content-Type": "application/json"}),
            post(payloads[0], signed_headers(payloads[0], OLD_WEBHOOK_SECRET)),
            post(payloads[0], signed_headers(payloads[0], timestamp=int(time.time()) - 3600)),
        ]
        assert [a.status_code for a in refused] == [400] * 3

        time.sleep(1.5)  # the queue-lag gauge counts whole seconds of waiting
        after = scrape(f"{url}/metrics")

        def moved(name: str, **labels: str) -> float:
            return value(after, name, **labels) - value(before, name, **labels)

        assert moved(RECEIVED, type="invoice.paid", result="stored") == EVENTS
        assert moved(RECEIVED, type="invoice.paid", result="duplicate") == 3
        assert moved(RECEIVED, type="unverified", result="refused") == 3
        for reason in ("missing_header", "no_valid_signature", "timestamp_out_of_tolerance"):
            assert moved(SIGNATURE_FAILURES, reason=reason) == 1, reason
        assert moved(f"{INTAKE}_count") == EVENTS + 6
        assert moved(f"{INTAKE}_bucket", le="+Inf") == EVENTS + 6
        assert moved(f"{INTAKE}_sum") > 0
        assert value(after, "billing_events", status="received") == EVENTS
        assert value(after, "billing_queue_lag_seconds") >= 1
        # The totals above are sums over both workers' own files.
        assert len(observing_pids(metrics_dir)) == 2

        processes.worker(env)

        def drained() -> dict | None:
            now = scrape(f"{url}/metrics")
            return now if value(now, "billing_events", status="received") == 0 else None

        drained_scrape = wait_until(drained, 60, "the worker to process every event")
        assert value(drained_scrape, "billing_queue_lag_seconds") == 0
        worked = scrape(f"http://127.0.0.1:{worker_port}/metrics")
        tasks = "billing_event_tasks_total"
        # Duplicates of events still waiting rang the bell again: at least one task per event.
        assert value(worked, tasks, event_type="invoice.paid", outcome="processed") >= EVENTS
        task_count = value(worked, "billing_event_task_seconds_count", event_type="invoice.paid")
        assert task_count >= EVENTS
        assert value(worked, "billing_event_task_seconds_sum", event_type="invoice.paid") > 0
    finally:
        processes.stop_all()
        for log in sorted(tmp_path.glob("*.log")):  # shown by pytest when the test failed
            print(f"--- {log.name}\n{log.read_text(errors='replace')[-4000:]}")
