"""Development without a Stripe key: Stripe calls go to run's local stripe-mock, or fail at once
saying what to set, never to api.stripe.com with the placeholder key."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.config import Settings
from worker.errors import FinalError
from worker.stripe.client import build_client
from worker.stripe.gateway import StripeGateway
from worker.stripe.local import NO_STRIPE, URL_FILE, api_base, local_stripe


def settings(tmp_path: Path, **values: str) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path, **values)  # type: ignore[call-arg]


def test_with_the_placeholder_key_and_no_local_stripe_a_call_fails_at_once_saying_what_to_set(
    tmp_path: Path,
) -> None:
    gateway = StripeGateway(build_client(settings(tmp_path)), session=None, source_id="evt_1")  # type: ignore[arg-type]
    with pytest.raises(FinalError) as failed:
        gateway.price("price_anything")
    assert NO_STRIPE in str(failed.value)
    assert "STRIPE_API_KEY" in str(failed.value)


def test_commands_find_the_stripe_mock_run_started(tmp_path: Path) -> None:
    (tmp_path / URL_FILE).write_text("http://127.0.0.1:41234\n")
    assert api_base(settings(tmp_path)) == "http://127.0.0.1:41234"
    # A configured Stripe wins over the local one.
    configured = settings(tmp_path, stripe_api_base="http://127.0.0.1:12111")
    assert api_base(configured) == "http://127.0.0.1:12111"
    assert api_base(settings(tmp_path, stripe_api_key="sk_test_" + "a" * 24)) is None


def test_run_starts_no_stripe_mock_when_a_stripe_is_configured(tmp_path: Path) -> None:
    (tmp_path / URL_FILE).write_text("http://127.0.0.1:41234\n")  # left by a killed run
    assert local_stripe(settings(tmp_path, stripe_api_base="http://127.0.0.1:12111")) is None
    assert not (tmp_path / URL_FILE).exists()
    production = settings(
        tmp_path, app_env="production", stripe_webhook_secrets="whsec_x", stripe_api_key="sk_live_x"
    )
    assert local_stripe(production) is None
