"""Structured logs: one configuration for our code, Celery, gunicorn and any stdlib logger.

JSON lines when the log stream is not a terminal (containers, files, CI), a readable console
format on a terminal. Logs go to stderr, so a command's own output on stdout (`events list
--format json`) stays clean. Every line carries the context bound with structlog's contextvars:
the Stripe event id, type and customer, the refund-request id and the Celery task id while an
event is worked on, and an HTTP request's method and path. Each request, task and loop event
starts from an empty context (`fresh_log_context`), so no line carries the unit before it.
Every string is scrubbed of keys, signing secrets, signatures and card numbers
(`worker.redact.scrub`) as a last line of defence: our code never logs them on purpose.

Libraries that log at INFO what they do on every call (stripe-python a line per request, alembic
a line per plugin and migration step) log warnings only, so a command prints what it was asked
for; `LOG_VERBOSE` (`billing-worker -v`) or `LOG_LEVEL=DEBUG` lets them log at LOG_LEVEL.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, TextIO

import structlog
from structlog.contextvars import bind_contextvars, clear_contextvars, unbind_contextvars
from structlog.typing import EventDict, WrappedLogger

from worker.redact import scrub

# The keys that say which event a line is about; cleared together so one event's id never
# labels the next event's lines.
EVENT_KEYS = ("event_id", "event_type", "customer", "refund_request_id")
TASK_KEYS = ("celery_task_id", "task")

CHATTY_LIBRARIES = ("stripe", "alembic")
VERBOSE = "LOG_VERBOSE"  # set by `billing-worker -v`, so the processes it starts inherit it

_HANDLER_NAME = "billing-worker"
_configured_level: int | None = None


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at the time (Celery and pytest swap it)."""

    def __init__(self) -> None:
        super().__init__()
        self.name = _HANDLER_NAME

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def configure_logging(
    level: str | int = "INFO", *, json: bool | None = None, verbose: bool | None = None
) -> None:
    """Route structlog and the stdlib root logger through one renderer; safe to call again.

    `json=None` picks JSON unless stderr is a terminal; `verbose=None` reads LOG_VERBOSE.
    """
    global _configured_level
    numeric = _level(level)
    quiet_libraries(numeric, verbose)
    if _configured_level is not None and json is None:
        logging.getLogger().setLevel(numeric)  # configured once; a later call may only re-level
        _configured_level = numeric
        return
    as_json = not sys.stderr.isatty() if json is None else json
    # No line names its file, line, function or thread, so none is looked up for each line (the
    # logging HOWTO's "Optimization"): the caller's frame walk alone was a fifth of a line's CPU.
    logging._srcfile = None
    logging.logThreads = False
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            scrub_event,
            renderer,
        ],
    )
    handler = _StderrHandler()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.name == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    logging.captureWarnings(True)  # Python warnings (Celery's, libraries') as log lines too
    _configured_level = numeric


def quiet_libraries(level: int, verbose: bool | None = None) -> None:
    """The chatty libraries at WARNING, unless verbose or DEBUG asks for their every line."""
    if verbose is None:
        verbose = os.environ.get(VERBOSE, "").strip().lower() in ("1", "true", "yes", "on")
    chosen = level if verbose or level <= logging.DEBUG else max(level, logging.WARNING)
    for name in CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(chosen)


# Added by the processors above, never from a caller's data: no need to scrub them.
_OWN_KEYS = frozenset({"timestamp", "level", "logger"})


def scrub_event(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    for key, value in event_dict.items():
        if key in _OWN_KEYS or value is None or isinstance(value, bool | int | float):
            continue
        event_dict[key] = scrub(value if isinstance(value, str) else str(value))
    return event_dict


def fresh_log_context(**labels: str) -> None:
    """Start a unit of work (a request, a task, a loop's event) with only its own labels.

    Contextvars belong to the thread: a gunicorn thread or a Celery process keeps what the unit
    before bound, so a replay's event and customer would label the next, unrelated request.
    """
    clear_contextvars()
    bind_contextvars(**labels)


def bind_event(
    event_id: str,
    event_type: str | None = None,
    customer: str | None = None,
    refund_request_id: str | None = None,
) -> None:
    """Label every following line of this unit of work with the event it is about."""
    unbind_contextvars(*EVENT_KEYS)
    values = {
        "event_id": event_id,
        "event_type": event_type,
        "customer": customer,
        "refund_request_id": refund_request_id,
    }
    bind_contextvars(**{key: value for key, value in values.items() if value is not None})


def _level(level: str | int) -> int:
    if isinstance(level, int):
        return level
    numeric = logging.getLevelName(level.strip().upper())
    return numeric if isinstance(numeric, int) else logging.INFO
