"""Fixtures of the handler unit tests: a `HandlerRunner` on a migrated SQLite file."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from handler_runner import HandlerRunner

from worker.db.session import session_factory
from worker.policy import load_policy


@pytest.fixture
def handlers(sqlite_url: str) -> Callable[[str], HandlerRunner]:
    """`handlers("mittrik")`: handlers under that policy, on a fresh database."""
    return lambda policy: HandlerRunner(session_factory(sqlite_url), load_policy(policy))
