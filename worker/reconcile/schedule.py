"""Reconcile on a timer, for the embedded default (no broker, so no Celery beat): the supervisor
of the processing loops asks `ReconcileSchedule` whether a run is due, and forks one process
for it (`run_scheduled`), one at a time. With a broker, Celery beat queues `tasks.reconcile`."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from worker.runtime import Runtime

log = logging.getLogger(__name__)

# The first run after start comes soon, not one whole interval later: a process restarted more
# often than its interval would otherwise never reconcile.
FIRST_RUN_AFTER_SECONDS = 60.0


class ReconcileSchedule:
    """When the next whole run is due (monotonic seconds); an interval of 0 schedules none."""

    def __init__(self, interval: float, now: float) -> None:
        self.interval = interval
        self.next_at = now + min(interval, FIRST_RUN_AFTER_SECONDS)

    def due(self, now: float, running: bool) -> bool:
        """Whether to start a run now; a run still going puts the next one off."""
        if not self.interval or running or now < self.next_at:
            return False
        self.next_at = now + self.interval
        return True


def run_scheduled(runtime: Runtime) -> dict[str, int]:
    """One whole run (RECONCILE_FIX says whether it fixes): its counts, also logged."""
    from worker.reconcile.run import reconcile

    report = reconcile(runtime, fix=runtime.settings.reconcile_fix)
    counts = {
        "customers": len(report.customers),
        "found": len(report.found),
        "changes": len(report.changes),
        "left": len(report.remaining),
        "not_done": len(report.errors),
    }
    log.info("reconcile run %s: %s", report.run_id, counts)
    return counts
