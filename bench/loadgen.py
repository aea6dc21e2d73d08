"""The load generator: an asyncio (aiohttp) client, run in its own process by the benchmarks.

`python -m bench.loadgen URL --secret S saturate --concurrency 32 --duration 10` or
`... rate --rate 500 --duration 10` prints one JSON object: requests, errors, events/s and
latency percentiles (ms). Every request is a realistic 4 KiB event with a unique id, signed with
the secret at send time, exactly as Stripe signs.

Saturation keeps `concurrency` requests in flight and counts completions. A fixed rate is an open
loop: request i is due at start + i/rate whatever happened to the earlier ones, and its latency
runs from when it was due, so a stalled server shows as latency instead of slowing the client
down (no coordinated omission). The first `--warmup` seconds are sent but not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench import payloads
from worker import samples

TEMPLATES = 64  # distinct bodies; each request still gets its own event id
ID_WIDTH = 28  # evt_ + 24 characters, as Stripe's ids


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int | str] = field(default_factory=Counter)

    def add(self, status: int | str, seconds: float) -> None:
        self.statuses[status] += 1
        if status == 200:
            self.latencies.append(seconds)


class Deliveries:
    """Signed bodies made at send time from a few templates: the id is swapped, then signed."""

    def __init__(self, secret: str) -> None:
        self.secret = secret.encode()
        self.prefix = f"evt_b{os.getpid():07d}"
        self.templates: list[tuple[str, str]] = []
        for index in range(TEMPLATES):
            evt = payloads.intake_event(index)
            self.templates.append((samples.body(evt), evt["id"]))
        self.count = 0

    def next(self) -> tuple[bytes, dict[str, str]]:
        body, template_id = self.templates[self.count % TEMPLATES]
        event_id = f"{self.prefix}{self.count:0{ID_WIDTH - len(self.prefix)}d}"
        self.count += 1
        body = body.replace(template_id, event_id, 1)
        timestamp = str(int(time.time()))
        digest = hmac.new(self.secret, f"{timestamp}.{body}".encode(), hashlib.sha256)
        headers = {
            "Stripe-Signature": f"t={timestamp},v1={digest.hexdigest()}",
            "Content-Type": "application/json",
        }
        return body.encode(), headers


async def post(session: aiohttp.ClientSession, url: str, deliveries: Deliveries) -> int | str:
    body, headers = deliveries.next()
    try:
        async with session.post(url, data=body, headers=headers) as response:
            await response.read()
            return response.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        return type(exc).__name__


async def saturate(
    url: str, deliveries: Deliveries, concurrency: int, duration: float, warmup: float
) -> dict[str, Any]:
    tally = Tally()
    start = time.perf_counter()
    counted_from = start + warmup
    deadline = counted_from + duration

    async def loop(session: aiohttp.ClientSession) -> None:
        while (sent := time.perf_counter()) < deadline:
            status = await post(session, url, deliveries)
            if sent >= counted_from:
                tally.add(status, time.perf_counter() - sent)

    async with _session(concurrency) as session:
        await asyncio.gather(*(loop(session) for _ in range(concurrency)))
    elapsed = time.perf_counter() - counted_from
    return summary(tally, elapsed, mode="saturate", concurrency=concurrency)


async def fixed_rate(
    url: str, deliveries: Deliveries, rate: float, duration: float, warmup: float
) -> dict[str, Any]:
    tally = Tally()
    total = int((warmup + duration) * rate)
    counted_from = int(warmup * rate)
    late_starts = 0
    async with _session(1024) as session:
        start = time.perf_counter()

        async def one(index: int, due: float) -> None:
            status = await post(session, url, deliveries)
            if index >= counted_from:
                tally.add(status, time.perf_counter() - due)

        tasks = []
        for index in range(total):
            due = start + index / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -0.005:
                late_starts += 1  # the client itself fell behind: the figure would be wrong
            tasks.append(asyncio.create_task(one(index, due)))
        await asyncio.gather(*tasks)
    result = summary(tally, duration, mode="rate", rate=rate)
    result["client_late_starts"] = late_starts
    return result


def _session(limit: int) -> aiohttp.ClientSession:
    timeout = aiohttp.ClientTimeout(total=30)
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=limit), timeout=timeout)


def percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def summary(tally: Tally, elapsed: float, **extra: Any) -> dict[str, Any]:
    ok = tally.statuses.get(200, 0)
    requests = sum(tally.statuses.values())
    ms = [value * 1000 for value in tally.latencies]
    return {
        **extra,
        "requests": requests,
        "ok": ok,
        "errors": requests - ok,
        "statuses": {str(k): v for k, v in tally.statuses.items()},
        "seconds": round(elapsed, 3),
        "per_second": round(ok / elapsed, 1) if elapsed > 0 else 0.0,
        "p50_ms": _round(percentile(ms, 0.50)),
        "p99_ms": _round(percentile(ms, 0.99)),
        "max_ms": _round(max(ms) if ms else None),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def receiver_parser(prog: str, description: str | None) -> argparse.ArgumentParser:
    """The arguments every load generator takes: the receiver's URL and its webhook secret."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("url")
    parser.add_argument("--secret", required=True)
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = receiver_parser("python -m bench.loadgen", __doc__)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    modes = parser.add_subparsers(dest="mode", required=True)
    sat = modes.add_parser("saturate")
    sat.add_argument("--concurrency", type=int, default=32)
    fixed = modes.add_parser("rate")
    fixed.add_argument("--rate", type=float, required=True)
    args = parser.parse_args(argv)
    deliveries = Deliveries(args.secret)
    if args.mode == "saturate":
        run = saturate(args.url, deliveries, args.concurrency, args.duration, args.warmup)
    else:
        run = fixed_rate(args.url, deliveries, args.rate, args.duration, args.warmup)
    print(json.dumps(asyncio.run(run)))


if __name__ == "__main__":
    main()
