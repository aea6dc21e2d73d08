"""How secrets are shown by `config check` and scrubbed from log text."""

from __future__ import annotations

import pytest

from worker.redact import luhn_valid, mask_key, mask_secret, mask_url, scrub


def test_a_key_shows_its_kind_and_last_four_characters_only() -> None:
    assert mask_key("sk_test_51HabcdefghijklmnopWXYZ") == "sk_test_…WXYZ"
    assert mask_key("sk_" + "live_51HabcdefghijklmnopWXYZ") == "sk_live_…WXYZ"
    assert mask_key("sk_test_123") == "sk_test_…"  # a short key would be given away by its tail
    assert mask_key("") == ""


def test_a_webhook_secret_shows_its_kind_only() -> None:
    assert mask_secret("whsec_test_primary_0123456789") == "whsec_…"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql+psycopg://billing:hunter2@db:5432/billing",
            "postgresql+psycopg://billing:…@db:5432/billing",
        ),
        ("redis://:hunter2@redis:6379/0", "redis://:…@redis:6379/0"),
        ("amqp://guest:guest@rabbitmq:5672//", "amqp://guest:…@rabbitmq:5672//"),
        (
            "postgresql+psycopg//billing:hunter2@db/billing",
            "postgresql+psycopg//billing:…@db/billing",
        ),
        ("sqlite:////data/billing.sqlite3", "sqlite:////data/billing.sqlite3"),
        ("redis://redis:6379/0", "redis://redis:6379/0"),
    ],
)
def test_a_url_keeps_everything_but_its_password(url: str, shown: str) -> None:
    assert mask_url(url) == shown


def test_scrub_masks_keys_secrets_signatures_passwords_and_card_numbers() -> None:
    text = (
        "key=sk_"
        + "live_51Habc123 secret=whsec_abc_DEF123 header=t=1700000000,v1="
        + "ab" * 32
        + " url=redis://:hunter2@redis:6379/0 card=4242424242424242 spaced=4242 4242 4242 4242"
    )
    scrubbed = scrub(text)
    for secret in ("51Habc123", "abc_DEF123", "ab" * 32, "hunter2", "4242424242424242"):
        assert secret not in scrubbed
    assert "4242 4242 4242 4242" not in scrubbed
    assert "[card …4242]" in scrubbed and "t=1700000000" in scrubbed


def test_scrub_leaves_ids_timestamps_and_amounts_alone() -> None:
    text = "evt_4242424242424242 in_1MtHbELkdIwHu7ix created=1700000000123 amount=120000"
    assert scrub(text) == text


def test_luhn_tells_card_numbers_from_other_digit_runs() -> None:
    assert luhn_valid("4242424242424242") and luhn_valid("5555555555554444")
    assert not luhn_valid("4242424242424241")
