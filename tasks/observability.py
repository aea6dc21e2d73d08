"""Celery's signals wired to our logs and metrics.

- Celery's own logging goes through `worker.logging` (connecting `setup_logging` stops Celery from
  installing its handlers).
- Each task starts with a clean log context holding its Celery task id; `process_event` also
  binds the event id, and processing adds the type and customer once it has read the row. The
  context stays until the next task starts, so Celery's "succeeded"/"retry" line after the task
  still says which event it was about.
- Each `process_event` task is timed and counted by event type and outcome.
- The worker's main process serves its processes' metrics on WORKER_METRICS_PORT, if set.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import Celery, Task, signals
from prometheus_client import start_http_server
from structlog.contextvars import get_contextvars

from tasks.names import PROCESS_EVENT
from worker.logging import bind_event, configure_logging, fresh_log_context
from worker.metrics import record_task, scrape_registry

log = logging.getLogger(__name__)
_started: dict[str, float] = {}


@signals.setup_logging.connect
def _configure_logging(loglevel: int | str | None = None, **_: Any) -> None:
    configure_logging(loglevel or "INFO")


@signals.task_prerun.connect
def _task_started(task_id: str, task: Task, args: tuple[Any, ...] = (), **_: Any) -> None:
    fresh_log_context(celery_task_id=task_id, task=task.name)
    if task.name == PROCESS_EVENT and args:
        bind_event(str(args[0]))
    _started[task_id] = time.perf_counter()


@signals.task_postrun.connect
def _task_finished(
    task_id: str, task: Task, retval: Any = None, state: str | None = None, **_: Any
) -> None:
    started = _started.pop(task_id, None)
    if task.name != PROCESS_EVENT or started is None:
        return
    # A finished task returns the event's new status; a retry or a crash has only Celery's state.
    outcome = retval if state == "SUCCESS" and isinstance(retval, str) else str(state).lower()
    event_type = get_contextvars().get("event_type", "unknown")
    record_task(event_type, outcome, time.perf_counter() - started)


@signals.worker_init.connect
def _serve_worker_metrics(sender: Any = None, **_: Any) -> None:
    app: Celery | None = getattr(sender, "app", None)
    settings = getattr(app.conf, "billing_settings", None) if app else None
    port = getattr(settings, "worker_metrics_port", 0)
    if not port:
        return
    start_http_server(port, addr=settings.host, registry=scrape_registry())
    log.info("worker metrics on http://%s:%s/metrics", settings.host, port)
