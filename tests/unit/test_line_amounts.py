"""What a customer paid for an invoice line (issue 13 #11): tax in, discounts out, once."""

from __future__ import annotations

from worker.handlers.line_amounts import paid_for_line


def test_exclusive_tax_is_added_and_the_discount_taken_off_once() -> None:
    line = {
        "amount": 30000,
        "discount_amounts": [{"amount": 3000}],
        "pretax_credit_amounts": [{"amount": 3000, "type": "discount"}],
        "taxes": [{"amount": 2700, "tax_behavior": "exclusive"}],
    }
    assert paid_for_line(line) == 30000 - 3000 + 2700


def test_inclusive_tax_is_already_in_the_amount() -> None:
    line = {"amount": 12000, "taxes": [{"amount": 2000, "tax_behavior": "inclusive"}]}
    assert paid_for_line(line) == 12000


def test_older_versions_discount_amounts_and_tax_amounts_count_too() -> None:
    line = {
        "amount": 10000,
        "discount_amounts": [{"amount": 1000}],
        "tax_amounts": [{"amount": 900, "inclusive": False}, {"amount": 50, "inclusive": True}],
    }
    assert paid_for_line(line) == 9900


def test_a_plain_line_is_its_amount() -> None:
    assert paid_for_line({"amount": 4500}) == 4500
