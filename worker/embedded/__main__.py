"""`python -m worker.embedded --concurrency N`: what `billing-worker worker` runs with no broker.

A fresh interpreter, exec'd after `PROMETHEUS_MULTIPROC_DIR` is set, as for the Celery worker.
"""

from __future__ import annotations

import argparse
import logging
import os

from prometheus_client import start_http_server

from worker.config import load_settings
from worker.embedded.supervisor import Supervisor
from worker.logging import configure_logging
from worker.metrics import scrape_registry


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m worker.embedded")
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args(argv)
    settings = load_settings()
    configure_logging(settings.log_level, verbose=settings.log_verbose)
    if settings.worker_metrics_port:
        start_http_server(settings.worker_metrics_port, settings.host, scrape_registry())
    Supervisor(settings, args.concurrency).run()
    # Every loop is joined and every line written: skip the interpreter's teardown of a large
    # import graph, which on a busy machine took seconds of `run`'s stop budget.
    logging.shutdown()
    os._exit(0)


if __name__ == "__main__":
    main()
