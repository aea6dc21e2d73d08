"""Where the buckets live, so every process that calls Stripe spends from the same budget.

- `RedisStore`: every process on every host (the production stack); the arithmetic runs in Lua,
  atomically, on Redis's clock.
- `FileStore`: the processes of one host (the embedded default, `billing-worker run`): a SQLite
  file under DATA_DIR, each reservation one write transaction.
- `MemoryStore`: one process; tests inject its clock.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from worker.stripe.budget import gcra

# A bucket idle this long is forgotten (its tat is in the past, its cut recovered long ago).
IDLE_EXPIRY_SECONDS = 3600


class Store(Protocol):
    def reserve(
        self, keys: Sequence[str], rates: Sequence[float], *, burst_seconds: float, max_wait: float
    ) -> float | None: ...

    def slow_down(self, key: str) -> bool: ...


class MemoryStore:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.buckets: dict[str, gcra.BucketState] = {}
        self._lock = threading.Lock()

    def reserve(
        self, keys: Sequence[str], rates: Sequence[float], *, burst_seconds: float, max_wait: float
    ) -> float | None:
        with self._lock:
            states = [self.buckets.setdefault(key, gcra.BucketState()) for key in keys]
            return gcra.reserve(
                states, list(rates), self.clock(), burst_seconds=burst_seconds, max_wait=max_wait
            )

    def slow_down(self, key: str) -> bool:
        with self._lock:
            return gcra.slow_down(self.buckets.setdefault(key, gcra.BucketState()), self.clock())


class FileStore:
    """Buckets in a SQLite file; `BEGIN IMMEDIATE` serialises the processes of this host."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.clock = clock
        self._local = threading.local()  # sqlite3 connections stay in their thread

    def _connection(self) -> sqlite3.Connection:
        conn, pid = getattr(self._local, "conn", None), getattr(self._local, "pid", 0)
        if conn is None or pid != os.getpid():  # nor is one shared across a fork
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=OFF")  # the state is worthless after a crash anyway
            conn.execute(
                "CREATE TABLE IF NOT EXISTS buckets (key TEXT PRIMARY KEY, tat REAL NOT NULL,"
                " cut_factor REAL NOT NULL, cut_at REAL NOT NULL)"
            )
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    def _update(self, keys: Sequence[str], change: Callable[[list[gcra.BucketState]], Any]) -> Any:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            states = [self._load(conn, key) for key in keys]
            result = change(states)
            conn.executemany(
                "INSERT OR REPLACE INTO buckets VALUES (?, ?, ?, ?)",
                [(k, s.tat, s.cut_factor, s.cut_at) for k, s in zip(keys, states, strict=True)],
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return result

    @staticmethod
    def _load(conn: sqlite3.Connection, key: str) -> gcra.BucketState:
        row = conn.execute(
            "SELECT tat, cut_factor, cut_at FROM buckets WHERE key = ?", (key,)
        ).fetchone()
        return gcra.BucketState(*row) if row else gcra.BucketState()

    def reserve(
        self, keys: Sequence[str], rates: Sequence[float], *, burst_seconds: float, max_wait: float
    ) -> float | None:
        now = self.clock()

        def reserve(states: list[gcra.BucketState]) -> float | None:
            return gcra.reserve(
                states, list(rates), now, burst_seconds=burst_seconds, max_wait=max_wait
            )

        return self._update(keys, reserve)

    def slow_down(self, key: str) -> bool:
        now = self.clock()
        return self._update([key], lambda states: gcra.slow_down(states[0], now))


def _script(name: str) -> str:
    return (Path(__file__).parent / name).read_text()


class RedisStore:
    """Buckets as Redis hashes under `prefix`; `now` None means Redis's own clock."""

    def __init__(self, client: Any, prefix: str, now: Callable[[], float] | None = None) -> None:
        self.client = client
        self.prefix = prefix
        self.now = now
        self._reserve = client.register_script(_script("reserve.lua"))
        self._slow_down = client.register_script(_script("slow_down.lua"))

    @classmethod
    def from_url(cls, url: str, prefix: str) -> RedisStore:
        import redis

        # Short timeouts: a Stripe call must not hang on the limiter (the caller fails open).
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        return cls(client, prefix)

    def _now(self) -> str:
        return repr(self.now()) if self.now else ""

    def reserve(
        self, keys: Sequence[str], rates: Sequence[float], *, burst_seconds: float, max_wait: float
    ) -> float | None:
        args = [
            self._now(), burst_seconds, max_wait, gcra.RECOVERY_PER_SECOND, gcra.STALE_SECONDS,
            IDLE_EXPIRY_SECONDS, *rates,
        ]  # fmt: skip
        wait = self._reserve(keys=[self.prefix + k for k in keys], args=args)
        return float(wait) if wait else None

    def slow_down(self, key: str) -> bool:
        args = [
            self._now(), gcra.CUT, gcra.MIN_FACTOR, gcra.COOLDOWN_SECONDS,
            gcra.RECOVERY_PER_SECOND, IDLE_EXPIRY_SECONDS,
        ]  # fmt: skip
        return bool(self._slow_down(keys=[self.prefix + key], args=args))
