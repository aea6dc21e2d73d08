"""The start-up checks of the settings, in-process (tests/stack runs them through the CLI)."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.config import ConfigError, load_settings
from worker.config_checks import check_broker_url, points_at_stripe_mock


@pytest.mark.parametrize(
    "url",
    [
        "redis://redis:6379/0",
        "rediss://:pw@redis.example:6380/0",
        "amqp://billing:pw@rabbitmq:5672//",
        "pyamqp://guest@localhost//",
        "sqla+postgresql+psycopg://billing:pw@db/billing",
        "sqla+sqlite:////data/broker.sqlite3",
        "memory://",
    ],
)
def test_celery_broker_urls_of_known_transports_are_accepted(url: str) -> None:
    assert check_broker_url(url) == url


@pytest.mark.parametrize(
    "url", ["redis:/redis", "kafka://broker:9092", "sqla+nonsense://x", "redis"]
)
def test_other_broker_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="BROKER_URL"):
        check_broker_url(url)


@pytest.mark.parametrize(
    ("base", "local"),
    [
        ("http://stripe-mock:12111", True),
        ("http://localhost:8080", True),
        ("http://127.0.0.1:12111", True),
        ("http://[::1]:9000", True),
        ("http://mock.internal:12112", True),
        ("https://api.stripe.com", False),
        ("https://stripe-proxy.example.com", False),
    ],
)
def test_stripe_mock_and_local_addresses_are_recognised(base: str, local: bool) -> None:
    assert points_at_stripe_mock(base) is local


def test_every_problem_is_listed_at_once_without_the_values(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as problem:
        load_settings(
            _env_file=None,
            data_dir=tmp_path,
            database_url="postgres://billing:hunter2@db/billing",
            broker_url="kafka://broker:9092",
            billing_policy="nope",
        )
    message = str(problem.value)
    assert message.startswith("invalid configuration:\n- ")
    assert message.count("\n- ") == 3 and "hunter2" not in message


def test_a_policy_file_path_is_accepted(tmp_path: Path) -> None:
    from importlib import resources

    policy = tmp_path / "policy.toml"
    policy.write_text((resources.files("worker.policy.policies") / "dmly.toml").read_text())
    settings = load_settings(_env_file=None, data_dir=tmp_path, billing_policy=str(policy))
    assert settings.billing_policy == str(policy)


def test_policies_by_connected_account_are_parsed_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from importlib import resources

    policy = tmp_path / "policy.toml"
    policy.write_text((resources.files("worker.policy.policies") / "dmly.toml").read_text())
    monkeypatch.setenv("BILLING_POLICY_BY_ACCOUNT", f" acct_1=dmly , acct_2={policy},")
    settings = load_settings(_env_file=None, data_dir=tmp_path)
    assert settings.billing_policy_by_account == {"acct_1": "dmly", "acct_2": str(policy)}
    unset = load_settings(_env_file=None, data_dir=tmp_path, billing_policy_by_account="")
    assert unset.billing_policy_by_account == {}


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        ("acct_1", "'acct_1' is not acct_…=POLICY"),
        ("cus_1=dmly", "'cus_1=dmly' is not acct_…=POLICY"),
        ("acct_1=", "'acct_1=' is not acct_…=POLICY"),
        ("acct_1=dmly,acct_1=mittrik", "acct_1 is given twice"),
        ("acct_1=dmyl", "acct_1: unknown policy 'dmyl'"),
        ("acct_1=/no/such/policy.toml", "acct_1: "),
    ],
)
def test_a_bad_policy_by_account_names_the_variable_and_the_account(
    tmp_path: Path, value: str, complaint: str
) -> None:
    with pytest.raises(ConfigError) as problem:
        load_settings(_env_file=None, data_dir=tmp_path, billing_policy_by_account=value)
    message = str(problem.value)
    assert "- BILLING_POLICY_BY_ACCOUNT: " in message and complaint in message


def test_the_connect_endpoints_secrets_are_its_own(tmp_path: Path) -> None:
    settings = load_settings(
        _env_file=None,
        data_dir=tmp_path,
        stripe_webhook_secrets="whsec_platform",
        stripe_connect_webhook_secrets="whsec_connect_new, whsec_connect_old",
    )
    assert settings.stripe_connect_webhook_secrets == ["whsec_connect_new", "whsec_connect_old"]
    with pytest.raises(ConfigError, match="repeats a secret of STRIPE_WEBHOOK_SECRETS"):
        load_settings(
            _env_file=None,
            data_dir=tmp_path,
            stripe_webhook_secrets="whsec_same",
            stripe_connect_webhook_secrets="whsec_same",
        )
