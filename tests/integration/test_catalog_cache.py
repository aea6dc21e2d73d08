"""The catalog each worker process keeps (worker/catalog_cache.py): a product changed by an event
that another process handles is what this process's next invoice line is classified by."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from billing_world import BillingWorld, days_ago
from harness.processes import CLI
from harness.servers import StripeMock
from sqlalchemy import select

from worker import samples
from worker.catalog_cache import cached_product
from worker.db.models import PLATFORM, Event, InvoiceLine, Product
from worker.eventlog.intake import parse_event, store_event


def test_a_product_changed_in_another_process_classifies_this_processs_next_line(
    make_settings, pg_url: str, stripe_mock: StripeMock, tmp_path: Path
) -> None:
    settings = make_settings(database_url=pg_url)
    w = BillingWorld.create(settings, stripe_mock.url)
    w.customer("cus_cat", "cat@example.com")
    w.catalog(("price_seats", "addon", 1500, "month", "licensed"))
    assert _paid_line_category(w) == "addon"  # read once: now in this process's cache

    # Support sets the product's category in the Dashboard; another process handles the event.
    changed = samples.event("product.updated", samples.product("prod_for_price_seats", "plan"))
    store_event(w.runtime.sessions, parse_event(samples.body(changed)))
    env = dict(os.environ, DATABASE_URL=pg_url, BROKER_URL="memory://", DATA_DIR=str(tmp_path))
    replayed = subprocess.run(
        [*CLI, "events", "replay", changed["id"]], env=env, capture_output=True, text=True
    )
    assert replayed.returncode == 0, replayed.stderr

    assert _paid_line_category(w) == "plan"


def _paid_line_category(w: BillingWorld) -> str:
    paid_at = days_ago(1)
    line = samples.line(
        amount=1500, price="price_seats", period_start=paid_at, period_end=paid_at + 30 * 86400
    )
    invoice = samples.invoice_with_lines([line], customer="cus_cat", paid_at=paid_at)
    _event_id, status = w.deliver("invoice.paid", invoice)
    assert status == "processed"
    with w.runtime.sessions() as session:
        return session.scalars(
            select(InvoiceLine.category).where(InvoiceLine.invoice_id == invoice["id"])
        ).one()


def test_a_thin_catalog_event_handled_elsewhere_empties_this_processs_cache(
    make_settings, sqlite_url: str
) -> None:
    w = BillingWorld.create(make_settings(database_url=sqlite_url), "http://127.0.0.1:9")
    with w.runtime.sessions.begin() as session:
        session.add(Product(id="prod_cat", name="Seats", category="addon"))
    with w.runtime.sessions.begin() as session:
        assert cached_product(session, PLATFORM, "prod_cat").category == "addon"  # now cached

    # Another process handles a thin `v1.product.updated`: its handler writes the product and
    # counts an attempt on the event's row, in one transaction.
    thin = samples.thin_event(samples.event("product.updated", samples.product("prod_cat", "plan")))
    event_id = store_event(w.runtime.sessions, parse_event(samples.body(thin))).event_id
    with w.runtime.sessions.begin() as session:
        session.get(Product, (PLATFORM, "prod_cat")).category = "plan"
        session.get(Event, event_id).attempts += 1

    with w.runtime.sessions.begin() as session:
        assert cached_product(session, PLATFORM, "prod_cat").category == "plan"
