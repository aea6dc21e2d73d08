"""`--since` / `--until` as people type them: a moment out of range is a usage error (exit 2)
that says the bound, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_formats import cli


@pytest.mark.parametrize(
    ("option", "typed", "reason"),
    [
        ("--since", "99999999d", "a duration ago is at most 36500d (100 years)"),
        ("--since", "9" * 30 + "h", "a duration ago is at most 36500d (100 years)"),
        ("--until", "0001-01-01T00:00:00+01:00", "is outside the years 1 to 9999 in UTC"),
    ],
)
def test_events_replay_refuses_a_moment_out_of_range_saying_why(
    tmp_path: Path, option: str, typed: str, reason: str
) -> None:
    done = cli(["events", "replay", "--dry-run", option, typed], tmp_path)

    assert done.returncode == 2, done.stderr
    assert f"Invalid value for '{option}'" in done.stderr and reason in done.stderr
    assert "Traceback" not in done.stderr
