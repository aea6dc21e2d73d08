"""The Stripe client built from STRIPE_API_BASE reaches stripe-mock and reads real objects."""

from __future__ import annotations

import stripe
from harness.servers import StripeMock, free_port

from worker.errors import FinalError, RetryableError
from worker.stripe.client import build_client
from worker.stripe.retry import classify


def test_client_from_settings_reaches_stripe_mock_and_gets_a_customer(
    make_settings, stripe_mock: StripeMock
) -> None:
    client = build_client(
        make_settings(stripe_api_base=stripe_mock.url, stripe_api_key="sk_test_123")
    )
    customer = client.v1.customers.retrieve("cus_smoke")
    assert customer.object == "customer"
    assert customer.id == "cus_smoke"  # stripe-mock echoes the id it was asked for


def test_invalid_parameters_are_a_final_error(make_settings, stripe_mock: StripeMock) -> None:
    client = build_client(make_settings(stripe_api_base=stripe_mock.url))
    try:
        client.v1.refunds.create({"charge": "ch_1", "amount": "not-a-number"})  # type: ignore[typeddict-item]
    except stripe.InvalidRequestError as exc:
        assert isinstance(classify(exc), FinalError)
    else:
        raise AssertionError("stripe-mock accepted an invalid amount")


def test_an_unreachable_stripe_is_retryable(make_settings) -> None:
    client = build_client(make_settings(stripe_api_base=f"http://127.0.0.1:{free_port()}"))
    try:
        client.v1.customers.retrieve("cus_x")
    except stripe.APIConnectionError as exc:
        assert isinstance(classify(exc), RetryableError)
    else:
        raise AssertionError("a closed port answered")
