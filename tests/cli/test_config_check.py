"""`billing-worker config check`: every problem at once; for scripts, values rather than prose."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def config_check(tmp_path: Path, *args: str, **values: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "DATABASE_"))}
    return subprocess.run(
        [sys.executable, "-m", "worker.cli", "config", "check", *args],
        env={**env, "DATA_DIR": str(tmp_path / "data"), **values},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    done = config_check(tmp_path, APP_ENV="production", BILLING_POLICY="mitrik", PORT="0")
    assert done.returncode == 1
    problems = [line for line in done.stderr.splitlines() if line.startswith("- ")]
    assert [line.split()[1].rstrip(":") for line in problems] == [
        "BILLING_POLICY",
        "PORT",
        "STRIPE_WEBHOOK_SECRETS",
        "STRIPE_API_KEY",
    ]


def test_json_gives_values_a_script_can_use(tmp_path: Path) -> None:
    done = config_check(
        tmp_path,
        "--format",
        "json",
        STRIPE_WEBHOOK_SECRETS="whsec_new_0123456789,whsec_old_0123456789",
        WEBHOOK_TOLERANCE_SECONDS="120",
        OPS_API_TOKEN="",
    )
    assert done.returncode == 0, done.stderr
    values = json.loads(done.stdout)
    assert values["WEBHOOK_TOLERANCE_SECONDS"] == 120
    assert values["PORT"] == 8000
    assert values["STRIPE_WEBHOOK_SECRETS"] == ["whsec_…", "whsec_…"]
    assert values["OPS_API_TOKEN"] is None
    assert values["DATA_DIR"] == str(tmp_path / "data")
    assert values["DATABASE_URL"] == f"sqlite:///{tmp_path / 'data' / 'billing.sqlite3'}"
    assert "0123456789" not in done.stdout
    assert not (tmp_path / "data").exists()  # checking creates nothing
