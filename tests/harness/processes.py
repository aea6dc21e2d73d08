"""Our own processes (receiver, Celery worker, `billing-worker run`, a compose service's command
line) as a test or a benchmark starts them, and the waits that go with them.

Each process leads its own process group (a new session): stopping it sends SIGTERM to it, so
gunicorn and Celery stop their children gracefully, then SIGKILL to the whole group for whatever
is left — a child of a killed parent included — so no run leaves an orphan behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import requests

CLI = [sys.executable, "-m", "worker.cli"]
STOP_TIMEOUT = 20.0  # a graceful stop of gunicorn or Celery finishes the requests in flight
# A bound for a hang, not a speed limit: on a loaded 2-core machine gunicorn's workers take
# tens of seconds to import the app.
STARTUP_TIMEOUT = 120.0

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float, what: str) -> T:
    """The predicate's first truthy result; fail after `timeout` seconds saying what was awaited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def wait_http_ok(
    url: str, timeout: float = 30, process: subprocess.Popen[bytes] | None = None
) -> None:
    """Wait for `url` to answer 2xx; with `process`, fail at once if that process exits."""

    def ok() -> bool:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"{process.args} exited with {process.returncode} before {url}")
        try:
            return requests.get(url, timeout=1).ok
        except requests.RequestException:
            return False

    wait_until(ok, timeout, f"{url} to answer")


def cli(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 60) -> str:
    """`billing-worker ARGS` to its end, which must be a success; its stdout."""
    done = subprocess.run(
        CLI + args, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"billing-worker {' '.join(args)}: {done.stderr}"
    return done.stdout


def cli_json(args: list[str], env: dict[str, str], cwd: Path) -> Any:
    """`billing-worker ARGS` to its end; its stdout as JSON."""
    return json.loads(cli(args, env, cwd))


def stop_process(process: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT) -> int:
    """SIGTERM, wait, then SIGKILL its process group; return its exit code."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    # Children outlive a parent that was killed (or that exited without waiting): end them too.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    return process.returncode


class ProcessGroup:
    """The processes one test or benchmark run started, their logs in `workdir`."""

    def __init__(self, workdir: Path, *, cwd: Path | None = None) -> None:
        self.workdir = workdir
        self.cwd = cwd or workdir
        self.processes: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> ProcessGroup:
        self.workdir.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(self, *_exc_info: object) -> None:
        self.stop_all()

    def spawn(self, args: list[str], env: dict[str, str], log_name: str) -> subprocess.Popen[bytes]:
        with open(self.workdir / log_name, "ab") as log:  # the child keeps its own descriptor
            process = subprocess.Popen(
                args,
                env=env,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append(process)
        return process

    def receiver(
        self, env: dict[str, str], *, workers: int = 2, log_name: str = "serve.log"
    ) -> subprocess.Popen[bytes]:
        """`billing-worker serve` (gunicorn) on env's PORT, once its /healthz answers."""
        process = self.spawn([*CLI, "serve", "--workers", str(workers)], env, log_name)
        wait_http_ok(self._healthz(env), timeout=STARTUP_TIMEOUT, process=process)
        return process

    def worker(
        self, env: dict[str, str], *, concurrency: int = 2, log_name: str = "worker.log"
    ) -> subprocess.Popen[bytes]:
        """`billing-worker worker` (Celery); it takes tasks once it has connected."""
        return self.spawn([*CLI, "worker", "--concurrency", str(concurrency)], env, log_name)

    def all_in_one(self, env: dict[str, str], log_name: str = "run.log") -> subprocess.Popen[bytes]:
        """`billing-worker run` (receiver, worker and beat in one), once its /healthz answers."""
        process = self.spawn([*CLI, "run"], env, log_name)
        wait_http_ok(self._healthz(env), timeout=STARTUP_TIMEOUT, process=process)
        return process

    @staticmethod
    def _healthz(env: dict[str, str]) -> str:
        return f"http://127.0.0.1:{env['PORT']}/healthz"

    def stop(self, process: subprocess.Popen[bytes]) -> int:
        code = stop_process(process)
        if process in self.processes:
            self.processes.remove(process)
        return code

    def stop_all(self) -> None:
        """SIGTERM all at once (each graceful stop takes a while), then wait for each."""
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in reversed(list(self.processes)):
            self.stop(process)

    def logs(self, prefix: str = "") -> str:
        return "\n".join(
            path.read_text(errors="replace") for path in sorted(self.workdir.glob(f"{prefix}*.log"))
        )
