"""The Celery app of `celery -A tasks.app ...` (the worker, beat, inspect), built on first use.

Celery looks up the module's `app` attribute; the module's `__getattr__` bootstraps the process's
runtime only then, so importing this module reads no environment and touches no disk.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from worker.bootstrap import bootstrap


@cache
def _app() -> Any:
    return bootstrap().celery


def __getattr__(name: str) -> Any:
    if name == "app":
        return _app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
