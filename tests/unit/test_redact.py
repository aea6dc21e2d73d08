"""How secrets are shown by `config check` and scrubbed from log text."""

from __future__ import annotations

import re

import pytest

from worker.redact import mask_key, mask_secret, mask_url, scrub, scrub_data


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


# Every way of writing 4242 4242 4242 4242 (or an Amex) that a customer or a payload uses.
@pytest.mark.parametrize(
    "written",
    [
        "4242424242424242",
        "4242 4242 4242 4242",
        "4242-4242-4242-4242",
        "4242.4242.4242.4242",
        "4242/4242/4242/4242",
        "4242_4242_4242_4242",
        "card_4242424242424242",
        "card4242424242424242",
        "x4242424242424242y",
        "4242424242424242abc",
        "x4242-4242-4242-4242y",
        "3782 822463 10005",
        "3782-822463-10005",
    ],
)
def test_a_card_number_is_masked_however_it_is_written(written: str) -> None:
    last_four = "".join(c for c in written if c.isdigit())[-4:]
    scrubbed = scrub(f"my card is {written}. Refund it please")
    assert scrubbed.count(last_four) == 1 and f"[card …{last_four}]" in scrubbed
    assert not re.search(r"\d{5}", scrubbed.replace(" ", "").replace("-", ""))
    assert scrubbed.endswith(". Refund it please")


# Realistic ids, a hash, timestamps (s, ms, µs), amounts, dates and a float, in one text.
AROUND = (
    "ch_3MmlLrLkdIwHu7ix0snN0B15 evt_1NG8Du2eZvKYlo2CUI79vXWy in_1MtHbELkdIwHu7ix "
    "evt_test4242424242424242abcd bw:evt_test4242424242424242abcd:refund:pi_3Mx "
    "sha256=" + "deadbeef4242424242424242" + "0" * 40 + " "
    "created=1700000000 at_ms=1700000000123 at_us=1700000000123456 amount=120000 "
    "shown=1,200.00 USD on 2025-05-01 10:00:00 span 2025/05/01 2025/06/01 "
    "rate=0.4242424242424242 order 4242424242424241 uuid=42424242-4242-4242-8242-424242424242"
)


def test_ids_hashes_timestamps_amounts_and_dates_are_never_altered() -> None:
    assert scrub(AROUND) == AROUND


def test_only_the_card_number_changes_in_text_that_carries_ids_and_amounts() -> None:
    text = f"{AROUND} note=card 4242.4242.4242.4242 please"
    assert scrub(text) == f"{AROUND} note=card [card …4242] please"


def test_a_payload_is_scrubbed_value_by_value_and_keeps_its_shape() -> None:
    payload = {
        "id": "evt_1NG8Du2eZvKYlo2CUI79vXWy",
        "created": 1700000000,
        "data": {"object": {"metadata": {"note": "card_4242424242424242"}, "amount": 120000}},
        "lines": ["4242 4242 4242 4242", 4242424242424242, None, True],
    }
    assert scrub_data(payload) == {
        "id": "evt_1NG8Du2eZvKYlo2CUI79vXWy",
        "created": 1700000000,
        "data": {"object": {"metadata": {"note": "card_[card …4242]"}, "amount": 120000}},
        "lines": ["[card …4242]", 4242424242424242, None, True],
    }
