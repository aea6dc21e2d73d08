"""Every benchmark at tiny sizes, so `python -m bench` cannot rot. No time is asserted: only that
each benchmark ran against real servers, produced its figures beside a floor and each target's
margin, and stopped everything it started. At these sizes its time goes to starting processes
(servers, gunicorn, Celery, each CLI command), not to measuring."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import targets

REPO = Path(__file__).resolve().parents[2]
EXPECTED = {
    "intake": {"events/s at saturation", "p50 ack at 100/s", "p99 ack at 100/s"},
    "embedded": {
        "events/s at saturation",
        "p50 ack at 100/s",
        "p99 ack at 100/s",
        "events/s drained, call-free",
        "s from last ack to drained, 12 burst",
    },
    "processing": {
        "events/s, mix with Stripe calls",
        "events/s, call-free mix",
        "p50 received→processed at 50/s",
        "p99 received→processed at 50/s",
    },
    "replay": {"seconds for 60 events", "peak RSS"},
    "decide": {"decisions/s, parsed facts", "decisions/s, JSON in and out"},
    "cli startup": {
        "--help",
        "decide FILE",
        "policy show mittrik",
        "config check",
        "events list (full runtime)",
    },
    "budget": {
        "seconds, 4 chargebacks at 25/s, paced",
        "429s received, paced",
        "events failed, paced",
        "task retries, paced",
        "seconds, 4 chargebacks at 25/s, unpaced",
        "429s received, unpaced",
        "events failed (+ unfinished), unpaced",
        "task retries, unpaced",
    },
    "reconcile": {
        "seconds, 20 customers at 100/s",
        "Stripe calls per customer",
        "429s received",
        "customers not done",
    },
}
# Counts of what went wrong: 0 is a figure too, and they have no floor.
COUNTS = {
    name for bench in ("budget", "reconcile") for name in EXPECTED[bench]
    if not name.startswith(("seconds", "Stripe calls"))
}  # fmt: skip


@pytest.mark.services
def test_every_benchmark_runs_at_tiny_sizes_and_writes_its_figures(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,  # the budget benchmark starts two Celery workers, each on a fresh database
    )
    assert out.returncode == 0, out.stderr[-4000:]
    [written] = tmp_path.glob("bench-*.json")
    document = json.loads(written.read_text())
    found: dict[str, set[str]] = {}
    for figure in document["figures"]:
        found.setdefault(figure["bench"], set()).add(figure["name"])
        if figure["name"] in COUNTS:
            assert figure["value"] is not None and figure["value"] >= 0, figure
            continue
        assert figure["value"] is not None and figure["value"] > 0, figure
        assert figure["floor"] is not None and figure["floor"] > 0, figure
    assert found == EXPECTED
    for figure in document["figures"]:
        if figure["target"]:  # every declared target is one the report reads, so it has a margin
            assert targets.parse(figure["target"]) is not None, figure
            assert figure["margin"].startswith(("met", "missed")), figure
    assert document["machine"]["cpus"] >= 1
    assert "| met / missed by " in out.stdout  # each target's margin, in the same table
    for bench in EXPECTED:
        assert f"| {bench}" in out.stdout  # the same figures, printed as one table
    [rate] = [f for f in document["figures"] if f["name"] == "events/s, mix with Stripe calls"]
    # 30 events: 10 disputes (pause_collection + customers.update), 10 downgrades (delete).
    assert rate["detail"]["mix"]["stripe_calls_audited"] == 30
    assert rate["detail"]["floor"]["stripe_calls_audited"] == 0
    [free] = [f for f in document["figures"] if f["name"] == "events/s, call-free mix"]
    assert free["detail"]["call_free"]["stripe_calls_audited"] == 0  # it is call-free
    [paced] = [f for f in document["figures"] if f["name"].endswith("chargebacks at 25/s, paced")]
    # 4 chargebacks, 4 calls each (the open invoices listed too), all through the proxy: the
    # wave was really processed.
    assert paced["detail"]["paced"]["calls_forwarded"] == 16
    assert paced["detail"]["paced"]["processed"] == 4
