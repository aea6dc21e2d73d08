"""Transcripts of commands that need no running worker (a settings check), run as printed in a
new user's shell."""

from __future__ import annotations

from pathlib import Path

from running import run_steps
from transcripts import DOCS, Source, steps_of

SOURCES: list[Source] = [(DOCS / "configuration.md", None)]


def test_offline_transcripts_run_as_printed(
    tmp_path: Path, walkthrough_env: dict[str, str]
) -> None:
    steps = steps_of(SOURCES)
    assert steps, "the pages have transcripts"
    run_steps(steps, walkthrough_env, tmp_path, worker=False)
