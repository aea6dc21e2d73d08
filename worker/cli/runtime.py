"""The runtime of one `billing-worker` command, built by worker/bootstrap.py when a command first
needs it (`decide`, `policy show` or `config check` never do), then shared by the whole command."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from worker.runtime import Runtime


def command_runtime() -> Runtime:
    root = click.get_current_context().find_root()
    runtime = root.meta.get(__name__)
    if runtime is None:
        # Imported on first use: Celery, stripe and SQLAlchemy are most of a command's start.
        from worker.bootstrap import bootstrap

        runtime = root.meta[__name__] = bootstrap()
    return runtime
