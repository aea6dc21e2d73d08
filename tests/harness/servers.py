"""Real Redis, PostgreSQL and stripe-mock servers on free loopback ports.

Shared by the test suite and the benchmarks. Each server is started from a binary on PATH (or
where its package puts it), is a context manager (started on entry, stopped and removed on exit),
and can be stopped and restarted on the same port, which the fault tests need. A missing binary
raises `MissingBinary` with the command that installs it: nothing skips a real part silently.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Self

from .processes import stop_process

STRIPE_MOCK_VERSION = "v0.203.0"
INSTALL_HINTS = {
    "redis-server": "apt-get install redis-server",
    "postgres": "apt-get install postgresql",
    "promtool": "apt-get install prometheus",
    "nginx": "apt-get install nginx",
    "stripe-mock": f"go install github.com/stripe/stripe-mock@{STRIPE_MOCK_VERSION} "
    "(and put $(go env GOPATH)/bin on PATH)",
}


class MissingBinary(RuntimeError):
    """A server binary is not installed; the message says how to install it."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def find_binary(name: str, *extra_globs: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for pattern in extra_globs:
        matches = sorted(glob.glob(os.path.expanduser(pattern)))
        if matches:
            return matches[-1]
    raise MissingBinary(f"{name} not found: install it with `{INSTALL_HINTS[name]}`")


class Server:
    """Started on entering a `with` block, stopped (and its files removed) on leaving it."""

    def start(self) -> None:
        raise NotImplementedError

    def remove(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.remove()
            raise
        return self

    def __exit__(self, *_exc_info: object) -> None:
        self.remove()


class ChildServer(Server):
    """A server that is a child process of ours, in a session of its own, on a free port."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def launch(self, *args: str, **output: int) -> None:
        """Start the binary with `args`, and wait until it listens."""
        self.process = subprocess.Popen([self.binary, *args], start_new_session=True, **output)
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, timeout=10)

    def remove(self) -> None:
        self.stop()


class RedisServer(ChildServer):
    def __init__(self) -> None:
        super().__init__(find_binary("redis-server"))

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.launch(
            *("--port", str(self.port), "--bind", "127.0.0.1", "--save", ""),
            *("--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"),
            stdout=subprocess.DEVNULL,
        )

    def emptied(self) -> str:
        """Its URL, running (a fault test may have stopped it) and holding nothing."""
        import redis

        if self.process is None or self.process.poll() is not None:
            self.start()
        redis.Redis.from_url(self.url).flushall()
        return self.url


# The test suite trades durability for speed; a benchmark of intake must pay for its commits.
FAST_UNSAFE = ("-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off")


class PostgresServer(Server):
    """A private cluster in a temporary directory; run as the `postgres` user when we are root.

    `durable=False` (the test suite) turns fsync and synchronous commit off; the benchmarks
    keep PostgreSQL's defaults, so a commit costs what it costs in production.
    """

    def __init__(self, *, durable: bool = False) -> None:
        self.bin_dir = Path(find_binary("postgres", "/usr/lib/postgresql/*/bin/postgres")).parent
        self.port = free_port()
        self.durable = durable
        self.base = Path(tempfile.mkdtemp(prefix="billing-worker-pg-"))
        self.data = self.base / "data"
        self.as_user: list[str] = []
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            self.as_user = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.base, "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8")

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            [*self.as_user, str(self.bin_dir / tool), *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        unsafe = "" if self.durable else " ".join(FAST_UNSAFE)
        options = (
            f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 {unsafe} "
            "-c max_connections=200"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.base / "server.log"),
            "-w",
            "start",
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(
            f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def create_owned_database(self, name: str, owner: str, password: str) -> str:
        """A fresh database owned by a login role, as a deployment's postgres service creates
        it: a URL to it then differs from a deployment's only in host and port."""
        import psycopg

        admin = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (owner,)).fetchone():
                conn.execute(f"CREATE ROLE \"{owner}\" LOGIN PASSWORD '{password}'")
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}" OWNER "{owner}"')
        return f"postgresql+psycopg://{owner}:{password}@127.0.0.1:{self.port}/{name}"

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.base, ignore_errors=True)


class StripeMock(ChildServer):
    """stripe-mock; `fixtures` overrides fields of its bundled fixtures (e.g. an invoice item
    that is a pending proration), so a scenario's objects come back as Stripe would send them."""

    def __init__(self, fixtures: dict[str, dict[str, object]] | None = None) -> None:
        super().__init__(
            find_binary("stripe-mock", "~/go/bin/stripe-mock", "/root/go/bin/stripe-mock")
        )
        self.fixtures = fixtures
        self._fixtures_dir: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        extra = ["-fixtures", self._fixtures_file()] if self.fixtures else []
        self.launch(
            # stripe-mock also opens HTTPS, on :12112 unless told: let the system pick, so a
            # stripe-mock already on this machine does not make ours exit at once.
            *("-http-addr", f"127.0.0.1:{self.port}", "-https-addr", "127.0.0.1:0", *extra),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        super().stop()
        if self._fixtures_dir:
            shutil.rmtree(self._fixtures_dir, ignore_errors=True)
            self._fixtures_dir = None

    def _fixtures_file(self) -> str:
        """stripe-mock's bundled fixtures (from the Go module cache) with our overrides."""
        cache = subprocess.run(["go", "env", "GOMODCACHE"], capture_output=True, text=True)
        bundled = (
            Path(cache.stdout.strip() or "~/go/pkg/mod").expanduser()
            / f"github.com/stripe/stripe-mock@{STRIPE_MOCK_VERSION}"
            / "embedded/openapi/fixtures3.json"
        )
        if not bundled.exists():
            raise MissingBinary(
                f"{bundled} not found: run `go mod download "
                f"github.com/stripe/stripe-mock@{STRIPE_MOCK_VERSION}`"
            )
        fixtures = json.loads(bundled.read_text())
        for resource, fields in (self.fixtures or {}).items():
            fixtures["resources"][resource].update(fields)
        self._fixtures_dir = tempfile.mkdtemp(prefix="stripe-mock-")
        path = Path(self._fixtures_dir) / "fixtures.json"
        path.write_text(json.dumps(fixtures))
        return str(path)


# When the portal change of `pending_proration_mock` was made: an hour before the suite began.
PORTAL_CHANGE_AT = int(time.time()) - 3600


def pending_proration_mock(
    item_id: str, amount: int, customer: str, subscription: str
) -> StripeMock:
    """stripe-mock whose pending invoice item is the proration a change in the customer portal
    leaves: a credit (amount < 0) after a downgrade, a charge after an upgrade, made at
    `PORTAL_CHANGE_AT` (its event must come then: a change's prorations start at its moment)."""
    return StripeMock(
        {
            "invoiceitem": {
                "id": item_id,
                "proration": True,
                "amount": amount,
                "customer": customer,
                "period": {"start": PORTAL_CHANGE_AT, "end": PORTAL_CHANGE_AT + 15 * 86400},
                "parent": {
                    "type": "subscription_details",
                    "subscription_details": {"subscription": subscription},
                },
            }
        }
    )
