"""Keep N processing loops alive: restart one that died, replace one that went silent, stop all.

Each loop is its own process, forked from a supervisor that has imported everything and opened
nothing (no engine, no connection to inherit), so a replacement starts at once; it has a
heartbeat in shared memory that it touches before each event and each look at the event log.
A loop silent for `PROCESSING_STALL_SECONDS` is wedged (a hung call, a stopped process): it is
killed and a new one takes its partition from the event log, where nothing is ever lost.
SIGTERM or SIGINT stop every loop after its current event; one that does not stop in time is
killed. A loop whose supervisor is gone stops by itself, so none is ever orphaned.
With RECONCILE_INTERVAL_SECONDS set, the supervisor also forks a reconcile run when one is due.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from dataclasses import dataclass
from multiprocessing.context import ForkProcess
from multiprocessing.sharedctypes import Synchronized
from typing import Any

from worker.bootstrap import bootstrap
from worker.config import Settings, load_settings
from worker.embedded.loop import Partition, ProcessingLoop
from worker.logging import configure_logging
from worker.reconcile.schedule import ReconcileSchedule, run_scheduled

log = logging.getLogger(__name__)

CHECK_SECONDS = 0.5  # how often the supervisor looks at its loops
STOP_SECONDS = 5.0  # how long a loop may take to finish its event once asked to stop

_fork = multiprocessing.get_context("fork")


@dataclass
class Slot:
    """One partition's loop process and the heartbeat it writes (time.time(), shared)."""

    index: int
    process: ForkProcess | None = None
    heartbeat: Any = None  # Synchronized[float]


class Supervisor:
    def __init__(self, settings: Settings, concurrency: int) -> None:
        self.settings = settings
        self.concurrency = concurrency
        self.slots = [Slot(index) for index in range(concurrency)]
        self.stopping = threading.Event()
        self.reconcile = ReconcileSchedule(settings.reconcile_interval_seconds, time.monotonic())
        self.reconciler: ForkProcess | None = None

    def run(self) -> None:
        """Start the loops and watch them until SIGTERM or SIGINT; then stop them all."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self.stopping.set())
        log.info("processing %d partitions of the event log", self.concurrency)
        try:
            for slot in self.slots:
                self._start(slot)
            while not self.stopping.wait(CHECK_SECONDS):
                for slot in self.slots:
                    self._check(slot)
                self._reconcile_if_due()
        finally:
            self._stop_all()

    def _start(self, slot: Slot) -> None:
        slot.heartbeat = _fork.Value("d", time.time(), lock=False)
        slot.process = _fork.Process(
            target=_loop_main,
            args=(slot.index, self.concurrency, slot.heartbeat, os.getpid()),
            name=f"processing-loop-{slot.index}",
        )
        slot.process.start()

    def _check(self, slot: Slot) -> None:
        assert slot.process is not None
        if not slot.process.is_alive():
            log.warning(
                "processing loop %d exited (code %s); starting a new one",
                slot.index,
                slot.process.exitcode,
            )
            self._start(slot)
            return
        silent = time.time() - slot.heartbeat.value
        if silent > self.settings.processing_stall_seconds:
            log.error(
                "processing loop %d silent for %.0f s; replacing it (pid %s)",
                slot.index,
                silent,
                slot.process.pid,
            )
            slot.process.kill()
            slot.process.join()
            self._start(slot)

    def _reconcile_if_due(self) -> None:
        running = self.reconciler is not None and self.reconciler.is_alive()
        if self.reconcile.due(time.monotonic(), running):
            self.reconciler = _fork.Process(target=_reconcile_main, name="reconcile")
            self.reconciler.start()

    def _stop_all(self) -> None:
        running = [s.process for s in self.slots if s.process is not None and s.process.is_alive()]
        if self.reconciler is not None and self.reconciler.is_alive():
            running.append(self.reconciler)
        for process in running:
            os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        for process in running:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                log.warning("processing loop pid %s did not stop in time; killed", process.pid)
                process.kill()
                process.join()
        log.info("processing stopped")


def _loop_main(index: int, count: int, heartbeat: Synchronized, parent: int) -> None:
    """A loop process: its own runtime, its partition, until asked to stop or orphaned."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):  # Ctrl-C reaches the group: no traceback
        signal.signal(signum, lambda *_: stop.set())
    settings = load_settings()
    configure_logging(settings.log_level, verbose=settings.log_verbose)

    def beat() -> None:
        heartbeat.value = time.time()
        if os.getppid() != parent:  # the supervisor is gone: do not outlive it
            stop.set()

    loop = ProcessingLoop(bootstrap(settings), Partition(index, count), stop, beat)
    loop.run()


def _reconcile_main() -> None:
    """A scheduled reconcile run in its own process. SIGTERM ends it at once: the customer it
    was fixing rolls back whole, and the next run finds at Stripe what this one did there."""
    settings = load_settings()
    configure_logging(settings.log_level)
    run_scheduled(bootstrap(settings))
