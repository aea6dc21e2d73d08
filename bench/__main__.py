"""`python -m bench`: every benchmark in one run, one table, the same figures as JSON.

Starts its own Redis, PostgreSQL (durable: fsync and synchronous commit on) and stripe-mock on
loopback ports, our receiver and Celery workers as an operator runs them, and stops all of it at
the end. `--quick` runs each benchmark at tiny sizes (the test suite's smoke run): its figures
mean nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from bench import cli_startup, decide, embedded, intake, processing, replay, stripe_budget
from bench.report import RESULTS_DIR, Figure, table, write_json
from bench.stack import (
    REPO,
    WEBHOOK_SECRET,
    Services,
    celery_worker,
    run_dir,
    service_env,
    services,
)
from tests.harness.processes import CLI, ProcessGroup
from worker.config import Settings

BENCHMARKS = ("intake", "processing", "replay", "decide", "embedded", "budget", "cli")
# stripe-mock has no rate budget: benchmarks of our own code keep the budget's bookkeeping (one
# Redis or SQLite round trip per call) but set a limit that never makes a call wait. The
# `budget` benchmark measures pacing against a proxy that enforces Stripe's limit.
UNLIMITED = {
    "STRIPE_RATE_LIMIT": "100000",
    "STRIPE_ENDPOINT_RATE_LIMIT": "100000",
    "STRIPE_RATE_SHARE": "1",
}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def sizes_for(args: argparse.Namespace) -> dict[str, Any]:
    if args.quick:
        return {
            "intake": intake.IntakeSizes(duration=0.5, warmup=0.1, concurrency=4, rates=(100,)),
            "processing": processing.ProcessingSizes(
                events=30, rate=50.0, rate_seconds=0.6, timeout=60.0
            ),
            "replay": replay.ReplaySizes(events=300, customers=5, timeout=120.0),
            "decide": decide.DecideSizes(seconds=0.2),
            "embedded": embedded.EmbeddedSizes(events=40, concurrency=4, timeout=120.0),
            "budget": stripe_budget.BudgetSizes(chargebacks=10, timeout=120.0),
            "cli": cli_startup.CliSizes(runs=1, warmup=0),
        }
    return {
        "intake": intake.IntakeSizes(duration=args.duration),
        "processing": processing.ProcessingSizes(events=args.processing_events),
        "replay": replay.ReplaySizes(events=args.replay_events, jobs=args.replay_jobs),
        "decide": decide.DecideSizes(),
        "embedded": embedded.EmbeddedSizes(events=args.embedded_events),
        "budget": stripe_budget.BudgetSizes(
            chargebacks=args.chargebacks,
            limit=args.budget_limit,
            concurrency=args.budget_concurrency,
        ),
        "cli": cli_startup.CliSizes(runs=args.cli_runs),
    }


def settings_for(run: ProcessGroup, svc: Services, database_url: str) -> Settings:
    assert svc.stripe_mock is not None
    # `--only replay` starts no Redis: the replay needs no broker, the default one will do.
    broker = {"broker_url": svc.redis.url} if svc.redis is not None else {}
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        **broker,
        stripe_api_base=svc.stripe_mock.url,
        data_dir=run.workdir / "data",
        stripe_webhook_secrets=[WEBHOOK_SECRET],
    )


def run_intake(
    run: ProcessGroup, svc: Services, sizes: intake.IntakeSizes, bare: dict
) -> list[Figure]:
    assert svc.redis is not None
    database_url = svc.database()
    env = service_env(run.workdir, DATABASE_URL=database_url, BROKER_URL=svc.redis.url)
    log("intake: receiver on PostgreSQL + Redis")
    measured = intake.receiver_figures(run, env, sizes, database_url)
    return intake.figures("intake", measured, bare, sizes)


def run_embedded(
    run: ProcessGroup,
    sizes: intake.IntakeSizes,
    bare: dict,
    processing_sizes: embedded.EmbeddedSizes,
) -> list[Figure]:
    """The default with nothing configured: SQLite under DATA_DIR, no broker."""
    workdir = run.workdir / "embedded"
    workdir.mkdir(exist_ok=True)
    env = service_env(workdir)
    subprocess.run([*CLI, "db", "upgrade"], env=env, cwd=REPO, check=True, capture_output=True)
    log("embedded: receiver on SQLite, no broker")
    embedded_sizes = replace(sizes, rates=sizes.rates[:1])
    database_url = f"sqlite:///{(workdir / 'data' / 'billing.sqlite3').resolve()}"
    measured = intake.receiver_figures(run, env, embedded_sizes, database_url)
    found = intake.figures("embedded", measured, bare, embedded_sizes, targets=False)
    log(f"embedded: {processing_sizes.events:,} call-free events, drained by `worker`")
    drained = embedded.measure_drain(run, service_env(workdir), processing_sizes)
    floor = embedded.measure_drain(run, service_env(workdir), processing_sizes, no_handler=True)
    log(f"embedded: {processing_sizes.events:,} posted to `billing-worker run`, until drained")
    burst = embedded.measure_burst(run, service_env(workdir), processing_sizes)
    return found + embedded.figures(drained, floor, burst, processing_sizes)


def run_processing(
    run: ProcessGroup, svc: Services, sizes: processing.ProcessingSizes
) -> list[Figure]:
    assert svc.redis is not None and svc.stripe_mock is not None
    database_url = svc.database()
    env = service_env(
        run.workdir,
        DATABASE_URL=database_url,
        BROKER_URL=svc.redis.url,
        STRIPE_API_BASE=svc.stripe_mock.url,
        **UNLIMITED,
    )
    _flush_redis(svc)
    worker = celery_worker(run, env)
    try:
        proc = processing.Processing(settings_for(run, svc, database_url))
        measured = processing.measure(proc, sizes, log)
    finally:
        run.stop(worker)
    return processing.figures(measured, sizes)


def run_replay(run: ProcessGroup, svc: Services, sizes: replay.ReplaySizes) -> list[Figure]:
    assert svc.stripe_mock is not None
    database_url = svc.database()
    env = service_env(
        run.workdir, DATABASE_URL=database_url, STRIPE_API_BASE=svc.stripe_mock.url, **UNLIMITED
    )
    log(f"replay: seeding {sizes.events:,} processed events")
    replay.seed(settings_for(run, svc, database_url), sizes)
    log(f"replay: events replay --all --jobs {sizes.jobs or 'default'}, then the floor")
    return replay.figures(replay.measure(env, sizes))


def run_budget(run: ProcessGroup, svc: Services, sizes: stripe_budget.BudgetSizes) -> list[Figure]:
    """The chargeback wave paced by our budget, then unpaced, each on a fresh database."""
    assert svc.redis is not None and svc.stripe_mock is not None
    measured = {}
    for paced in (True, False):
        database_url = svc.database()
        env = service_env(run.workdir, DATABASE_URL=database_url, BROKER_URL=svc.redis.url)
        _flush_redis(svc)

        def start_worker(extra: dict[str, str], env: dict[str, str] = env):  # noqa: ANN202
            worker = celery_worker(run, {**env, **extra}, sizes.concurrency)
            return lambda: run.stop(worker)

        measured[paced] = stripe_budget.measure_once(
            settings_for(run, svc, database_url), svc.stripe_mock.url, start_worker, sizes,
            paced, log,
        )  # fmt: skip
        log(f"budget: {measured[paced]}")
    return stripe_budget.figures(measured[True], measured[False], sizes)


def _flush_redis(svc: Services) -> None:
    """Intake left its doorbells in the queue; the workers must not start on those."""
    import redis

    assert svc.redis is not None
    redis.Redis.from_url(svc.redis.url).flushall()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, help="run only these")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per intake load")
    parser.add_argument("--processing-events", type=int, default=1500)
    parser.add_argument("--replay-events", type=int, default=100_000)
    parser.add_argument(
        "--replay-jobs", type=int, default=None, help="events replay --jobs (default: its own)"
    )
    parser.add_argument("--embedded-events", type=int, default=2000, help="the burst's size")
    parser.add_argument("--chargebacks", type=int, default=500, help="the budget's wave")
    parser.add_argument(
        "--budget-limit", type=float, default=25.0, help="calls/s the budget's proxy allows"
    )
    parser.add_argument("--budget-concurrency", type=int, default=2, help="its Celery processes")
    parser.add_argument("--cli-runs", type=int, default=10, help="cold starts per command")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="where the JSON goes")
    parser.add_argument("--keep", action="store_true", help="keep the work directory and logs")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)  # unwind, so every server is stopped
    chosen = args.only or list(BENCHMARKS)
    sizes = sizes_for(args)
    figures: list[Figure] = []
    load_before = os.getloadavg()
    workdir = Path(tempfile.mkdtemp(prefix="billing-worker-bench-"))
    log(f"work directory {workdir}")
    needs_servers = set(chosen) & {"intake", "processing", "replay", "embedded", "budget"}
    try:
        if needs_servers:
            with (
                services(
                    redis=bool(set(chosen) & {"intake", "processing", "budget"}),
                    stripe_fixtures=processing.STRIPE_FIXTURES,
                ) as svc,
                run_dir(workdir) as run,
            ):
                bare: dict = {}
                if set(chosen) & {"intake", "embedded"}:
                    env = service_env(run.workdir)
                    log("intake floor: bare Flask route under the receiver's gunicorn settings")
                    bare = intake.floor(run, env, sizes["intake"])
                if "intake" in chosen:
                    figures += run_intake(run, svc, sizes["intake"], bare)
                if "embedded" in chosen:
                    figures += run_embedded(run, sizes["intake"], bare, sizes["embedded"])
                if "processing" in chosen:
                    figures += run_processing(run, svc, sizes["processing"])
                if "replay" in chosen:
                    figures += run_replay(run, svc, sizes["replay"])
                if "budget" in chosen:
                    figures += run_budget(run, svc, sizes["budget"])
        if "decide" in chosen:
            log("decide: in-process")
            figures += decide.figures(decide.measure(sizes["decide"]))
        if "cli" in chosen:
            log("cli startup: each command as a cold process")
            started = cli_startup.measure(workdir / "cli", sizes["cli"])
            log(cli_startup.summary(started))
            figures += cli_startup.figures(started)
    finally:
        if args.keep:
            log(f"logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    settings = {
        "quick": args.quick,
        "benchmarks": chosen,
        "sizes": {name: asdict(value) for name, value in sizes.items()},
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "load_generator": "python -m bench.loadgen (asyncio, aiohttp), its own process",
        "receiver": "billing-worker serve --workers 2 (gunicorn, webhooks/gunicorn_conf.py)",
        "celery": "billing-worker worker --concurrency 2",
        "postgresql": "durable (fsync, synchronous_commit on)",
    }
    path = write_json(figures, settings, args.out)
    print(table(figures))
    print(f"\nfigures written to {path}")
    return 0


def _stop_on_sigterm(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
