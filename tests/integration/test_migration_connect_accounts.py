"""Migration 0005 (Stripe Connect) on SQLite and PostgreSQL: what was stored becomes the
platform's, and afterwards two accounts may hold objects of the same id."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from pathlib import Path

import pytest
from harness.servers import PostgresServer
from sqlalchemy import create_engine, insert, inspect, select, text
from sqlalchemy.orm import Session

from worker.db.migrate import upgrade
from worker.db.models import PLATFORM, Customer, Event, Invoice

AT = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'billing.sqlite3'}"
    postgres: PostgresServer = request.getfixturevalue("postgres_server")
    return postgres.create_database("m_" + secrets.token_hex(6))


def test_rows_stored_before_connect_become_the_platforms_and_accounts_then_never_mix(
    fresh_url: str,
) -> None:
    upgrade(fresh_url, "0004")
    engine = create_engine(fresh_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO customers (id, email, account_status, updated_at) "
                "VALUES ('cus_1', 'ana@example.com', 'active', :at)"
            ),
            {"at": AT.replace(tzinfo=None)},
        )
        conn.execute(
            text(
                "INSERT INTO events (id, type, created, livemode, account, payload, "
                "received_at, status, attempts) VALUES ('evt_1', 'customer.created', :at, "
                "false, NULL, '{}', :at, 'processed', 1)"
            ),
            {"at": AT.replace(tzinfo=None)},
        )

    upgrade(fresh_url)

    keys = inspect(engine).get_pk_constraint("customers")["constrained_columns"]
    assert keys == ["account", "id"]
    with Session(engine) as session, session.begin():
        assert session.get_one(Customer, (PLATFORM, "cus_1")).email == "ana@example.com"
        assert session.get_one(Event, "evt_1").account == PLATFORM
        # The same customer id on a connected account is another row, not a conflict.
        session.execute(
            insert(Customer).values(account="acct_1", id="cus_1", email="bo@example.com")
        )
        for account in (PLATFORM, "acct_1"):
            session.add(
                Invoice(
                    account=account,
                    id="in_1",
                    customer="cus_1",
                    status="paid",
                    currency="usd",
                    amount_paid=1000 if account else 2000,
                    state_created=AT,
                    event_id="evt_1",
                )
            )
    with Session(engine) as session:
        emails = dict(session.execute(select(Customer.account, Customer.email)).all())
        assert emails == {PLATFORM: "ana@example.com", "acct_1": "bo@example.com"}
        paid = dict(session.execute(select(Invoice.account, Invoice.amount_paid)).all())
        assert paid == {PLATFORM: 2000, "acct_1": 1000}
