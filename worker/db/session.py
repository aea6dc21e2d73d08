"""Engines and sessions: one engine per process, one session per unit of work."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

T = TypeVar("T")


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    """The process's engine for `url` (pooled; created on first use, never at import)."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})
        _serialise_sqlite_writes(engine)
        return engine
    # No pool_pre_ping (a round trip before every checkout, 13 % of a delivery's CPU): a
    # connection that died with a PostgreSQL restart fails its first statement instead, which
    # invalidates the whole pool, and `once_more_after_disconnect` runs the work again on a
    # fresh connection (SQLAlchemy's "optimistic" disconnect handling).
    return create_engine(url, pool_size=5, max_overflow=5, pool_timeout=5)


def once_more_after_disconnect(work: Callable[[], T]) -> T:
    """Run `work`; if its connection turned out dead (the server restarted since it was pooled),
    run it once more: SQLAlchemy has invalidated the pool, so the retry connects afresh. `work`
    must be safe to repeat (it was rolled back, or is idempotent)."""
    try:
        return work()
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        return work()


def _serialise_sqlite_writes(engine: Engine) -> None:
    """SQLite allows one writer: take the write lock at BEGIN so two processes never deadlock
    upgrading a read to a write, and use WAL so readers never block the receiver."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let SQLAlchemy's BEGIN below take over
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A connection marked read_only (a processing loop's look at the event log) takes no
        # write lock: under WAL it never blocks the receiver's INSERT.
        read_only = connection.get_execution_options().get("read_only", False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def session_factory(url: str) -> sessionmaker:
    return sessionmaker(engine_for(url), expire_on_commit=False)


@contextmanager
def read_only(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """A transaction that cannot write: on SQLite it takes no write lock (a plain BEGIN, so the
    receiver is never blocked); PostgreSQL refuses any write in it. Never committed."""
    with sessions() as session:
        connection = session.connection(execution_options={"read_only": True})
        if connection.dialect.name == "postgresql":
            session.execute(text("SET TRANSACTION READ ONLY"))
        yield session
