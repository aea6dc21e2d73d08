"""README's hands-on path, run as printed: `./scripts/run`'s `billing-worker run` on the embedded
default (a local stripe-mock for Stripe, no key set), the demo world, then every transcript of
"Send a test event", "Refunds and subscriptions", "Replay and backfill", "Trying a policy change
on the past" and "Thin events", compared with README.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from harness.processes import CLI, ProcessGroup, wait_http_ok
from running import event_count, run_steps
from transcripts import transcripts

SECTIONS = (
    "Send a test event",
    "Refunds and subscriptions",
    "Replay and backfill",
    "Trying a policy change on the past",
    "Thin events",
)


def test_readme_transcripts_run_as_printed_on_the_demo_world(
    tmp_path: Path, walkthrough_env: dict[str, str], processes: ProcessGroup
) -> None:
    env = walkthrough_env
    everything = processes.spawn(CLI + ["run"], env, "run.log")
    try:
        wait_http_ok(f"http://127.0.0.1:{env['PORT']}/healthz", timeout=180)
        steps = [step for title in SECTIONS for step in transcripts(title)]
        assert steps[0].command.endswith("billing-worker demo"), "README starts from the demo"
        run_steps(steps, env, tmp_path)
        # README: the demo's ids are fixed, so loading it again stores nothing new.
        before = event_count(Path(env["DATA_DIR"]))
        again = subprocess.run(
            CLI + ["demo"], env=env, cwd=tmp_path, capture_output=True, text=True
        )
        assert again.returncode == 0, again.stderr
        assert event_count(Path(env["DATA_DIR"])) == before
    finally:
        processes.stop(everything)
    log = (tmp_path / "run.log").read_text()
    assert "a local stripe-mock on http://127.0.0.1:" in log, log[-3000:]
