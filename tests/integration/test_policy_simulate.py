"""`billing-worker policy simulate --policy FILE`: the stored past decided again under a proposed
policy, on a history built by the worker's own handlers and `refunds request` on the Stripe
double, with a known answer (tests/simulation_world.py)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from billing_world import BillingWorld
from simulation_world import (
    ADDONS_EXCLUDED,
    ANNUAL,
    ELEVEN_TWELFTHS,
    FRAUD_NO_LONGER_SUSPENDS,
    THIRTY_DAY_WINDOW,
    History,
    cli,
    cli_env,
    dmly_history,
    hours_ago,
    mittrik_history,
    proposed_file,
)
from stripe_double import StripeDouble

from worker.commands.policy_simulation import Simulation
from worker.db.models import RefundRequest
from worker.policy import load_policy


@pytest.fixture
def history(make_settings, double: StripeDouble, request: pytest.FixtureRequest):
    def make(policy: str, database_url: str) -> History:
        settings = make_settings(
            database_url=database_url, stripe_api_base=double.url, billing_policy=policy
        )
        world = BillingWorld.create(settings, double.url)
        build = mittrik_history if policy == "mittrik" else dmly_history
        return build(world, double)

    return make


def simulate(url: str, policy: str, tmp_path: Path, *args: str) -> tuple[int, str, str]:
    env = cli_env(tmp_path, DATABASE_URL=url, BILLING_POLICY=policy)
    done = cli(["policy", "simulate", *args], env, tmp_path)
    return done.returncode, done.stdout, done.stderr


def simulate_json(url: str, policy: str, tmp_path: Path, *changes: tuple[str, str]) -> dict:
    """The JSON report of `policy simulate` on `policy` changed by `changes`; it must succeed."""
    proposed = proposed_file(tmp_path, policy, *changes)
    code, out, err = simulate(url, policy, tmp_path, "--policy", str(proposed), "--format", "json")
    assert code == 0, err
    return json.loads(out)


def changed_ids(report: dict) -> list[str]:
    return [r["id"] for r in report["requests_changed"]]


def test_a_30_day_annual_window_flips_the_requests_denied_at_15_and_20_days(
    history, database_url: str, tmp_path: Path
) -> None:
    h = history("mittrik", database_url)
    proposed = proposed_file(tmp_path, "mittrik", THIRTY_DAY_WINDOW)

    code, out, err = simulate(database_url, "mittrik", tmp_path, "--policy", str(proposed))

    assert code == 0, err
    assert f"proposed:        mittrik 2025-04-10 ({proposed})" in out.splitlines()
    blocks = [line for line in out.splitlines() if line.startswith("rr_")]
    assert [b.split()[0] for b in blocks] == [h.requests["A-20"], h.requests["A-15"]]
    lines = out.splitlines()
    at = lines.index(blocks[0])
    assert lines[at + 1] == "  before  deny 0 usd (M1.annual)"
    assert lines[at + 2] == f"  after   approve {ELEVEN_TWELFTHS} usd (M1.annual, M3.partial)"
    assert "6 refund request(s) decided again, 2 differently" in lines
    # Before: A-6 alone is refunded; its own refund, made after it, never caps it.
    before, after = ELEVEN_TWELFTHS, 3 * ELEVEN_TWELFTHS
    assert (
        f"  usd  refunded {before} -> {after} (+{after - before}); proposed for review 0 -> 0"
        in lines
    )


def test_json_gives_the_same_answer_with_clauses_before_and_after(
    history, sqlite_url: str, tmp_path: Path
) -> None:
    h = history("mittrik", sqlite_url)
    report = simulate_json(sqlite_url, "mittrik", tmp_path, THIRTY_DAY_WINDOW)
    assert report["current"]["name"] == "mittrik"
    assert report["proposed"]["source"] == str(tmp_path / "proposed-mittrik.toml")
    assert changed_ids(report) == [h.requests["A-20"], h.requests["A-15"]]
    first = report["requests_changed"][0]
    assert first["before"] == {"outcome": "deny", "amount": 0, "clauses": ["M1.annual"]}
    assert first["after"] == {
        "outcome": "approve",
        "amount": ELEVEN_TWELFTHS,
        "clauses": ["M1.annual", "M3.partial"],
    }
    assert report["requests"] == {"decided": 6, "changed": 2}
    assert report["totals"] == [
        {
            "currency": "usd",
            "refunded_before": ELEVEN_TWELFTHS,
            "refunded_after": 3 * ELEVEN_TWELFTHS,
            "refunded_change": 2 * ELEVEN_TWELFTHS,
            "review_before": 0,
            "review_after": 0,
        }
    ]
    # The window changes no account: the disputes are decided as before.
    assert report["accounts"] == {"with_disputes": 3, "changed": 0}
    assert report["accounts_changed"] == [] and report["skipped"] == []


def test_fraud_no_longer_suspending_releases_the_one_account_held_for_fraud(
    history, sqlite_url: str, tmp_path: Path
) -> None:
    history("mittrik", sqlite_url)
    report = simulate_json(sqlite_url, "mittrik", tmp_path, FRAUD_NO_LONGER_SUSPENDS)
    assert report["accounts"] == {"with_disputes": 3, "changed": 1}
    [account] = report["accounts_changed"]
    assert account["customer"] == "cus_sim"
    assert (account["before"]["state"], account["after"]["state"]) == ("suspended", "active")
    assert account["before"]["clause"] == "M6.dispute" and len(account["before"]["disputes"]) == 1
    # The refund decisions do not move: the disputed payment stays denied (M6.dispute first).
    assert report["requests"] == {"decided": 6, "changed": 0}

    proposed = tmp_path / "proposed-mittrik.toml"  # the file simulate_json wrote
    code, out, _ = simulate(sqlite_url, "mittrik", tmp_path, "--policy", str(proposed))
    assert code == 0
    [line] = [line for line in out.splitlines() if line.startswith("cus_")]
    assert line.startswith("cus_sim  suspended -> active  (M6.dispute: dp_")
    assert "3 account(s) with disputes, 1 in another state" in out.splitlines()


def test_since_and_until_select_requests_by_when_they_were_received(
    history, sqlite_url: str, tmp_path: Path
) -> None:
    h = history("mittrik", sqlite_url)
    proposed = str(proposed_file(tmp_path, "mittrik", THIRTY_DAY_WINDOW))
    args = ["--policy", proposed, "--format", "json"]

    # A-20 alone was received 30 hours ago; every other request and dispute since.
    _, out, err = simulate(sqlite_url, "mittrik", tmp_path, *args, "--until", "24h")
    older = json.loads(out)
    assert (older["requests"], changed_ids(older)) == (
        {"decided": 1, "changed": 1},
        [h.requests["A-20"]],
    ), err
    assert older["totals"][0]["refunded_change"] == ELEVEN_TWELFTHS
    assert older["accounts"]["with_disputes"] == 0

    _, out, _ = simulate(sqlite_url, "mittrik", tmp_path, *args, "--since", hours_ago(24))
    newer = json.loads(out)
    assert newer["requests"] == {"decided": 5, "changed": 1}
    assert changed_ids(newer) == [h.requests["A-15"]]
    assert newer["period"]["since"] is not None and newer["accounts"]["with_disputes"] == 3

    code, _, err = simulate(
        sqlite_url, "mittrik", tmp_path, *args, "--since", "1h", "--until", "2h"
    )
    assert code == 2 and "since must be before until" in err


def test_a_new_dmly_exclusion_of_add_ons_takes_their_amount_off_the_approved_refund(
    history, sqlite_url: str, tmp_path: Path
) -> None:
    h = history("dmly", sqlite_url)
    report = simulate_json(sqlite_url, "dmly", tmp_path, ADDONS_EXCLUDED)
    [changed] = report["requests_changed"]
    assert changed["id"] == h.requests["D-AGENTS"]
    assert changed["before"] == {
        "outcome": "approve",
        "amount": 14500,
        "clauses": ["D2.monthly", "D2.window"],  # the add-on in full inside the window
    }
    assert changed["after"]["amount"] == 10000
    assert changed["after"]["clauses"] == ["D2.monthly", "D4.exclusions"]
    totals = report["totals"][0]
    assert (totals["refunded_before"], totals["refunded_after"]) == (24500, 20000)


def _rows(sqlite_file: Path) -> list[str]:
    with sqlite3.connect(sqlite_file) as db:
        return list(db.iterdump())


def test_it_reads_only_and_calls_no_stripe(
    history, sqlite_url: str, double: StripeDouble, tmp_path: Path
) -> None:
    history("mittrik", sqlite_url)
    sqlite_file = Path(sqlite_url.removeprefix("sqlite:///"))
    before, calls = _rows(sqlite_file), len(double.sent)
    proposed = proposed_file(tmp_path, "mittrik", THIRTY_DAY_WINDOW, FRAUD_NO_LONGER_SUSPENDS)

    code, _, err = simulate(sqlite_url, "mittrik", tmp_path, "--policy", str(proposed))

    assert code == 0, err
    assert _rows(sqlite_file) == before
    assert len(double.sent) == calls


def test_without_an_event_log_it_says_where_it_looked_and_creates_nothing(tmp_path: Path) -> None:
    proposed = proposed_file(tmp_path, "mittrik", THIRTY_DAY_WINDOW)
    env = cli_env(tmp_path)

    done = cli(["policy", "simulate", "--policy", str(proposed)], env, tmp_path)

    assert done.returncode == 1
    assert "no event log at" in done.stderr
    assert not (tmp_path / "data").exists()


def test_an_invalid_proposed_policy_exits_2_with_the_error_policy_show_gives(
    tmp_path: Path,
) -> None:
    broken = proposed_file(
        tmp_path, "mittrik", ("annual_window_hours = 336", "annual_window_hours = -1")
    )
    env = cli_env(tmp_path)

    shown = cli(["policy", "show", str(broken)], env, tmp_path)
    simulated = cli(["policy", "simulate", "--policy", str(broken)], env, tmp_path)

    assert simulated.returncode == shown.returncode == 2
    problem = shown.stderr.removeprefix("policy show: ")
    assert "annual_window_hours: must be a non-negative whole number of hours" in problem
    assert simulated.stderr == f"policy simulate: {problem}"
    assert not (tmp_path / "data").exists()  # refused before looking for the event log

    missing = cli(["policy", "simulate", "--policy", str(tmp_path / "nope.toml")], env, tmp_path)
    assert missing.returncode == 2 and "unknown policy" in missing.stderr
    no_option = cli(["policy", "simulate"], env, tmp_path)
    assert no_option.returncode == 2 and "Missing option '--policy'" in no_option.stderr


def test_the_stored_requests_are_left_as_they_were_decided(
    history, sqlite_url: str, tmp_path: Path
) -> None:
    """The history itself: what the simulation's known answer rests on."""
    h = history("mittrik", sqlite_url)
    with h.world.runtime.sessions() as session:
        status = {
            number: session.get_one(RefundRequest, rid).status for number, rid in h.requests.items()
        }
        amount = session.get_one(RefundRequest, h.requests["A-6"]).amount
    assert status == {
        "A-6": "refunded",
        "A-15": "denied",
        "A-20": "denied",
        "A-40": "denied",
        "M-2": "denied",
        "A-D": "denied",
    }
    assert amount == ANNUAL * 11 // 12


def test_pages_of_any_size_give_the_same_answer(history, sqlite_url: str, tmp_path: Path) -> None:
    """Keyset pages: a page boundary between two requests, or between two disputes of one
    account, neither skips nor repeats anything."""
    h = history("mittrik", sqlite_url)
    proposed = load_policy(
        proposed_file(tmp_path, "mittrik", THIRTY_DAY_WINDOW, FRAUD_NO_LONGER_SUSPENDS)
    )
    current, sessions = load_policy("mittrik"), h.world.runtime.sessions

    def answer(page_size: int) -> tuple[list[object], list[object]]:
        simulation = Simulation(sessions, current, proposed, page_size=page_size)
        return list(simulation.requests()), list(simulation.accounts())

    whole = answer(500)
    assert [r.request_id for r in whole[0]] == sorted(h.requests.values(), key=_received(h))
    assert len(whole[1]) == 3
    assert answer(1) == answer(2) == whole


def _received(h: History):
    by_id = {rid: h.received[number] for number, rid in h.requests.items()}
    return lambda rid: by_id[rid]


def test_a_connected_account_is_simulated_on_its_own_past_under_its_own_policy(
    history, sqlite_url: str, tmp_path: Path
) -> None:
    history("mittrik", sqlite_url)  # the platform's requests and disputes, under Mittrik
    proposed = proposed_file(tmp_path, "mittrik", THIRTY_DAY_WINDOW)
    env = cli_env(
        tmp_path,
        DATABASE_URL=sqlite_url,
        BILLING_POLICY="mittrik",
        BILLING_POLICY_BY_ACCOUNT="acct_1Other=dmly",
    )

    done = cli(
        ["policy", "simulate", "--policy", str(proposed), "--account", "acct_1Other"],
        env,
        tmp_path,
    )

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("policy in force: dmly ")  # the account's, not BILLING_POLICY
    assert "0 refund request(s) decided again, 0 differently" in lines  # none of the platform's
    assert not [line for line in lines if line.startswith("rr_")]
