"""The Celery app: the broker only rings the bell; the database holds the events."""

from __future__ import annotations

from collections.abc import Callable

from celery import Celery

from tasks import observability  # noqa: F401 - connects Celery's logging and metrics signals
from tasks.names import PROCESS_EVENT, PROCESS_EVENTS, RECONCILE, SWEEP
from worker.config import Settings


def create_celery(settings: Settings) -> Celery:
    """The Celery app for `settings`; worker/bootstrap.py registers the tasks on it."""
    app = Celery("billing_worker", broker=settings.effective_broker_url)
    app.conf.update(
        task_ignore_result=True,
        # Crash safety: a task is acknowledged after it ran, and redelivered if its process died.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=2,
        broker_transport_options=_transport_options(settings.effective_broker_url),
        broker_transport=_transport(settings.effective_broker_url),
        beat_schedule={
            "sweep-stranded-events": {
                "task": SWEEP,
                "schedule": settings.sweep_interval_seconds,
            },
            **_reconcile_schedule(settings),
        },
        beat_schedule_filename=str(settings.data_dir / "celerybeat-schedule"),
        worker_hijack_root_logger=False,
    )
    app.conf.billing_settings = settings
    return app


def _reconcile_schedule(settings: Settings) -> dict[str, dict[str, object]]:
    """A whole reconcile run every RECONCILE_INTERVAL_SECONDS (none when 0); one at a time: a
    run still going when the next is due makes the next one wait out its expiry."""
    interval = settings.reconcile_interval_seconds
    if not interval:
        return {}
    return {
        "reconcile": {
            "task": RECONCILE,
            "schedule": interval,
            "options": {"expires": interval},  # a missed run is not queued behind the next
        }
    }


def _transport(broker_url: str) -> str | None:
    """kombu's transport for the URL's scheme, but for Redis one that reuses its client.

    Plain `redis://` only: kombu turns TLS on for `rediss://` by the scheme's name, which a
    transport given by class would bypass.
    """
    if broker_url.startswith("redis://"):
        from tasks.redis_transport import TRANSPORT

        return TRANSPORT
    return None


def _transport_options(broker_url: str) -> dict[str, object]:
    if broker_url.startswith(("redis", "rediss")):
        # Fail fast when Redis is down: the receiver must still answer Stripe in time. Without
        # max_retries=0 a publish retries its connection for broker_connection_timeout (2 s per
        # webhook, so 1 webhook a second per gunicorn worker); the sweeper queues what was not.
        return {
            "socket_connect_timeout": 2,
            "socket_timeout": 5,
            "visibility_timeout": 3600,
            "max_retries": 0,
        }
    if broker_url.startswith(("amqp", "pyamqp")):
        # RabbitMQ: one connection attempt per publish, not retries for broker_connection_timeout
        # inside a webhook's request; the sweeper queues what was not.
        return {"max_retries": 0}
    if broker_url.startswith("sqla+sqlite"):
        # The embedded broker shares SQLite's one-writer rule with our own processes.
        return {"connect_args": {"timeout": 30}}
    return {}


def enqueuer(app: Celery) -> Callable[[str], None]:
    """A function that queues one event id by task name, failing fast if the broker is down:
    the same message `app.send_task(PROCESS_EVENT, args=[event_id])` sends, built once."""
    from tasks.publisher import TaskPublisher

    return TaskPublisher(app, PROCESS_EVENT)


def group_enqueuer(app: Celery) -> Callable[[list[str]], None]:
    """As `enqueuer`, one message for several event ids: `PROCESS_EVENTS`."""
    from tasks.publisher import TaskPublisher

    return TaskPublisher(app, PROCESS_EVENTS)
