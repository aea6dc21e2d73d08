"""`python -m bench`: every benchmark in one run, one table, the same figures as JSON.

Starts its own Redis, PostgreSQL (durable: fsync and synchronous commit on) and stripe-mock on
loopback ports, our receiver and Celery workers as an operator runs them, and stops all of it at
the end. `--quick` runs each benchmark at tiny sizes (the test suite's smoke run): its figures
mean nothing.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from bench import (
    cli_startup,
    decide,
    docs_table,
    embedded,
    intake,
    processing,
    reconcile,
    replay,
    stripe_budget,
)
from bench.profile import Component, profile
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

FULL_RUN = (
    "40 to 55 minutes: the budget's 5,000-chargeback wave takes 10 of them paced, 10 to 21"
    " unpaced; reconcile's 10,000 customers at least 7"
)
BENCHMARKS = (
    "intake", "processing", "replay", "decide", "embedded", "budget", "reconcile", "cli",
)  # fmt: skip
# stripe-mock has no rate budget: benchmarks of our own code keep the budget's bookkeeping (one
# Redis or SQLite round trip per call) but set a limit that never makes a call wait. The
# `budget` benchmark measures pacing against a proxy that enforces Stripe's limit.
UNLIMITED = {
    "STRIPE_RATE_LIMIT": "100000",
    "STRIPE_ENDPOINT_RATE_LIMIT": "100000",
    "STRIPE_RATE_SHARE": "1",
}


def _product(pid: int, cmdline: str) -> bool:
    """Our product's processes: neither the bench itself nor its helpers (`python -m bench.…`)."""
    return pid != os.getpid() and "bench." not in cmdline


# What each benchmark's profile is of, when one of its targets is missed.
COMPONENTS = {
    "intake": Component("the receiver (gunicorn, its workers)", _product),
    "embedded": Component("`billing-worker worker` and `run` on SQLite", _product),
    "processing": Component("the Celery worker (its main process and children)", _product),
    "replay": Component("`billing-worker events replay` (and its --jobs processes)", _product),
    "budget": Component("the Celery worker (its main process and children)", _product),
    "decide": Component(
        "the engine, in the bench's own process", lambda pid, _: pid == os.getpid()
    ),
    "reconcile": Component("`billing-worker reconcile`", _product),
    "cli": Component("each command's cold process", _product, imports=True),
}
# A figure's `bench` label where it is not the benchmark's name.
BENCHMARK_OF = {"cli startup": "cli"}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def sizes_for(args: argparse.Namespace) -> dict[str, Any]:
    if args.quick:
        return {
            # A loaded machine answers nothing in the first half second: 1 s gets a figure.
            "intake": intake.IntakeSizes(duration=1.0, warmup=0.2, concurrency=4, rates=(100,)),
            "processing": processing.ProcessingSizes(
                events=30, rate=50.0, rate_seconds=0.6, timeout=60.0
            ),
            "replay": replay.ReplaySizes(events=60, customers=5, timeout=120.0),
            "decide": decide.DecideSizes(seconds=0.2),
            "embedded": embedded.EmbeddedSizes(events=12, concurrency=4, timeout=120.0),
            "budget": stripe_budget.BudgetSizes(chargebacks=4, timeout=120.0),
            "reconcile": reconcile.ReconcileSizes(customers=20, timeout=120.0),
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
        "reconcile": reconcile.ReconcileSizes(
            customers=args.reconcile_customers, limit=args.reconcile_limit
        ),
        "cli": cli_startup.CliSizes(runs=args.cli_runs),
    }


def profile_sizes(sizes: dict[str, Any]) -> dict[str, Any]:
    """A short pass of each benchmark, long enough for py-spy's top entries to settle."""
    return {
        "intake": replace(sizes["intake"], duration=5.0, warmup=1.0, rates=()),
        "processing": replace(
            sizes["processing"],
            events=min(sizes["processing"].events, 300),
            rate_seconds=min(sizes["processing"].rate_seconds, 2.0),
        ),
        "replay": replace(sizes["replay"], events=min(sizes["replay"].events, 5000)),
        "decide": replace(sizes["decide"], seconds=2.0),
        "embedded": replace(sizes["embedded"], events=min(sizes["embedded"].events, 300)),
        "budget": replace(sizes["budget"], chargebacks=min(sizes["budget"].chargebacks, 50)),
        "reconcile": replace(sizes["reconcile"], customers=min(sizes["reconcile"].customers, 500)),
        "cli": replace(sizes["cli"], runs=2, warmup=0),
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


def run_reconcile(
    run: ProcessGroup, svc: Services, sizes: reconcile.ReconcileSizes
) -> list[Figure]:
    """A whole `reconcile` over a fresh database's customers, against the limited proxy."""
    assert svc.stripe_mock is not None
    database_url = svc.database()
    measured = reconcile.measure(
        service_env(run.workdir), database_url, svc.stripe_mock.url, run.workdir, sizes, log
    )
    log(f"reconcile: {measured}")
    return reconcile.figures(measured, sizes)


def _flush_redis(svc: Services) -> None:
    """Intake left its doorbells in the queue; the workers must not start on those."""
    import redis

    assert svc.redis is not None
    redis.Redis.from_url(svc.redis.url).flushall()


def run_benchmarks(
    chosen: list[str],
    sizes: dict[str, Any],
    workdir: Path,
    *,
    bare: dict[str, Any] | None = None,
    profiles_in: Path | None = None,
) -> tuple[list[Figure], dict[str, Any], dict[str, Any]]:
    """Each chosen benchmark in turn: (figures, profiles, the bare route's floor).

    With `profiles_in`, each benchmark runs under py-spy: a pass for profiles, whose figures
    are not the run's (sampling costs CPU). `bare` reuses a floor already measured."""
    figures: list[Figure] = []
    profiles: dict[str, Any] = {}

    def each(name: str, measure: Callable[[], list[Figure]]) -> None:
        if profiles_in is None:
            figures.extend(measure())
            return
        found: list[Figure] = []
        log(f"profile: {name} under py-spy")
        try:
            sampled = asdict(profile(profiles_in / f"{name}.txt", COMPONENTS[name],
                                     lambda: found.extend(measure())))  # fmt: skip
        except Exception as error:  # noqa: BLE001 - a failed profile pass costs only its profile
            sampled = {"component": COMPONENTS[name].name, "error": repr(error)[:500]}
        sampled["sizes"] = _describe(sizes[name])
        for label in {figure.bench for figure in found} or {name}:
            profiles[label] = sampled

    needs_servers = set(chosen) & {
        "intake", "processing", "replay", "embedded", "budget", "reconcile",
    }  # fmt: skip
    if profiles_in is not None:
        profiles_in.mkdir(parents=True, exist_ok=True)
    if needs_servers:
        with (
            services(
                redis=bool(set(chosen) & {"intake", "processing", "budget"}),
                stripe_fixtures=processing.STRIPE_FIXTURES,
            ) as svc,
            run_dir(workdir) as run,
        ):
            if bare is None and set(chosen) & {"intake", "embedded"}:
                log("intake floor: bare Flask route under the receiver's gunicorn settings")
                bare = intake.floor(run, service_env(run.workdir), sizes["intake"])
            floor = bare or {}
            if "intake" in chosen:
                each("intake", lambda: run_intake(run, svc, sizes["intake"], floor))
            if "embedded" in chosen:
                each(
                    "embedded",
                    lambda: run_embedded(run, sizes["intake"], floor, sizes["embedded"]),
                )
            if "processing" in chosen:
                each("processing", lambda: run_processing(run, svc, sizes["processing"]))
            if "replay" in chosen:
                each("replay", lambda: run_replay(run, svc, sizes["replay"]))
            if "budget" in chosen:
                each("budget", lambda: run_budget(run, svc, sizes["budget"]))
            if "reconcile" in chosen:
                each("reconcile", lambda: run_reconcile(run, svc, sizes["reconcile"]))
    if "decide" in chosen:
        log("decide: in-process")
        each("decide", lambda: decide.figures(decide.measure(sizes["decide"])))
    if "cli" in chosen:
        log("cli startup: each command as a cold process")

        def cli() -> list[Figure]:
            started = cli_startup.measure(workdir / "cli", sizes["cli"])
            log(cli_startup.summary(started))
            return cli_startup.figures(started)

        each("cli", cli)
    return figures, profiles, bare or {}


def _describe(sizes: object) -> str:
    return "a pass of " + ", ".join(f"{k}={v}" for k, v in asdict(sizes).items())  # type: ignore[call-overload]


def missed_benchmarks(figures: list[Figure], chosen: list[str]) -> list[str]:
    missed = {
        BENCHMARK_OF.get(figure.bench, figure.bench)
        for figure in figures
        if figure.as_dict()["met"] is False  # a target's verdict, where the benchmark gave none
    }
    return [name for name in chosen if name in missed]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        epilog=f"The full run takes {FULL_RUN}.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, help="run only these")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per intake load")
    parser.add_argument("--processing-events", type=int, default=1500)
    parser.add_argument("--replay-events", type=int, default=100_000)
    parser.add_argument(
        "--replay-jobs", type=int, default=None, help="events replay --jobs (default: its own)"
    )
    parser.add_argument("--embedded-events", type=int, default=2000, help="the burst's size")
    parser.add_argument(
        "--chargebacks",
        type=int,
        default=stripe_budget.BudgetSizes.chargebacks,
        help="the budget's wave, 4 calls each (default %(default)s: 800 s at 25/s, paced)",
    )
    parser.add_argument(
        "--budget-limit", type=float, default=25.0, help="calls/s the budget's proxy allows"
    )
    parser.add_argument("--budget-concurrency", type=int, default=2, help="its Celery processes")
    parser.add_argument(
        "--reconcile-customers",
        type=int,
        default=reconcile.ReconcileSizes.customers,
        help="customers one reconcile compares (default %(default)s: 400 s at 25/s an endpoint)",
    )
    parser.add_argument(
        "--reconcile-limit", type=float, default=100.0, help="calls/s reconcile's proxy allows"
    )
    parser.add_argument("--cli-runs", type=int, default=10, help="cold starts per command")
    parser.add_argument(
        "--profile-misses",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="after the run, a short pass of each benchmark that missed a target under py-spy,"
        " its top entries in the results (default: on, off with --quick)",
    )
    parser.add_argument(
        "--write-docs",
        "--write-readme",
        dest="write_docs",
        action="store_true",
        help="render docs/performance.md's figures from this run (python -m bench.docs_table)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="where the JSON goes")
    parser.add_argument("--keep", action="store_true", help="keep the work directory and logs")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)  # unwind, so every server is stopped
    # Our processes compile their bytecode once, as an installed copy has it, not at every start.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    chosen = args.only or list(BENCHMARKS)
    sizes = sizes_for(args)
    profile_misses = not args.quick if args.profile_misses is None else args.profile_misses
    load_before = os.getloadavg()
    workdir = Path(tempfile.mkdtemp(prefix="billing-worker-bench-"))
    log(f"work directory {workdir}")
    try:
        figures, _, bare = run_benchmarks(chosen, sizes, workdir)
        load_after = os.getloadavg()
        profiles: dict[str, Any] = {}
        missed = missed_benchmarks(figures, chosen)
        if profile_misses and missed:
            log(f"targets missed by {', '.join(missed)}: a short pass of each under py-spy")
            _, profiles, _ = run_benchmarks(
                missed, profile_sizes(sizes), workdir / "profiled", bare=bare,
                profiles_in=workdir / "profiles",
            )  # fmt: skip
    finally:
        if args.keep:
            log(f"logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    settings = {
        "command": shlex.join(["python", "-m", "bench", *(sys.argv[1:] if argv is None else argv)]),
        "quick": args.quick,
        "benchmarks": chosen,
        "sizes": {name: asdict(value) for name, value in sizes.items()},
        "load_average_before": load_before,
        "load_average_after": load_after,
        "profile_misses": profile_misses,
        "load_generator": "python -m bench.loadgen (asyncio, aiohttp), its own process",
        "receiver": "billing-worker serve --workers 2 (gunicorn, webhooks/gunicorn_conf.py)",
        "celery": "billing-worker worker --concurrency 2",
        "postgresql": "durable (fsync, synchronous_commit on)",
    }
    path = write_json(figures, settings, args.out, profiles)
    print(table([figure.as_dict() for figure in figures]))
    print(f"\nfigures written to {path}")
    if args.write_docs:
        kept = docs_table.publish(path)
        print(f"docs/performance.md rendered from {kept}")
    return 0


def _stop_on_sigterm(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
