"""`python -m bench --only reconcile` at a small size: a whole `billing-worker reconcile` against
stripe-mock behind the rate-limited proxy, its calls counted by endpoint. No time is asserted;
the calls per customer are: what docs/reconcile.md states is what a run makes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.reconcile import STATED_CALLS_PER_CUSTOMER

REPO = Path(__file__).resolve().parents[2]
CUSTOMERS = 20  # --quick's size


@pytest.mark.services
def test_the_reconcile_bench_counts_the_stated_calls_per_customer(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", "reconcile", "--out", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    [written] = tmp_path.glob("bench-*.json")
    figures = {f["name"]: f for f in json.loads(written.read_text())["figures"]}
    assert set(figures) == {
        f"seconds, {CUSTOMERS} customers at 100/s",
        "Stripe calls per customer",
        "429s received",
        "customers not done",
    }
    run = figures[f"seconds, {CUSTOMERS} customers at 100/s"]
    assert run["value"] > 0 and run["floor"] == CUSTOMERS / 25  # one call an endpoint, 25/s
    assert run["detail"]["run"]["customers_checked"] == CUSTOMERS
    calls = figures["Stripe calls per customer"]
    assert calls["value"] == STATED_CALLS_PER_CUSTOMER
    assert calls["detail"]["calls_by_endpoint"] == {
        "GET /v1/charges": CUSTOMERS,
        "GET /v1/customers/{id}": CUSTOMERS,
        "GET /v1/subscriptions": CUSTOMERS,
    }
    assert figures["429s received"]["value"] == 0
    assert figures["customers not done"]["value"] == 0
    assert "| reconcile" in out.stdout
