"""Start our own processes (receiver, Celery worker, `billing-worker run`) for end-to-end tests."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

CLI = [sys.executable, "-m", "worker.cli"]


def spawn(args: list[str], env: dict[str, str], cwd: Path, log_name: str) -> subprocess.Popen:
    log = open(cwd / log_name, "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(args, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def wait_http_ok(url: str, timeout: float = 30) -> None:
    def ok() -> bool:
        try:
            return requests.get(url, timeout=1).ok
        except requests.RequestException:
            return False

    wait_until(ok, timeout, f"{url} to answer")


def cli_json(args: list[str], env: dict[str, str], cwd: Path) -> Any:
    out = subprocess.run(CLI + args, env=env, cwd=cwd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout)
