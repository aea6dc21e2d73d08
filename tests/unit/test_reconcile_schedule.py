"""Reconcile on a timer: Celery beat queues `tasks.reconcile` every RECONCILE_INTERVAL_SECONDS,
the embedded supervisor asks `ReconcileSchedule`; 0 schedules nothing, and runs never overlap."""

from __future__ import annotations

from tasks.celery_app import create_celery
from tasks.names import RECONCILE
from worker.reconcile.schedule import FIRST_RUN_AFTER_SECONDS, ReconcileSchedule


def test_an_interval_of_0_never_runs() -> None:
    schedule = ReconcileSchedule(0, now=0)
    assert not any(schedule.due(t, running=False) for t in (0, 60, 10**9))


def test_the_first_run_comes_soon_then_one_each_interval_and_never_two_at_once() -> None:
    schedule = ReconcileSchedule(86400, now=1000)
    assert not schedule.due(1000 + FIRST_RUN_AFTER_SECONDS - 1, running=False)
    assert schedule.due(1000 + FIRST_RUN_AFTER_SECONDS, running=False)
    assert not schedule.due(1000 + FIRST_RUN_AFTER_SECONDS + 1, running=False)
    next_at = 1000 + FIRST_RUN_AFTER_SECONDS + 86400
    assert not schedule.due(next_at, running=True)  # the last run is still going
    assert schedule.due(next_at + 5, running=False)


def test_a_short_interval_runs_first_after_that_interval() -> None:
    schedule = ReconcileSchedule(10, now=0)
    assert not schedule.due(9, running=False) and schedule.due(10, running=False)


def test_beat_queues_reconcile_only_when_an_interval_is_set(make_settings) -> None:
    plain = create_celery(make_settings()).conf.beat_schedule
    assert [entry["task"] for entry in plain.values()] == ["tasks.sweep"]
    hourly = create_celery(make_settings(reconcile_interval_seconds=3600)).conf.beat_schedule
    assert hourly["reconcile"] == {
        "task": RECONCILE,
        "schedule": 3600,
        "options": {"expires": 3600},
    }


def test_the_embedded_supervisor_forks_one_reconcile_run_when_due(make_settings, monkeypatch):
    from worker.embedded import supervisor

    started: list = []

    class Forked:
        def __init__(self, target, name: str) -> None:
            self.target, self.name, self.alive = target, name, False
            started.append(self)

        def start(self) -> None:
            self.alive = True

        def is_alive(self) -> bool:
            return self.alive

    monkeypatch.setattr(supervisor._fork, "Process", Forked)
    watching = supervisor.Supervisor(make_settings(reconcile_interval_seconds=10), 1)
    watching.reconcile.next_at = 0  # due now
    watching._reconcile_if_due()
    watching._reconcile_if_due()  # the first is still running
    assert [(p.target, p.name) for p in started] == [(supervisor._reconcile_main, "reconcile")]
    started[0].alive = False
    watching.reconcile.next_at = 0
    watching._reconcile_if_due()
    assert len(started) == 2
