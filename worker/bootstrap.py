"""The composition root: each entry point (the Flask app factory, the Celery worker, the CLI)
builds one `Runtime` here, once per process; nothing is built when a module is imported.

The Celery command line (`celery -A worker.bootstrap:app worker|beat|inspect`) reads this module's
`app`, which `__getattr__` bootstraps on that first access, from the environment.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from tasks.celery_app import create_celery
from tasks.doorbell import doorbell, group_doorbell
from tasks.events import register_tasks
from worker.config import Settings, load_settings
from worker.db.session import session_factory
from worker.policy import load_policy
from worker.runtime import Runtime
from worker.stripe.client import build_client


def bootstrap(settings: Settings | None = None) -> Runtime:
    """The process's runtime from `settings` (default: the environment), its tasks registered."""
    settings = settings or load_settings()
    celery = create_celery(settings)
    enqueue = doorbell(settings, celery)
    runtime = Runtime(
        settings=settings,
        sessions=session_factory(settings.effective_database_url),
        stripe=build_client(settings),
        policy=load_policy(settings.billing_policy),
        celery=celery,
        enqueue=enqueue,
        enqueue_group=group_doorbell(settings, celery, enqueue),
        account_policies={
            account: load_policy(name)
            for account, name in settings.billing_policy_by_account.items()
        },
    )
    register_tasks(runtime)
    return runtime


@cache
def _celery_app() -> Any:
    return bootstrap().celery


def __getattr__(name: str) -> Any:
    if name == "app":
        return _celery_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
