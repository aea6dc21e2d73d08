"""A Stripe to talk to in development when no Stripe key is configured.

The default `STRIPE_API_KEY` is a placeholder: sent to api.stripe.com it is refused (or, offline,
retried until the event fails). So, in development with the placeholder and no `STRIPE_API_BASE`,
`billing-worker run` starts stripe-mock on a loopback port for its children and writes its
address to `DATA_DIR/local_stripe_url`, where commands run from another terminal (`refunds`,
`subscriptions`, `events replay`) find it. Without stripe-mock installed, every Stripe call fails
at once with a message saying what to set, instead of waiting on a host that never answers.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from worker.config import Settings

PLACEHOLDER_KEYS = ("", "sk_test_123")  # `.env.example`'s default: no Stripe account behind it
URL_FILE = "local_stripe_url"
INSTALL = "go install github.com/stripe/stripe-mock@latest"
NO_STRIPE = (
    "no Stripe to talk to: STRIPE_API_KEY is the placeholder sk_test_123 and no local "
    "stripe-mock is running; set STRIPE_API_KEY to your test key (sk_test_…), or "
    f"STRIPE_API_BASE to a stripe-mock, or install stripe-mock ({INSTALL}) and restart "
    "`billing-worker run`"
)


def wants_local_stripe(settings: Settings) -> bool:
    """Development with no Stripe account configured: the only case we stand in for Stripe."""
    return (
        settings.app_env == "development"
        and not settings.stripe_api_base
        and settings.stripe_api_key in PLACEHOLDER_KEYS
    )


def api_base(settings: Settings) -> str | None:
    """Where Stripe calls go: the configured base, `run`'s local stripe-mock, or None for
    Stripe itself (None also when no Stripe can answer: see `build_client`)."""
    if settings.stripe_api_base or not wants_local_stripe(settings):
        return settings.stripe_api_base or None
    recorded = settings.data_dir / URL_FILE
    return recorded.read_text().strip() if recorded.exists() else None


@dataclass
class LocalStripe:
    """A stripe-mock started for `run`; `stop()` ends it and forgets its address."""

    url: str
    process: subprocess.Popen[bytes]
    url_file: Path

    def env(self) -> dict[str, str]:
        return {"STRIPE_API_BASE": self.url}

    def stop(self) -> None:
        self.url_file.unlink(missing_ok=True)
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def find_stripe_mock() -> str | None:
    found = shutil.which("stripe-mock")
    if found:
        return found
    gopath = os.environ.get("GOPATH") or str(Path.home() / "go")
    candidate = Path(gopath) / "bin" / "stripe-mock"
    return str(candidate) if os.access(candidate, os.X_OK) else None


def local_stripe(settings: Settings) -> LocalStripe | None:
    """Start stripe-mock on a free loopback port when development has no Stripe account and
    stripe-mock is installed; None otherwise (a configured Stripe, or nothing to start)."""
    url_file = settings.data_dir / URL_FILE
    url_file.unlink(missing_ok=True)  # a stale address from a run that was killed
    binary = find_stripe_mock() if wants_local_stripe(settings) else None
    if binary is None:
        return None
    port = _free_port()
    process = subprocess.Popen(
        # Its HTTPS side listens too: let the system pick that port, so two never collide.
        [binary, "-http-addr", f"127.0.0.1:{port}", "-https-addr", "127.0.0.1:0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # Not waited for: stripe-mock reads its whole API description first (seconds on a busy
    # machine), and a call made meanwhile is a connection error, which is retried.
    url = f"http://127.0.0.1:{port}"
    url_file.write_text(url + "\n")
    return LocalStripe(url=url, process=process, url_file=url_file)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
