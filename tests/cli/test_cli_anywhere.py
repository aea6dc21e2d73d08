"""The command line from any directory: it starts without the heavy libraries it does not use,
looks for the event log where the worker keeps it (not in the current directory), creates
nothing when there is none, and says so in one line with what to do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HEAVY = {"stripe", "celery", "sqlalchemy", "flask"}
LOADED_AFTER = """
import sys
from worker.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print("MODULES", " ".join(sorted({name.split(".")[0] for name in sys.modules})))
"""


def env(**values: str) -> dict[str, str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_", "BROKER_", "DATA_DIR", "STRIPE_WEBHOOK"))
    }
    return {**base, "APP_ENV": "development", **values}


def cli(args: list[str], cwd: Path, **values: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worker.cli", *args],
        cwd=cwd,
        env=env(**values),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "args",
    [["--help"], ["-h"], ["policy", "show", "mittrik"], ["config", "check"], ["decide", "-h"]],
)
def test_offline_commands_import_neither_stripe_celery_sqlalchemy_nor_flask(
    args: list[str], tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", LOADED_AFTER, *args],
        cwd=tmp_path,
        env=env(DATA_DIR=str(tmp_path / "data")),
        capture_output=True,
        text=True,
        timeout=120,
    )
    [modules] = [line for line in done.stdout.splitlines() if line.startswith("MODULES ")]
    assert HEAVY.isdisjoint(modules.split()), modules


def test_every_command_answers_help_and_version(tmp_path: Path) -> None:
    for args in (["events", "list"], ["refunds", "approve"], ["config", "check"], ["run"]):
        helped = cli([*args, "-h"], tmp_path)
        assert helped.returncode == 0 and "Usage: billing-worker" in helped.stdout, helped.stderr
        version = cli([*args, "--version"], tmp_path)
        assert version.returncode == 0 and version.stdout.startswith("billing-worker, version ")


def test_from_another_directory_the_default_data_dir_is_the_checkouts(tmp_path: Path) -> None:
    done = cli(["config", "check", "--format", "json"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["DATA_DIR"] == str(REPO / "data")
    assert list(tmp_path.iterdir()) == []  # nothing written where the command was run


def test_a_relative_data_dir_is_the_checkouts_too(tmp_path: Path) -> None:
    done = cli(["config", "check", "--format", "json"], tmp_path, DATA_DIR="elsewhere")
    assert json.loads(done.stdout)["DATA_DIR"] == str(REPO / "elsewhere")


@pytest.mark.parametrize("args", [["events", "list"], ["refunds", "list"], ["events", "show", "x"]])
def test_no_event_log_is_one_line_exit_1_and_creates_nothing(
    args: list[str], tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    done = cli(args, tmp_path, DATA_DIR=str(data_dir))
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        f"Error: no event log at {data_dir / 'billing.sqlite3'}: start the worker with "
        "./scripts/run, or set DATA_DIR/DATABASE_URL"
    ]
    assert not data_dir.exists()


def test_an_empty_database_is_named_and_left_as_it_was(tmp_path: Path) -> None:
    empty = tmp_path / "empty.sqlite3"
    empty.touch()
    done = cli(["events", "list"], tmp_path, DATABASE_URL=f"sqlite:///{empty}")
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(f"Error: no event log at {empty} (the database has no tables)")
    assert "Traceback" not in done.stderr


def test_send_test_never_signs_with_a_secret_of_its_own(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    done = cli(["events", "send-test"], tmp_path, DATA_DIR=str(data_dir))
    assert done.returncode == 1
    assert f"no local webhook secret at {data_dir / 'webhook_secret'}" in done.stderr
    assert not data_dir.exists()
