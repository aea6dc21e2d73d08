"""Stripe Connect at the command line: `--account acct_…` (or `platform`) narrows a listing to one
account, and a connected account's rows show it; anything else is refused naming the option."""

from __future__ import annotations

import json
from pathlib import Path

from test_formats import cli

from worker import samples
from worker.db.migrate import upgrade
from worker.db.session import session_factory
from worker.eventlog.intake import parse_event, store_event

CONNECTED = "acct_1ListMe"


def stored_events(tmp_path: Path) -> dict[str, str]:
    """One platform event and one of a connected account: {account or 'platform': id}."""
    url = f"sqlite:///{tmp_path / 'data' / 'billing.sqlite3'}"
    upgrade(url)
    ids = {}
    for account in (CONNECTED, None):
        evt = samples.invoice_paid_event(customer="cus_same")
        if account:
            evt["account"] = account
        store_event(session_factory(url), parse_event(samples.body(evt)))
        ids[account or "platform"] = evt["id"]
    return ids


def test_events_list_filters_by_account_and_shows_a_connected_accounts(tmp_path: Path) -> None:
    ids = stored_events(tmp_path)

    every = cli(["events", "list"], tmp_path)
    assert every.returncode == 0, every.stderr
    rows = {line.split()[0]: line.split() for line in every.stdout.splitlines()[1:]}
    assert rows[ids[CONNECTED]][-1] == CONNECTED
    assert CONNECTED not in rows[ids["platform"]]

    for account, wanted in ((CONNECTED, CONNECTED), ("platform", None)):
        listed = cli(["events", "list", "--account", account, "--format", "json"], tmp_path)
        assert listed.returncode == 0, listed.stderr
        records = json.loads(listed.stdout)
        assert [(r["id"], r["account"]) for r in records] == [(ids[account], wanted)]


def test_an_account_that_is_not_one_is_refused_naming_the_option(tmp_path: Path) -> None:
    stored_events(tmp_path)
    for command in (["events", "list"], ["refunds", "list"], ["events", "replay"]):
        refused = cli([*command, "--account", "cus_same"], tmp_path)
        assert refused.returncode == 2
        assert "--account" in refused.stderr and "'cus_same' is not a Stripe account" in (
            refused.stderr
        )


def test_events_list_selects_as_replay_does_by_customer_and_time(tmp_path: Path) -> None:
    stored_events(tmp_path)
    url = f"sqlite:///{tmp_path / 'data' / 'billing.sqlite3'}"
    other = samples.invoice_paid_event(customer="cus_other")
    store_event(session_factory(url), parse_event(samples.body(other)))

    def listed(*filters: str) -> list[str]:
        shown = cli(["events", "list", *filters, "--format", "json"], tmp_path)
        assert shown.returncode == 0, shown.stderr
        return [record["id"] for record in json.loads(shown.stdout)]

    assert listed("--customer", "cus_other") == [other["id"]]
    assert listed("--customer", "cus_other", "--until", "1h") == []
    assert len(listed("--since", "1h")) == 3


def test_a_window_that_ends_before_it_starts_is_refused_by_list_and_replay(tmp_path: Path) -> None:
    stored_events(tmp_path)
    for command in (["events", "list"], ["events", "replay"]):
        refused = cli([*command, "--since", "1h", "--until", "2h"], tmp_path)
        assert refused.returncode == 2
        assert "since must be before until" in refused.stderr
