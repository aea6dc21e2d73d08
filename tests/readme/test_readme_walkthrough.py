"""The hands-on path, run as printed: `./scripts/run`'s `billing-worker run` on the embedded
default (a local stripe-mock for Stripe, no key set), the demo world, then every transcript of
README.md's first ten minutes; and, on a world of their own, the pages that continue from the
demo world in the order a reader meets them, compared with each page.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from harness.processes import CLI, ProcessGroup, wait_http_ok
from running import event_count, run_steps
from transcripts import DOCS, README, Source, steps_of

README_SOURCES: list[Source] = [(README, None)]
DOCS_SOURCES: list[Source] = [
    (DOCS / "getting-started.md", None),
    (DOCS / "refunds-and-subscriptions.md", None),
    (DOCS / "replay-and-backfill.md", None),
    (DOCS / "policies.md", None),
    (DOCS / "connect-and-thin-events.md", "Thin events"),
]


def walk_the_demo_world(
    sources: list[Source], tmp_path: Path, env: dict[str, str], processes: ProcessGroup
) -> None:
    everything = processes.spawn(CLI + ["run"], env, "run.log")
    try:
        wait_http_ok(f"http://127.0.0.1:{env['PORT']}/healthz", timeout=180)
        steps = steps_of(sources)
        assert steps[0].command.endswith("billing-worker demo"), "the path starts from the demo"
        run_steps(steps, env, tmp_path)
        # The demo's ids are fixed, so loading it again stores nothing new.
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


def test_readme_transcripts_run_as_printed_on_the_demo_world(
    tmp_path: Path, walkthrough_env: dict[str, str], processes: ProcessGroup
) -> None:
    walk_the_demo_world(README_SOURCES, tmp_path, walkthrough_env, processes)


def test_the_pages_transcripts_run_as_printed_on_the_demo_world(
    tmp_path: Path, walkthrough_env: dict[str, str], processes: ProcessGroup
) -> None:
    walk_the_demo_world(DOCS_SOURCES, tmp_path, walkthrough_env, processes)
