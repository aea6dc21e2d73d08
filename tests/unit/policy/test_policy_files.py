"""The policies as data: built-in values match the spec, and a broken file names file and key."""

import tomllib
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from policy_factories import facts

from worker.cli.policy import policy as policy_command
from worker.policy import (
    DmlyParameters,
    MittrikParameters,
    PolicyFileError,
    decide_json,
    load_policy,
)
from worker.policy.loader import PARAMETER_CHECKS, UnknownPolicy
from worker.policy.parameters import RULEBOOKS

POLICIES = Path(__file__).parents[3] / "worker" / "policy" / "policies"


def test_mittrik_parameters_are_the_spec_table():
    mittrik = load_policy("mittrik")
    assert (mittrik.name, mittrik.version, mittrik.rules) == ("mittrik", "2025-04-10", "mittrik")
    assert mittrik.parameters == MittrikParameters(
        monthly_refund="none",  # M1.monthly
        annual_window_hours=336,  # M1.annual
        annual_refund="unused_months",
        renewals_refundable=False,  # M1.renewal
        addon_window_hours=168,  # M2.unused
        addon_unused="review",
        partial_month="used",  # M3.partial
        downgrade_proration="none",  # M3.downgrade
        cancel_at="period_end",  # M3.cancel
        credit_business_days=(5, 7),  # M5.request
        dispute_suspend_reasons=(
            "fraudulent",
            "unrecognized",
            "general",
            "debit_not_authorized",
        ),  # M6.dispute
        dispute_lost="terminate",
        upgrade_proration="always_invoice",  # M.upgrade
        addon_proration="create_prorations",
    )


def test_dmly_parameters_are_the_spec_table():
    dmly = load_policy("dmly")
    assert (dmly.name, dmly.version, dmly.rules) == ("dmly", None, "dmly")
    assert dmly.parameters == DmlyParameters(
        cancel_at="period_end",  # D1.cancel
        window_hours=72,  # D2.window
        renewals_refundable=True,
        monthly_refund="full",  # D2.monthly
        annual_refund="unused_months",  # D2.annual
        upgrade_proration="always_invoice",  # D3.upgrade
        downgrade_proration="create_prorations",  # D3.downgrade
        addon_proration="create_prorations",  # D3.addons
        non_refundable=("pass_through", "usage"),  # D4.exclusions
        credit_business_days=(5, 10),  # D5.request
        dispute_suspend_reasons=(),  # D6.dispute
    )


@pytest.mark.parametrize("name", ["mittrik", "dmly"])
def test_each_policy_file_has_a_sentence_for_every_clause_of_its_rules(name):
    chosen = load_policy(name)
    assert tuple(chosen.clauses) == RULEBOOKS[chosen.rules].clause_ids
    assert all(sentence.endswith(".") for sentence in chosen.clauses.values())


@pytest.mark.parametrize("rules", ["mittrik", "dmly"])
def test_parameter_checks_and_parameter_dataclasses_agree(rules):
    names = [f for f in RULEBOOKS[rules].parameters.__dataclass_fields__]
    assert names == list(PARAMETER_CHECKS[rules])


def test_policy_names_are_case_insensitive_and_paths_load_too():
    assert load_policy("Mittrik") == load_policy("mittrik")
    by_path = load_policy(POLICIES / "dmly.toml")
    assert by_path.parameters == load_policy("dmly").parameters


def test_an_unknown_policy_name_is_unknown_policy():
    with pytest.raises(UnknownPolicy):
        load_policy("acme")


def _company_file(tmp_path, edit) -> Path:
    """A company's own file: Mittrik's, edited line by line."""
    text = (POLICIES / "mittrik.toml").read_text()
    path = tmp_path / "acme.toml"
    path.write_text(edit(text))
    return path


def test_a_company_policy_file_drives_the_same_engine(tmp_path):
    path = _company_file(
        tmp_path,
        lambda text: (
            text.replace('name = "mittrik"', 'name = "acme"')
            .replace('version = "2025-04-10"', 'version = "2026-01"')
            .replace("annual_window_hours = 336", "annual_window_hours = 720")
        ),
    )
    decision = decide_json(facts(str(path), received_after=timedelta(days=20)))
    assert (decision["policy"], decision["policy_version"]) == ("acme", "2026-01")
    assert decision["outcome"] == "approve"
    assert decision["lines"][0]["explanation"] == (
        "Annual plan bought 20 days ago, within 30 days: 11 of 12 months unused."
    )


def test_an_unknown_key_names_the_file_and_the_key(tmp_path):
    path = _company_file(tmp_path, lambda text: "refund_fee = 10\n" + text)
    with pytest.raises(PolicyFileError) as raised:
        load_policy(path)
    assert raised.value.path == str(path)
    assert raised.value.key == "refund_fee"
    assert str(raised.value) == f"{path}: refund_fee: unknown key for rules = 'mittrik'"


def test_a_key_of_the_other_rules_is_unknown(tmp_path):
    path = _company_file(tmp_path, lambda text: "window_hours = 72\n" + text)
    with pytest.raises(PolicyFileError, match=r"acme\.toml: window_hours: unknown key"):
        load_policy(path)


def test_a_missing_key_names_the_file_and_the_key(tmp_path):
    path = _company_file(tmp_path, lambda text: text.replace("addon_window_hours = 168", ""))
    with pytest.raises(PolicyFileError) as raised:
        load_policy(path)
    assert str(raised.value) == f"{path}: addon_window_hours: is missing"


def test_a_missing_clause_names_the_file_and_the_clause(tmp_path):
    path = _company_file(
        tmp_path,
        lambda text: "\n".join(line for line in text.splitlines() if '"M3.credits"' not in line),
    )
    with pytest.raises(PolicyFileError) as raised:
        load_policy(path)
    assert str(raised.value) == f"{path}: clauses.M3.credits: is missing"


def test_an_unknown_clause_names_the_file_and_the_clause(tmp_path):
    path = _company_file(tmp_path, lambda text: text + '"M9.loyalty" = "Loyal customers."\n')
    with pytest.raises(PolicyFileError, match=r"acme\.toml: clauses\.M9\.loyalty: unknown"):
        load_policy(path)


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("annual_window_hours = 336", "annual_window_hours = -1", "annual_window_hours"),
        ("annual_window_hours = 336", 'annual_window_hours = "336"', "annual_window_hours"),
        ("addon_window_hours = 168", "addon_window_hours = 7.5", "addon_window_hours"),
        ('annual_refund = "unused_months"', 'annual_refund = "prorated"', "annual_refund"),
        ("renewals_refundable = false", 'renewals_refundable = "no"', "renewals_refundable"),
        ("credit_business_days = [5, 7]", "credit_business_days = [7, 5]",
         "credit_business_days"),
        ("credit_business_days = [5, 7]", "credit_business_days = 5", "credit_business_days"),
        ('"fraudulent", "unrecognized"', '"fraud", "unrecognized"', "dispute_suspend_reasons"),
        ('upgrade_proration = "always_invoice"', 'upgrade_proration = "now"',
         "upgrade_proration"),
        ('monthly_refund = "none"', 'monthly_refund = "full"', "monthly_refund"),
        ('version = "2025-04-10"', 'version = ""', "version"),
        ('name = "mittrik"', "name = 3", "name"),
        ('rules = "mittrik"', 'rules = "stripe"', "rules"),
        ('"M1.monthly" = "Monthly plans are', '"M1.monthly" = " " #', "clauses.M1.monthly"),
    ],
)  # fmt: skip
def test_a_bad_value_names_the_file_and_the_key(tmp_path, old, new, key):
    path = _company_file(tmp_path, lambda text: text.replace(old, new, 1))
    with pytest.raises(PolicyFileError) as raised:
        load_policy(path)
    assert (raised.value.path, raised.value.key) == (str(path), key)
    assert str(raised.value).startswith(f"{path}: {key}: ")


def test_dmly_rules_refuse_suspension_reasons(tmp_path):
    # D6.dispute: the dmly rules record chargebacks; suspension belongs to the mittrik rules.
    text = (POLICIES / "dmly.toml").read_text()
    path = tmp_path / "dmly-strict.toml"
    path.write_text(text.replace("suspend_reasons = []", 'suspend_reasons = ["fraudulent"]'))
    with pytest.raises(PolicyFileError, match="dispute_suspend_reasons: must be \\[\\]"):
        load_policy(path)


def test_an_unquoted_toml_date_is_accepted_as_the_version(tmp_path):
    path = _company_file(tmp_path, lambda text: text.replace('"2025-04-10"', "2025-04-10"))
    assert load_policy(path).version == "2025-04-10"


def test_a_file_that_is_not_toml_names_the_file(tmp_path):
    path = tmp_path / "acme.toml"
    path.write_text("name = \n")
    with pytest.raises(PolicyFileError) as raised:
        load_policy(path)
    assert raised.value.key is None
    assert str(raised.value).startswith(f"{path}: not valid TOML")


def test_a_file_without_rules_says_rules_is_missing(tmp_path):
    path = tmp_path / "acme.toml"
    path.write_text('name = "acme"\n')
    with pytest.raises(PolicyFileError, match=r"acme\.toml: rules: is missing"):
        load_policy(path)


def _show(name: str) -> str:
    result = CliRunner().invoke(policy_command, ["show", name])
    assert result.exit_code == 0, result.output
    return result.output


def test_policy_show_mittrik_reads_like_the_refund_policy_it_comes_from():
    text = _show("mittrik")
    assert text.startswith("Mittrik Refund Policy\n")
    assert "policy mittrik, version 2025-04-10" in text
    assert "  annual_window_hours      336\n" in text
    assert (
        "  dispute_suspend_reasons  [fraudulent, unrecognized, general, debit_not_authorized]\n"
        in text
    )
    # Every clause with its sentence, in the document's order (M1.monthly ... M.upgrade).
    mittrik = tomllib.loads((POLICIES / "mittrik.toml").read_text())
    positions = [text.index(f"  {clause_id} ") for clause_id in mittrik["clauses"]]
    assert positions == sorted(positions)
    assert "Monthly plans are non-refundable once the billing cycle begins." in text
    assert "M6.dispute    Please contact us before initiating a chargeback" in text


def test_policy_show_dmly_reads_like_the_billing_policy_it_comes_from():
    text = _show("dmly")
    assert text.startswith("DMLY Billing Policy\n")
    assert "policy dmly, version undated" in text
    assert "  non_refundable           [pass_through, usage]\n" in text
    for clause_id in RULEBOOKS["dmly"].clause_ids:
        assert f"\n  {clause_id} " in text
    assert "WhatsApp API" in text


def test_policy_show_reads_a_company_file_by_path_and_billing_policy(tmp_path):
    path = _company_file(tmp_path, lambda text: text.replace('title = "Mittrik', 'title = "Acme'))
    assert _show(str(path)).startswith("Acme Refund Policy\n")
    result = CliRunner().invoke(policy_command, ["show"], env={"BILLING_POLICY": "dmly"})
    assert result.output.startswith("DMLY Billing Policy\n")


def test_policy_show_of_an_unknown_policy_exits_2_with_one_line():
    result = CliRunner().invoke(policy_command, ["show", "acme"])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "unknown policy 'acme'" in result.stderr
