"""The runtime of one `billing-worker` command, built by worker/bootstrap.py when a command first
needs it (`decide`, `policy show` or `config check` never do), then shared by the whole command."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from worker.runtime import Runtime


def command_runtime() -> Runtime:
    # Imported here: `serve`, `worker` and `run` exec other processes and need no Celery app.
    from worker.bootstrap import bootstrap

    root = click.get_current_context().find_root()
    runtime = root.meta.get(__name__)
    if runtime is None:
        # Imported on first use: Celery, stripe and SQLAlchemy are most of a command's start.
        from worker.bootstrap import bootstrap
        from worker.db.presence import check_event_log

        runtime = bootstrap()
        # Before any query: say where the event log was looked for, create nothing there.
        check_event_log(runtime.settings.effective_database_url)
        root.meta[__name__] = runtime
    return runtime
