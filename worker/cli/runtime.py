"""The runtime of one `billing-worker` command, built by worker/bootstrap.py when a command first
needs it (`decide`, `policy show` or `config check` never do), then shared by the whole command."""

from __future__ import annotations

import click

from worker.bootstrap import bootstrap
from worker.runtime import Runtime


def command_runtime() -> Runtime:
    root = click.get_current_context().find_root()
    runtime = root.meta.get(__name__)
    if runtime is None:
        runtime = root.meta[__name__] = bootstrap()
    return runtime
