"""gunicorn settings for the receiver: `billing-worker serve` runs it with this config module.

gunicorn's master imports this module, and so the `webhooks` package, but not the app: the
package imports its factory (webhooks/app.py) only when `create_app()` is called, which the
workers do, each after its fork, so each creates its own metrics files and the master none.

gunicorn's own lines (boot, worker exits, timeouts) go through `worker.logging` like ours, so a
log collector sees one JSON format. No access log: every delivery already logs one line with its
event id, and the metrics count requests; a second line per request would only cost intake time.

Threaded workers (gthread): a delivery spends most of its time waiting on round trips (the
INSERT's commit, which waits for PostgreSQL's WAL flush, and the doorbell's LPUSH), so each
worker overlaps several deliveries' waits, and concurrent commits share one WAL flush; gthread
also keeps client connections alive. Measured on the bench's `serve --workers 2`: about 1.5-3
times the events/s of sync workers, on PostgreSQL + Redis and on SQLite (`python -m bench`).
The receiver runs gthread's subclass in webhooks/buffered_worker.py, which reads each request
whole before a thread sees it, so a slow or stalled client holds no thread (issue 25).
"""

from __future__ import annotations

import os

from gunicorn.config import Config
from gunicorn.glogging import Logger

from worker.logging import configure_logging


class StructuredLogger(Logger):
    def setup(self, cfg: Config) -> None:
        super().setup(cfg)
        configure_logging(os.environ.get("LOG_LEVEL") or cfg.loglevel)
        for logger in (self.error_log, self.access_log):
            logger.handlers.clear()  # gunicorn's plain-text handlers; the root logger has ours
            logger.propagate = True


logger_class = StructuredLogger
worker_class = "webhooks.buffered_worker.BufferedThreadWorker"
threads = 8
keepalive = 2  # seconds an idle kept-alive connection stays open (gunicorn's default, stated)
