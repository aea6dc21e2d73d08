"""Fixtures of the enforcement tests: a `BillingWorld` on the test database and stripe-mock."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from billing_world import BillingWorld
from harness.servers import StripeMock


@pytest.fixture
def world(make_settings, database_url: str, stripe_mock: StripeMock) -> Callable[..., BillingWorld]:
    def make(policy: str = "mittrik", mock: StripeMock | None = None) -> BillingWorld:
        settings = make_settings(database_url=database_url, billing_policy=policy)
        return BillingWorld.create(settings, (mock or stripe_mock).url)

    return make
