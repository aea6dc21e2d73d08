"""kombu's Redis transport, keeping one synchronous client per channel.

kombu builds a new `redis.Redis` for every command it sends outside BRPOP (`conn_or_acquire`):
the LPUSH that queues each event, and the acks bookkeeping of every task (`acks_late`). With
redis-py 8 the constructor copies about 170 response callbacks, about 140 µs a time: half the
CPU of queuing one event in the receiver. The client is only a handle on the channel's
connection pool, so one per pool does the same work; a new pool (after a fork, or a reconnect)
gets a new client.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kombu.transport import redis


class Channel(redis.Channel):
    _sync_client: Any = None

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        if client:
            yield client
            return
        pool = self.pool
        cached = self._sync_client
        if cached is None or cached.connection_pool is not pool:
            cached = self._sync_client = self._create_client()
        yield cached


class Transport(redis.Transport):
    Channel = Channel


TRANSPORT = f"{__name__}:Transport"
