"""`billing-worker decide` with facts that break the contract: exit 2, one line naming the field."""

import copy
import json

import pytest
from click.testing import CliRunner
from policy_factories import example

from worker.cli.policy import decide as decide_command
from worker.policy import InvalidFacts, decide_json, parse_facts


def _run(document) -> tuple[int, str, str]:
    text = document if isinstance(document, str) else json.dumps(document)
    result = CliRunner().invoke(decide_command, ["-"], input=text)
    return result.exit_code, result.stdout, result.stderr


def _without(document, *path):
    broken = copy.deepcopy(document)
    target = broken
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return broken


def _with(document, value, *path):
    broken = copy.deepcopy(document)
    target = broken
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return broken


MISSING = [
    (("policy",), "policy"),
    (("request",), "request"),
    (("request", "received_at"), "request.received_at"),
    (("request", "reason"), "request.reason"),
    (("invoice",), "invoice"),
    (("invoice", "id"), "invoice.id"),
    (("invoice", "number"), "invoice.number"),
    (("invoice", "customer"), "invoice.customer"),
    (("invoice", "currency"), "invoice.currency"),
    (("invoice", "billing_reason"), "invoice.billing_reason"),
    (("invoice", "paid_at"), "invoice.paid_at"),
    (("invoice", "amount_paid"), "invoice.amount_paid"),
    (("invoice", "amount_refunded"), "invoice.amount_refunded"),
    (("invoice", "disputed"), "invoice.disputed"),
    (("invoice", "lines"), "invoice.lines"),
    (("invoice", "lines", 0, "id"), "invoice.lines[0].id"),
    (("invoice", "lines", 0, "category"), "invoice.lines[0].category"),
    (("invoice", "lines", 0, "amount"), "invoice.lines[0].amount"),
    (("invoice", "lines", 0, "interval"), "invoice.lines[0].interval"),
    (("invoice", "lines", 0, "period_start"), "invoice.lines[0].period_start"),
    (("invoice", "lines", 0, "period_end"), "invoice.lines[0].period_end"),
    (("invoice", "lines", 0, "consumed"), "invoice.lines[0].consumed"),
]


@pytest.mark.parametrize(("path", "field"), MISSING, ids=[field for _, field in MISSING])
def test_a_missing_field_exits_2_naming_it(path, field):
    code, out, err = _run(_without(example(), *path))
    assert code == 2
    assert out == ""
    assert err == f"invalid facts: {field}: is missing\n"


TIMESTAMP_PROBLEM = "must be an ISO 8601 timestamp with a zone, e.g. 2025-05-01T10:00:00Z"


@pytest.mark.parametrize(
    "value",
    ["2025-05-01T10:00:00", "2025-05-01", "yesterday", "2025-13-01T10:00:00Z", 1746093600, None],
)
def test_a_timestamp_without_a_zone_or_not_iso_8601_exits_2(value):
    code, _, err = _run(_with(example(), value, "request", "received_at"))
    assert code == 2
    assert err == f"invalid facts: request.received_at: {TIMESTAMP_PROBLEM}\n"


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:00:00-05:00"])
def test_a_timestamp_outside_the_years_1_to_9999_in_utc_exits_2(value):
    code, _, err = _run(_with(example(), value, "request", "received_at"))
    assert code == 2
    assert err == "invalid facts: request.received_at: must be within the years 1 to 9999 in UTC\n"


@pytest.mark.parametrize(
    "path",
    [("invoice", "paid_at"), ("invoice", "lines", 0, "period_start"),
     ("invoice", "lines", 0, "period_end")],
)  # fmt: skip
def test_every_timestamp_field_is_checked(path):
    code, _, err = _run(_with(example(), "2025-04-25 09:00", *path))
    field = ".".join(str(p) for p in path).replace(".0.", "[0].")
    assert code == 2
    assert err.startswith(f"invalid facts: {field}: must be an ISO 8601 timestamp")


@pytest.mark.parametrize("value", [-1, 1.5, 1200.0, "120000", True, None])
def test_a_negative_or_non_integer_amount_exits_2(value):
    code, _, err = _run(_with(example(), value, "invoice", "lines", 0, "amount"))
    assert code == 2
    assert err == "invalid facts: invoice.lines[0].amount: must be a non-negative integer\n"


@pytest.mark.parametrize("field", ["amount_paid", "amount_refunded"])
def test_invoice_money_must_be_a_non_negative_integer(field):
    code, _, err = _run(_with(example(), -5, "invoice", field))
    assert (code, err) == (2, f"invalid facts: invoice.{field}: must be a non-negative integer\n")


def test_an_unknown_line_category_exits_2():
    code, _, err = _run(_with(example(), "subscription", "invoice", "lines", 0, "category"))
    assert code == 2
    assert err == (
        "invalid facts: invoice.lines[0].category: must be one of plan, addon, usage, "
        "pass_through\n"
    )


def test_an_unknown_policy_exits_2_naming_the_policy_field():
    code, _, err = _run(_with(example(), "acme", "policy"))
    assert code == 2
    assert err == (
        "invalid facts: policy: unknown policy 'acme': expected mittrik or dmly, "
        "or the path of a policy file\n"
    )


def test_a_policy_path_that_does_not_exist_exits_2(tmp_path):
    code, _, err = _run(_with(example(), str(tmp_path / "missing.toml"), "policy"))
    assert code == 2
    assert err.startswith("invalid facts: policy: unknown policy ")


def test_a_broken_policy_file_exits_2_naming_the_file_and_key(tmp_path):
    broken = tmp_path / "acme.toml"
    broken.write_text('name = "acme"\nrules = "dmly"\n')
    code, _, err = _run(_with(example(), str(broken), "policy"))
    assert code == 2
    assert err == f"invalid policy file: {broken}: cancel_at: is missing\n"


def test_a_line_id_not_on_the_invoice_exits_2():
    code, _, err = _run(_with(example(), ["il_9"], "request", "line_ids"))
    assert code == 2
    assert err == "invalid facts: request.line_ids: 'il_9' is not a line of invoice in_123\n"


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("request", "reason"), "angry", "request.reason"),
        (("request", "line_ids"), [], "request.line_ids"),
        (("request", "line_ids"), "il_1", "request.line_ids"),
        (("request", "support_override"), "yes", "request.support_override"),
        (("invoice", "disputed"), "no", "invoice.disputed"),
        (("invoice", "currency"), "dollars", "invoice.currency"),
        (("invoice", "lines"), [], "invoice.lines"),
        (("invoice", "lines", 0, "interval"), "week", "invoice.lines[0].interval"),
        (("invoice", "lines", 0, "consumed"), 0, "invoice.lines[0].consumed"),
        (("invoice", "lines", 0, "period_end"), "2025-04-24T09:00:00Z",
         "invoice.lines[0].period_end"),
        (("invoice", "lines", 0), "il_1", "invoice.lines[0]"),
        (("invoice",), [], "invoice"),
    ],
)  # fmt: skip
def test_a_bad_value_exits_2_with_one_line_naming_the_field(path, value, field):
    code, out, err = _run(_with(example(), value, *path))
    assert (code, out) == (2, "")
    assert err.startswith(f"invalid facts: {field}: ")
    assert err.count("\n") == 1


def test_duplicate_line_ids_on_the_invoice_exit_2():
    document = example()
    document["invoice"]["lines"].append(dict(document["invoice"]["lines"][0]))
    code, _, err = _run(document)
    assert (code, err) == (2, "invalid facts: invoice.lines[1].id: 'il_1' appears twice\n")


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '"facts"'])
def test_input_that_is_not_a_json_object_exits_2(text):
    code, out, err = _run(text)
    assert (code, out) == (2, "")
    assert err.startswith("invalid facts: ")
    assert err.count("\n") == 1


@pytest.mark.parametrize("levels", [33, 5000])
def test_input_nested_past_32_levels_exits_2_saying_so(levels):
    deep = "[" * (levels - 1) + "]" * (levels - 1)
    code, out, err = _run(json.dumps(example())[:-1] + f', "note": {deep}}}')
    assert (code, out) == (2, "")
    assert err == "invalid facts: nested deeper than 32 levels, the most accepted\n"


def test_a_facts_file_that_cannot_be_read_exits_2_with_one_line(tmp_path):
    missing = tmp_path / "facts.json"
    result = CliRunner().invoke(decide_command, [str(missing)])
    assert result.exit_code == 2
    assert result.stderr == f"cannot read facts file {missing}: No such file or directory\n"


def test_unknown_extra_fields_are_ignored():
    document = example()
    document["note"] = "from the support inbox"
    document["invoice"]["lines"][0]["description"] = "Growth plan (annual)"
    assert decide_json(document) == decide_json(example())


def test_line_ids_null_or_absent_mean_every_line():
    assert decide_json(_without(example(), "request", "line_ids")) == decide_json(example())


def test_parse_facts_normalises_timestamps_to_utc_and_currency_to_lower_case():
    document = _with(example(), "2025-05-01T12:00:00+02:00", "request", "received_at")
    document["invoice"]["currency"] = "USD"
    facts = parse_facts(document)
    assert facts.request.received_at.isoformat() == "2025-05-01T10:00:00+00:00"
    assert facts.invoice.currency == "usd"


def test_invalid_facts_carries_the_field_for_callers():
    with pytest.raises(InvalidFacts) as raised:
        parse_facts(_with(example(), False, "invoice", "amount_paid"))
    assert raised.value.field == "invoice.amount_paid"
