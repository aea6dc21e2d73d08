"""The "Stripe Connect" section of docs/connect-and-thin-events.md, run as printed: `billing-worker
run` with the settings the section shows (its Connect secret, a connected account's own policy),
then its transcript."""

from __future__ import annotations

import re
from pathlib import Path

from harness.processes import CLI, ProcessGroup, wait_http_ok
from running import run_steps
from transcripts import DOCS, Source, section_text, steps_of

PAGE, SECTION = DOCS / "connect-and-thin-events.md", "Stripe Connect"
SOURCES: list[Source] = [(PAGE, SECTION)]


def section_settings() -> dict[str, str]:
    """The `NAME=value` lines of the section's settings block."""
    text = section_text(PAGE.read_text(), SECTION)
    return dict(re.findall(r"^([A-Z_]+)=(\S+)$", text, re.M))


def test_connect_transcript_runs_as_printed(
    tmp_path: Path, walkthrough_env: dict[str, str], processes: ProcessGroup
) -> None:
    settings = section_settings()
    assert set(settings) == {"STRIPE_CONNECT_WEBHOOK_SECRETS", "BILLING_POLICY_BY_ACCOUNT"}
    env = walkthrough_env | settings
    everything = processes.spawn(CLI + ["run"], env, "run.log")
    try:
        wait_http_ok(f"http://127.0.0.1:{env['PORT']}/healthz", timeout=180)
        steps = steps_of(SOURCES)
        assert steps, "the section has a transcript"
        run_steps(steps, env, tmp_path)
    finally:
        processes.stop(everything)
