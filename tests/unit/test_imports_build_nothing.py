"""Importing the entry points builds nothing: the app, the Celery app and the runtime are made by
the factories each process calls (`create_app`, `celery -A worker.bootstrap:app`, the CLI)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

IMPORT_ALL = """
import importlib, pkgutil
import tasks, webhooks, worker.bootstrap
for package in (tasks, webhooks):
    for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        importlib.import_module(module.name)
"""


def import_all(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", IMPORT_ALL],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_importing_the_entry_points_reads_no_settings(tmp_path: Path) -> None:
    done = import_all({"DATA_DIR": str(tmp_path), "BILLING_POLICY": "no-such-policy"})
    assert done.returncode == 0, done.stderr  # load_settings would refuse this policy


def test_importing_the_entry_points_writes_no_file(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    done = import_all({"DATA_DIR": str(data_dir)})
    assert done.returncode == 0, done.stderr
    assert not data_dir.exists()  # load_settings would create it


def test_gunicorns_master_config_loads_neither_the_app_nor_its_metrics(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import sys, webhooks.gunicorn_conf; print(sorted(sys.modules))"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    loaded = set(done.stdout.split("'"))
    assert "webhooks.app" not in loaded
    assert "worker.metrics" not in loaded
    assert "prometheus_client" not in loaded
