"""Benchmark 1 (and 5): intake, the receiver beside a bare Flask route under the same gunicorn.

Each load runs `python -m bench.loadgen` in its own process: saturation (events/s), then fixed
rates (p50/p99 ack latency). The bare route gets the same loads first: its figures are the floor.
While intake is measured no Celery worker runs, so the receiver has the machine to itself; the
queue just fills. Afterwards the stored events are counted: every 200 must be a stored row.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from bench.report import Figure, at_least, at_most
from bench.stack import WEBHOOK_SECRET, receiver
from tests.harness.processes import ProcessGroup
from worker.db.models import Event
from worker.db.session import session_factory

LOADGEN_TIMEOUT_MARGIN = 60.0


@dataclass(frozen=True)
class IntakeSizes:
    duration: float = 10.0  # seconds measured per load
    warmup: float = 2.0
    concurrency: int = 16
    rates: tuple[int, ...] = (100, 500, 1000)


def load(url: str, mode: list[str], sizes: IntakeSizes) -> dict[str, Any]:
    args = [
        sys.executable, "-m", "bench.loadgen", url,
        "--secret", WEBHOOK_SECRET,
        "--duration", str(sizes.duration),
        "--warmup", str(sizes.warmup),
        *mode,
    ]  # fmt: skip
    timeout = sizes.duration + sizes.warmup + LOADGEN_TIMEOUT_MARGIN
    out = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"load generator failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout)


def measure(url: str, sizes: IntakeSizes) -> dict[str, dict[str, Any]]:
    results = {"saturate": load(url, ["saturate", "--concurrency", str(sizes.concurrency)], sizes)}
    for rate in sizes.rates:
        results[f"rate_{rate}"] = load(url, ["rate", "--rate", str(rate)], sizes)
    return results


def floor(run: ProcessGroup, env: dict[str, str], sizes: IntakeSizes) -> dict[str, dict[str, Any]]:
    """The bare route's figures under the receiver's gunicorn settings."""
    process_count = len(run.processes)
    url = receiver(run, env, bare=True)
    try:
        return measure(url, sizes)
    finally:
        for process in run.processes[process_count:]:
            run.stop(process)


def receiver_figures(
    run: ProcessGroup, env: dict[str, str], sizes: IntakeSizes, database_url: str
) -> dict[str, dict[str, Any]]:
    process_count = len(run.processes)
    url = receiver(run, env)
    try:
        results = measure(url, sizes)
    finally:
        for process in run.processes[process_count:]:
            run.stop(process)
    with session_factory(database_url)() as session:
        stored = session.scalar(select(func.count()).select_from(Event)) or 0
    results["saturate"]["stored_events_after_all_loads"] = stored
    results["saturate"]["ok_responses_all_loads"] = sum(r["ok"] for r in results.values())
    return results


def figures(
    bench: str,
    measured: dict[str, dict[str, Any]],
    bare: dict[str, dict[str, Any]],
    sizes: IntakeSizes,
    *,
    targets: bool = True,
) -> list[Figure]:
    """`targets=False` for the embedded default: the issue sets none for it."""
    sat, bare_sat = measured["saturate"], bare["saturate"]
    rate = sat["per_second"]
    floor_rate = bare_sat["per_second"]
    found = [
        Figure(
            bench,
            "events/s at saturation",
            rate,
            "ev/s",
            floor_rate,
            "bare route",
            "≥ 50 % of floor" if targets else "",
            at_least(rate / floor_rate if floor_rate else None, 0.5) if targets else None,
            detail={"receiver": sat, "bare": bare_sat},
        )
    ]
    for rate_per_s in sizes.rates:
        got, base = measured[f"rate_{rate_per_s}"], bare[f"rate_{rate_per_s}"]
        for stat in ("p50", "p99"):
            is_target = targets and stat == "p99" and rate_per_s == 500
            found.append(
                Figure(
                    bench,
                    f"{stat} ack at {rate_per_s}/s",
                    got[f"{stat}_ms"],
                    "ms",
                    base[f"{stat}_ms"],
                    "bare route",
                    "≤ 25 ms" if is_target else "",
                    at_most(got[f"{stat}_ms"], 25.0) if is_target else None,
                    detail={"receiver": got, "bare": base} if stat == "p99" else {},
                )
            )
    return found
