"""Prometheus metrics: their definitions, the cheap functions that record them, and the
scrape-time view of the event log. No Flask here; `webhooks/metrics.py` serves `/metrics`.

Processes that serve metrics run in prometheus-client's multiprocess mode: `serve` and `worker`
set `PROMETHEUS_MULTIPROC_DIR` (see `prepare_multiprocess_dir`) before prometheus-client is
imported, so every gunicorn and Celery worker process writes its own files and a scrape adds
them up. Without the variable (tests, one-off commands) the metrics live in the process.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker


log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Intake is a few milliseconds; the tail shows a slow database or a stalled broker.
INTAKE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# Waits for a Stripe slot: 0 when the budget is idle, about 1/rate apart when it is the bottleneck.
BUDGET_WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
TASK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

EVENTS_RECEIVED = Counter(
    "billing_webhook_events",
    "Webhook deliveries by event type and result "
    "(stored, duplicate, refused, too_large, unavailable).",
    ["type", "result"],
)
SIGNATURE_FAILURES = Counter(
    "billing_webhook_signature_failures",
    "Deliveries refused for their Stripe-Signature, by reason.",
    ["reason"],
)
INTAKE_SECONDS = Histogram(
    "billing_webhook_intake_seconds",
    "Time from a delivery's arrival to our answer, in seconds.",
    buckets=INTAKE_BUCKETS,
)
TASK_SECONDS = Histogram(
    "billing_event_task_seconds",
    "Duration of one event-processing task, by event type.",
    ["event_type"],
    buckets=TASK_BUCKETS,
)
TASKS = Counter(
    "billing_event_tasks",
    "Event-processing tasks by event type and outcome (processed, ignored, failed, retry, ...).",
    ["event_type", "outcome"],
)
STRIPE_CALLS = Counter(
    "billing_stripe_calls",
    "Stripe API calls by method and outcome.",
    ["method", "outcome"],
)
STRIPE_REQUESTS = Counter(
    "billing_stripe_requests",
    "HTTP requests sent to Stripe (every read, write, page and retry) by endpoint and outcome.",
    ["endpoint", "outcome"],
)
STRIPE_RATE_LIMITED = Counter(
    "billing_stripe_rate_limited",
    "429 answers from Stripe by endpoint and Stripe-Rate-Limited-Reason.",
    ["endpoint", "reason"],
)
BUDGET_WAIT_SECONDS = Histogram(
    "billing_stripe_budget_wait_seconds",
    "Time a Stripe request waited for its slot in the shared budget.",
    buckets=BUDGET_WAIT_BUCKETS,
)
BUDGET_PROBLEMS = Counter(
    "billing_stripe_budget_problems",
    "Requests not paced: `exhausted` (no slot soon, retried later), `unavailable` (store down).",
    ["problem"],
)
BUDGET_CUTS = Counter(
    "billing_stripe_budget_cuts",
    "Rate cuts after a 429, by bucket (global or endpoint).",
    ["bucket"],
)
REFUND_DECISIONS = Counter(
    "billing_refund_decisions",
    "Refund decisions by policy and outcome (approve, review, deny).",
    ["policy", "outcome"],
)
REFUND_DECISION_CLAUSES = Counter(
    "billing_refund_decision_clauses",
    "Clauses applied in refund decisions, by policy, outcome and clause id.",
    ["policy", "outcome", "clause"],
)
ACCOUNT_ACTIONS = Counter(
    "billing_account_actions",
    "Account suspensions, reinstatements and terminations after disputes.",
    ["action"],
)

RECONCILE_DRIFT = Gauge(
    "billing_reconcile_drift",
    "Differences between Stripe and the policy left by the last complete reconcile run, by kind.",
    ["kind"],
    multiprocess_mode="mostrecent",
)
RECONCILE_LAST_COMPLETE = Gauge(
    "billing_reconcile_last_complete_run_timestamp_seconds",
    "When the last reconcile run that compared every customer ended (Unix time).",
    multiprocess_mode="mostrecent",
)


def record_received(event_type: str, result: str) -> None:
    EVENTS_RECEIVED.labels(event_type, result).inc()


def record_signature_failure(reason: str) -> None:
    SIGNATURE_FAILURES.labels(reason).inc()


def record_task(event_type: str, outcome: str, seconds: float) -> None:
    TASKS.labels(event_type, outcome).inc()
    TASK_SECONDS.labels(event_type).observe(seconds)


def record_stripe_call(method: str, outcome: str) -> None:
    """One Stripe API call, e.g. ("refunds.create", "ok") or ("refunds.create", "rate_limited")."""
    STRIPE_CALLS.labels(method, outcome).inc()


def record_stripe_request(endpoint: str, status: int | None) -> None:
    """One HTTP request to Stripe; `status` None for a connection error."""
    STRIPE_REQUESTS.labels(endpoint, _request_outcome(status)).inc()


def _request_outcome(status: int | None) -> str:
    if status is None:
        return "connection_error"
    if status == 429:
        return "rate_limited"
    return "ok" if status < 400 else "client_error" if status < 500 else "server_error"


def record_rate_limited(endpoint: str, reason: str) -> None:
    STRIPE_RATE_LIMITED.labels(endpoint, reason).inc()


def record_budget_wait(seconds: float) -> None:
    BUDGET_WAIT_SECONDS.observe(seconds)


def record_budget_problem(problem: str) -> None:
    BUDGET_PROBLEMS.labels(problem).inc()


def record_budget_cut(bucket: str) -> None:
    BUDGET_CUTS.labels(bucket).inc()


def record_decision(policy: str, outcome: str, clauses: Iterable[str]) -> None:
    """One refund decision, and each clause it applied."""
    REFUND_DECISIONS.labels(policy, outcome).inc()
    for clause in clauses:
        REFUND_DECISION_CLAUSES.labels(policy, outcome, clause).inc()


def record_account_action(action: str) -> None:
    """`suspend`, `reinstate` or `terminate` after a dispute."""
    ACCOUNT_ACTIONS.labels(action).inc()


def record_reconcile_run(drift_by_kind: dict[str, int], kinds: Iterable[str], at: float) -> None:
    """A complete reconcile run: what drift remains of each kind (0 for every kind not found)."""
    for kind in kinds:
        RECONCILE_DRIFT.labels(kind).set(drift_by_kind.get(kind, 0))
    RECONCILE_LAST_COMPLETE.set(at)


class EventLogCollector(Collector):
    """The event log as gauges, read at scrape time: a backlog is a fact of the database."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def collect(self) -> Iterator[Metric]:
        # Imported at scrape time: `config check` reads this module (via the Stripe budget) and
        # must start without SQLAlchemy.
        from sqlalchemy import func, select

        from worker.db.models import Event, EventStatus, utcnow

        pending = (EventStatus.RECEIVED.value, EventStatus.FAILED.value)
        try:
            with self.sessions() as session:
                oldest = session.scalar(
                    select(func.min(Event.received_at)).where(Event.status == EventStatus.RECEIVED)
                )
                counts = dict(
                    session.execute(
                        select(Event.status, func.count())
                        .where(Event.status.in_(pending))
                        .group_by(Event.status)
                    ).all()
                )
        except Exception as exc:  # noqa: BLE001 - a scrape must answer even without a database
            log.warning("event log metrics unavailable: %s", type(exc).__name__)
            yield GaugeMetricFamily(
                "billing_event_log_up", "1 if the event log could be read.", value=0
            )
            return
        yield GaugeMetricFamily("billing_event_log_up", "1 if the event log could be read.", 1)
        lag = max(0.0, (utcnow() - oldest).total_seconds()) if oldest else 0.0
        yield GaugeMetricFamily(
            "billing_queue_lag_seconds",
            "Age of the oldest event still `received` (0 when none waits).",
            value=lag,
        )
        by_status = GaugeMetricFamily(
            "billing_events", "Events now in the event log by status.", labels=["status"]
        )
        for status in pending:
            by_status.add_metric([status], counts.get(status, 0))
        yield by_status


class _ProcessMetrics(Collector):
    """This process's own metrics, when not in multiprocess mode."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def multiprocess_mode() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


def scrape_registry(extra: Sequence[Collector] = ()) -> CollectorRegistry:
    """A registry adding up every process's files (multiprocess mode) or this process's metrics."""
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_mode():
        MultiProcessCollector(registry)
    else:
        registry.register(_ProcessMetrics())
    for collector in extra:
        registry.register(collector)
    return registry


def prepare_multiprocess_dir(data_dir: Path, role: str) -> Path:
    """Point this process and its children at a clean metrics directory under DATA_DIR.

    Must run before prometheus-client is imported by the process that serves (so callers exec
    a fresh interpreter after it). A directory set by the operator is used as it is: cleaning
    it is theirs to decide, since other processes may be writing there.
    """
    configured = os.environ.get(MULTIPROC_ENV)
    if configured:
        Path(configured).mkdir(parents=True, exist_ok=True)
        return Path(configured)
    path = (data_dir / "metrics" / role).resolve()
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):  # a previous run's counters would add to this one's
        stale.unlink()
    os.environ[MULTIPROC_ENV] = str(path)
    return path
