"""docs/reconcile.md's transcript, run as printed on the demo world: `billing-worker run` on the
embedded default (its local stripe-mock), the demo loaded, then the page's commands, which find
Cleo's suspended account drifted (stripe-mock keeps none of the worker's writes)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from harness.processes import CLI, ProcessGroup, wait_http_ok
from running import run_steps
from transcripts import DOCS, Source, steps_of

SOURCES: list[Source] = [(DOCS / "reconcile.md", None)]


def test_the_reconcile_page_runs_as_printed_on_the_demo_world(
    tmp_path: Path, walkthrough_env: dict[str, str], processes: ProcessGroup
) -> None:
    env = walkthrough_env
    everything = processes.spawn(CLI + ["run"], env, "run.log")
    try:
        wait_http_ok(f"http://127.0.0.1:{env['PORT']}/healthz", timeout=180)
        demo = subprocess.run(CLI + ["demo"], env=env, cwd=tmp_path, capture_output=True, text=True)
        assert demo.returncode == 0, demo.stderr
        assert "suspended: cus_cleo" in demo.stdout
        steps = steps_of(SOURCES)
        assert steps, "the page has a transcript"
        run_steps(steps, env, tmp_path)
    finally:
        processes.stop(everything)
