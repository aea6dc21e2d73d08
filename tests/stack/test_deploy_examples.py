"""deploy/: the Prometheus scrape example, the alert rules and the Grafana dashboard refer only to
metrics the worker exports, under labels it sets, at the ports the compose file uses.

`promtool` (Debian's `prometheus` package, which scripts/install-services installs) checks the
files and runs the alert rules' unit tests (deploy/alerts_test.yml) too.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from compose_stack import ROOT, load_compose
from harness.servers import find_binary
from prometheus_client import generate_latest
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.parser import text_string_to_metric_families

from worker.db.session import session_factory
from worker.metrics import EventLogCollector, scrape_registry

DEPLOY = ROOT / "deploy"
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__range": "1h", "$__interval": "1m"}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    """Every series name the worker exports, with its label names (from a real scrape)."""
    from worker.db.migrate import upgrade

    url = f"sqlite:///{tmp_path_factory.mktemp('metrics') / 'billing.sqlite3'}"
    upgrade(url)
    text = generate_latest(scrape_registry([EventLogCollector(session_factory(url))])).decode()
    names: dict[str, set[str]] = {}
    from worker import metrics

    declared = {  # label names of metrics no process has recorded yet (no sample to read)
        m._name: set(m._labelnames)  # noqa: SLF001
        for m in vars(metrics).values()
        if isinstance(m, MetricWrapperBase)
    }
    for family in text_string_to_metric_families(text):
        if not family.name.startswith("billing_"):
            continue
        labels = declared.get(family.name, set()) | {
            key for sample in family.samples for key in sample.labels
        }
        for suffix in SUFFIXES[family.type]:
            names[family.name + suffix] = labels | ({"le"} if suffix == "_bucket" else set())
    return names


def expressions() -> list[tuple[str, str]]:
    """(where, PromQL) for every alert rule and dashboard panel query."""
    found = []
    for group in yaml.safe_load((DEPLOY / "alerts.yml").read_text())["groups"]:
        found += [(f"alert {rule['alert']}", rule["expr"]) for rule in group["rules"]]
    dashboard = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    for panel in dashboard["panels"]:
        found += [(f"panel {panel['title']}", t["expr"]) for t in panel.get("targets", [])]
    return found


def as_promql(expression: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expression = expression.replace(variable, value)
    return expression


def test_every_query_uses_exported_metrics_and_their_labels(exported: dict[str, set[str]]) -> None:
    assert len(expressions()) >= 15
    for where, expression in expressions():
        used = set(re.findall(r"\bbilling_[a-z_]+\b", expression))
        assert used, where
        assert used <= set(exported), f"{where}: unknown {used - set(exported)}"
        labels = set().union(*(exported[name] for name in used))
        grouped = re.findall(r"\bby \(([^)]*)\)", expression)
        selected = re.findall(r"(\w+)\s*!?=~?\s*\"", expression)
        for label in {g.strip() for group in grouped for g in group.split(",")} | set(selected):
            assert label in labels, f"{where}: label {label!r} not on {used}"


def test_alert_rules_cover_queue_lag_failed_events_and_signature_failures() -> None:
    rules = [
        r for g in yaml.safe_load((DEPLOY / "alerts.yml").read_text())["groups"] for r in g["rules"]
    ]
    by_name = {rule["alert"]: rule for rule in rules}
    assert "billing_queue_lag_seconds" in by_name["BillingQueueLagHigh"]["expr"]
    assert 'outcome="failed"' in by_name["BillingEventsFailing"]["expr"]
    assert (
        "billing_webhook_signature_failures_total"
        in by_name["BillingSignatureFailuresSpike"]["expr"]
    )
    for rule in rules:
        assert rule["labels"]["severity"] in ("page", "warning"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]


def test_scrape_example_targets_the_compose_services_ports() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    services = load_compose({})["services"]
    web = jobs["billing-web"]["dns_sd_configs"][0]
    assert web["names"] == ["web"] and web["port"] == int(services["web"]["environment"]["PORT"])
    worker = jobs["billing-worker"]["dns_sd_configs"][0]
    port = int(services["worker"]["environment"]["WORKER_METRICS_PORT"])
    assert worker["names"] == ["worker"] and worker["port"] == port


def test_dashboard_is_importable_grafana_json() -> None:
    dashboard: dict[str, Any] = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 36
    [variable] = dashboard["templating"]["list"]
    assert variable["type"] == "datasource" and variable["query"] == "prometheus"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        place = panel["gridPos"]
        assert place["x"] + place["w"] <= 24, panel["title"]
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]


def test_promtool_accepts_the_config_rules_and_dashboard_queries(tmp_path: Path) -> None:
    promtool = find_binary("promtool")  # MissingBinary says how to install it

    def check(*args: str) -> None:
        done = subprocess.run([promtool, *args], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr

    check("check", "config", str(DEPLOY / "prometheus.yml"))
    check("test", "rules", str(DEPLOY / "alerts_test.yml"))
    recorded = [
        {"record": f"dashboard:query_{n}", "expr": as_promql(expression)}
        for n, (_where, expression) in enumerate(expressions())
    ]
    queries = tmp_path / "dashboard_queries.yml"
    queries.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": recorded}]}))
    check("check", "rules", str(queries))
