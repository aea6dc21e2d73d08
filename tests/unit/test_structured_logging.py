"""worker.logging in-process: JSON lines with the event's context, stdlib loggers included, and
secrets scrubbed even from an exception's message."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import structlog
from structlog.contextvars import bind_contextvars, clear_contextvars

import worker.logging as worker_logging
from worker.eventlog.processing import refund_request_id_in
from worker.logging import bind_event, configure_logging


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[callable]:
    configure_logging("INFO", json=True)

    def lines() -> list[dict]:
        return [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]

    try:
        yield lines
    finally:
        root = logging.getLogger()
        for handler in [h for h in root.handlers if h.name == "billing-worker"]:
            root.removeHandler(handler)
        structlog.reset_defaults()
        clear_contextvars()
        worker_logging._configured_level = None


def test_stdlib_and_structlog_lines_carry_the_bound_event(json_logs) -> None:  # noqa: ANN001
    bind_contextvars(celery_task_id="task-1")
    bind_event("evt_1", "refund.created", "cus_1", "rr_1")
    logging.getLogger("worker.eventlog.processing").warning("event %s %s", "evt_1", "failed")
    structlog.get_logger("webhooks.intake").info("webhook stored", duplicate=False)
    first, second = json_logs()
    for line in (first, second):
        assert line["event_id"] == "evt_1" and line["event_type"] == "refund.created"
        assert line["customer"] == "cus_1" and line["refund_request_id"] == "rr_1"
        assert line["celery_task_id"] == "task-1"
    assert first["event"] == "event evt_1 failed" and first["level"] == "warning"
    assert second["logger"] == "webhooks.intake" and second["duplicate"] is False


def test_binding_the_next_event_drops_the_previous_events_context(json_logs) -> None:  # noqa: ANN001
    bind_event("evt_1", "refund.created", "cus_1", "rr_1")
    bind_event("evt_2", "invoice.paid")
    logging.getLogger("worker").info("next")
    [line] = json_logs()
    assert line["event_id"] == "evt_2"
    assert "customer" not in line and "refund_request_id" not in line


# Built at run time so no live-looking key sits in the tree (or in the traceback's source line).
FAKE_LIVE_KEY = "sk_" + "live_51Hsecret9"


def test_secrets_and_card_numbers_are_scrubbed_even_from_exceptions(json_logs) -> None:  # noqa: ANN001
    try:
        raise ValueError(f"card 4242424242424242 rejected for key {FAKE_LIVE_KEY}")
    except ValueError:
        logging.getLogger("worker").exception("whsec_leaked_secret in redis://:pw@redis/0")
    [line] = json_logs()
    text = json.dumps(line)
    for secret in ("4242424242424242", "51Hsecret9", "leaked_secret", ":pw@"):
        assert secret not in text
    assert "ValueError" in line["exception"]


def test_the_refund_request_id_comes_from_our_refunds_metadata() -> None:
    refund = {"data": {"object": {"object": "refund", "metadata": {"refund_request_id": "rr_9"}}}}
    assert refund_request_id_in(refund) == "rr_9"
    assert refund_request_id_in({"data": {"object": {"metadata": {}}}}) is None


def test_a_log_line_never_shows_a_card_number_however_it_is_written(json_logs) -> None:  # noqa: ANN001
    note = "card_4242424242424242, or 5555.5555.5555.4444 if that fails"
    structlog.get_logger("worker.commands.refunds").info(
        "refund requested", note=note, metadata={"card": "x3782-822463-10005y"}
    )
    logging.getLogger("worker").warning("customer wrote %s", "4000/0566/5566/5556")
    first, second = json_logs()
    assert first["note"] == "card_[card …4242], or [card …4444] if that fails"
    assert "822463" not in first["metadata"] and "[card …0005]" in first["metadata"]
    assert second["event"] == "customer wrote [card …5556]"


def test_a_line_looks_up_no_caller_and_no_thread(json_logs, monkeypatch) -> None:  # noqa: ANN001
    """A line names neither, and finding the caller walked the stack on every delivery's line."""
    looked_up: list[str] = []

    def find_caller(self: logging.Logger, *_args: object, **_kwargs: object) -> tuple:
        looked_up.append(self.name)
        return "(unknown file)", 0, "(unknown function)", None

    monkeypatch.setattr(logging.Logger, "findCaller", find_caller)
    monkeypatch.setattr(structlog.stdlib._FixedFindCallerLogger, "findCaller", find_caller)
    structlog.get_logger("webhooks.intake").info("webhook stored", duplicate=False)
    logging.getLogger("worker").info("stdlib line")
    assert [line["event"] for line in json_logs()] == ["webhook stored", "stdlib line"]
    assert looked_up == []
    assert logging.makeLogRecord({}).threadName is None
