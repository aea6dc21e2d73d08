"""A burst of webhooks, then the wait until every one of them has left `received`.

`python -m bench.burst URL --secret S --events 2000 --concurrency 16` posts the burst of issue 17
and prints one JSON object: answers by status and the epoch seconds of the first and last 200.
Half the events are `invoice.paid` with unique ids across 40 customers (the sample invoice carries
its email and price, so the handler calls nothing), half `balance.available`, a type without a
handler (`ignored`). Signed at build time: the burst lasts seconds, well inside the tolerance.

`drain` (imported by the benchmark) then polls the event log until nothing is `received`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from typing import Any

import aiohttp
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bench.loadgen import receiver_parser
from webhooks.signature import sign
from worker import samples
from worker.db.models import Event, EventStatus

CUSTOMERS = 40


def burst_events(count: int) -> list[dict[str, Any]]:
    events = []
    for index in range(count):
        customer = f"cus_burst{index % CUSTOMERS:03d}"
        evt = samples.invoice_paid_event(customer=customer, amount_paid=1000 + index)
        if index % 2:
            evt["type"] = "balance.available"
        events.append(evt)
    return events


async def post_all(url: str, secret: str, events: list[dict[str, Any]], concurrency: int) -> dict:
    bodies = [samples.body(evt) for evt in events]
    statuses: Counter[int | str] = Counter()
    acks: list[float] = []
    pending = iter(bodies)

    async def client(session: aiohttp.ClientSession) -> None:
        for body in pending:  # one shared iterator: each body is posted once
            headers = {"Stripe-Signature": sign(body, secret), "Content-Type": "application/json"}
            try:
                async with session.post(url, data=body.encode(), headers=headers) as response:
                    await response.read()
                    statuses[response.status] += 1
                    if response.status == 200:
                        acks.append(time.time())
            except (aiohttp.ClientError, TimeoutError) as exc:
                statuses[type(exc).__name__] += 1

    timeout = aiohttp.ClientTimeout(total=60)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
    return {
        "events": len(bodies),
        "statuses": {str(k): v for k, v in statuses.items()},
        "acked": len(acks),
        "first_ack": min(acks, default=None),
        "last_ack": max(acks, default=None),
    }


def received_left(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return (
            session.scalar(
                select(func.count()).select_from(Event).where(Event.status == EventStatus.RECEIVED)
            )
            or 0
        )


def drain(sessions: sessionmaker[Session], timeout: float) -> dict[str, Any]:
    """Wait until nothing is `received` (or `timeout`); the outcome counts, the first and last
    `processed_at` (epoch seconds), and how many events the first commit recorded."""
    deadline = time.monotonic() + timeout
    while received_left(sessions) and time.monotonic() < deadline:
        time.sleep(0.2)
    with sessions() as session:
        counts = select(Event.status, func.count()).group_by(Event.status)
        by_status = dict(session.execute(counts).tuples().all())
        first, last = session.execute(
            select(func.min(Event.processed_at), func.max(Event.processed_at))
        ).one()
        # A batch commits its events with one processed_at: those of the first commit were run
        # before the interval began, so a rate over first..last leaves them out.
        at_first = session.scalar(
            select(func.count()).select_from(Event).where(Event.processed_at == first)
        )
    return {
        "by_status": {str(k): v for k, v in by_status.items()},
        "left_received": by_status.get(EventStatus.RECEIVED, 0),
        "first_processed": first.timestamp() if first else None,
        "processed_at_first": at_first or 0,
        "last_processed": last.timestamp() if last else None,
    }


def main(argv: list[str] | None = None) -> None:
    parser = receiver_parser("python -m bench.burst", __doc__)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args(argv)
    events = burst_events(args.events)
    print(json.dumps(asyncio.run(post_all(args.url, args.secret, events, args.concurrency))))


if __name__ == "__main__":
    main()
