"""Fixtures of the enforcement tests: a `BillingWorld` on the test database and stripe-mock,
and stripe-mocks whose pending invoice item is what a change in the customer portal leaves."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from billing_world import BillingWorld
from harness.servers import StripeMock, pending_proration_mock


@pytest.fixture(scope="module")
def credit_proration_mock() -> Iterator[StripeMock]:
    """stripe-mock whose pending invoice item is the credit a portal downgrade leaves."""
    with pending_proration_mock("ii_portal_credit", -2500, "cus_portal", "sub_portal") as server:
        yield server


@pytest.fixture(scope="module")
def charge_proration_mock() -> Iterator[StripeMock]:
    """stripe-mock whose pending invoice item is the charge a portal upgrade leaves."""
    with pending_proration_mock("ii_portal_charge", 10000, "cus_portal", "sub_portal") as server:
        yield server


@pytest.fixture
def world(make_settings, database_url: str, stripe_mock: StripeMock) -> Callable[..., BillingWorld]:
    def make(policy: str = "mittrik", mock: StripeMock | None = None) -> BillingWorld:
        settings = make_settings(database_url=database_url, billing_policy=policy)
        return BillingWorld.create(settings, (mock or stripe_mock).url)

    return make
