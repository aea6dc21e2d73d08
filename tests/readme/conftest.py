"""Fixtures of the tests that run the transcripts of README.md and docs/."""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

import pytest
from harness.servers import find_binary, free_port

CHECKOUT = Path(__file__).resolve().parents[2]


@pytest.fixture
def walkthrough_env(tmp_path: Path) -> dict[str, str]:
    """A new user's shell in a fresh checkout: nothing configured but the ops token."""
    venv = Path(sys.executable).parent.parent
    (tmp_path / ".venv").symlink_to(venv)  # the pages call `.venv/bin/billing-worker` too
    (tmp_path / "docs").symlink_to(CHECKOUT / "docs")  # and names docs/examples/ files
    stripe_mock = Path(find_binary("stripe-mock", "~/go/bin/stripe-mock")).parent
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("STRIPE_", "DATABASE_", "BROKER_", "BILLING_", "OPS_"))
    }
    env.update(
        PATH=os.pathsep.join([str(venv / "bin"), env.get("PATH", ""), str(stripe_mock)]),
        PORT=str(free_port()),
        DATA_DIR=str(tmp_path / "data"),
        OPS_API_TOKEN=secrets.token_hex(16),
        LOG_LEVEL="INFO",
    )
    return env
