"""DESIGN.md "The decision contract": the worked example, field for field."""

import json

from click.testing import CliRunner
from policy_factories import example

from worker.cli.policy import decide as decide_command
from worker.policy import decide_json

EXPECTED = {
    "outcome": "approve",
    "amount": 110000,
    "currency": "usd",
    "policy": "mittrik",
    "policy_version": "2025-04-10",
    "clauses": ["M1.annual", "M3.partial"],
    "lines": [
        {
            "id": "il_1",
            "outcome": "approve",
            "amount": 110000,
            "clauses": ["M1.annual", "M3.partial"],
            "explanation": "Annual plan bought 6 days ago, within 14 days: 11 of 12 months unused.",
        }
    ],
    "expected_credit": {"from": "2025-05-08", "to": "2025-05-12"},
}


def test_worked_example_through_decide_json_matches_design_field_for_field():
    assert decide_json(example()) == EXPECTED


def test_worked_example_keys_come_in_the_contract_order():
    decision = decide_json(example())
    assert list(decision) == [
        "outcome", "amount", "currency", "policy", "policy_version", "clauses", "lines",
        "expected_credit",
    ]  # fmt: skip
    assert list(decision["lines"][0]) == ["id", "outcome", "amount", "clauses", "explanation"]


def test_worked_example_through_billing_worker_decide_file(tmp_path):
    facts_file = tmp_path / "facts.json"
    facts_file.write_text(json.dumps(example()))
    result = CliRunner().invoke(decide_command, [str(facts_file)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == EXPECTED


def test_worked_example_through_billing_worker_decide_stdin():
    result = CliRunner().invoke(decide_command, ["-"], input=json.dumps(example()))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == EXPECTED


def test_worked_example_via_the_registered_billing_worker_command():
    from worker.cli import main

    result = CliRunner().invoke(main, ["decide", "-"], input=json.dumps(example()))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == EXPECTED
