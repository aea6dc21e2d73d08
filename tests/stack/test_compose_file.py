"""docker-compose.yml, the Dockerfile and .env.example, checked without a Docker engine.

`docker compose config -q` needs the compose v2 plugin, which Debian does not package, so the
compose file is parsed with PyYAML and validated against the Compose Specification's JSON schema
as vendored by the check-jsonschema package (a test dependency), raw and interpolated; then
resolved as `docker compose config` resolves it (references between services, volumes, env
files, ports) by `compose_stack.resolution_problems`.
"""

from __future__ import annotations

import copy
import json
import re
from importlib import resources
from typing import Any

import jsonschema
import pytest
from compose_stack import (
    APP_SERVICES,
    DOCKERFILE,
    ENV_EXAMPLE,
    ROOT,
    interpolate,
    load_compose,
    resolution_problems,
    variables_used,
)

from worker.config import Settings

SERVICES = {"proxy", "web", "worker", "beat", "migrate", "redis", "postgres", "stripe-mock"}


@pytest.fixture(scope="module")
def compose_schema() -> jsonschema.Draft202012Validator:
    vendored = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema = json.loads(vendored.read_text("utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def schema_errors(validator: jsonschema.Draft202012Validator, document: Any) -> list[str]:
    return [f"{e.json_path}: {e.message}" for e in validator.iter_errors(document)]


def example_env() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in ENV_EXAMPLE.read_text().splitlines())
    return {key: value for key, value in (p for p in pairs if len(p) == 2) if key[:1].isalpha()}


def test_compose_file_matches_the_compose_specification_raw_and_interpolated(
    compose_schema: jsonschema.Draft202012Validator,
) -> None:
    assert schema_errors(compose_schema, load_compose()) == []
    assert schema_errors(compose_schema, load_compose({})) == []  # every default
    assert schema_errors(compose_schema, load_compose(example_env())) == []


def test_the_schema_check_catches_a_broken_compose_file(
    compose_schema: jsonschema.Draft202012Validator,
) -> None:
    broken = copy.deepcopy(load_compose())
    broken["services"]["web"]["depends_on"]["migrate"]["condition"] = "service_completed"
    broken["services"]["worker"]["healthcheck"]["intervall"] = "30s"
    broken["services"]["beat"]["comand"] = ["beat"]
    errors = schema_errors(compose_schema, broken)
    assert any("service_completed" in e for e in errors), errors
    assert any("intervall" in e for e in errors), errors
    assert any("comand" in e for e in errors), errors


def test_compose_file_resolves_as_docker_compose_config_would_with_and_without_dotenv() -> None:
    for variables in ({}, example_env()):
        assert resolution_problems(load_compose(variables)) == [], variables


def test_the_resolution_check_catches_what_docker_compose_config_refuses() -> None:
    broken = copy.deepcopy(load_compose({}))
    services = broken["services"]
    services["web"]["depends_on"]["cache"] = {"condition": "service_started"}
    services["migrate"]["depends_on"]["web"] = {"condition": "service_started"}
    services["redis"]["volumes"] = ["redisdata:/data"]
    services["beat"]["env_file"] = [{"path": "missing.env"}]
    services["web"]["ports"] = ["8000:http"]
    problems = resolution_problems(broken)
    assert "web depends on undefined service cache" in problems
    assert {"dependency cycle through web", "dependency cycle through migrate"} <= set(problems)
    assert "redis uses undeclared volume redisdata" in problems
    assert "beat needs env_file missing.env, which is missing" in problems
    assert "web publishes '8000:http', not HOST:CONTAINER ports" in problems


def test_the_stack_has_every_service_each_with_a_healthcheck() -> None:
    services = load_compose({})["services"]
    assert set(services) == SERVICES
    for name, spec in services.items():
        healthcheck = spec.get("healthcheck")
        assert healthcheck, f"{name} has no healthcheck"
        if name == "migrate":
            assert healthcheck == {"disable": True}  # one-shot: completion is its signal
        else:
            assert healthcheck["test"][0] in ("CMD", "CMD-SHELL"), name


def test_app_services_run_billing_worker_and_wait_for_the_migration() -> None:
    services = load_compose({})["services"]
    commands = {name: services[name]["command"] for name in APP_SERVICES}
    assert commands["migrate"] == ["db", "upgrade"]
    assert commands["web"][0] == "serve"  # gunicorn serving webhooks:create_app()
    assert commands["worker"][0] == "worker"
    assert commands["beat"] == ["beat"]
    for name in APP_SERVICES:
        assert services[name]["entrypoint"] == ["billing-worker"], name
        assert services[name]["image"] == "stripe-billing-worker:latest", name
    assert services["migrate"]["restart"] == "no"
    for name in ("web", "worker", "beat"):
        depends = services[name]["depends_on"]
        assert depends["migrate"] == {"condition": "service_completed_successfully"}, name
        assert depends["postgres"] == {"condition": "service_healthy"}, name
        assert depends["redis"] == {"condition": "service_healthy"}, name
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}


def test_backing_services_use_official_images_and_postgres_keeps_a_named_volume() -> None:
    document = load_compose({})
    services = document["services"]
    assert services["stripe-mock"]["image"].startswith("stripe/stripe-mock:")
    assert services["redis"]["image"].startswith("redis:")
    assert services["postgres"]["image"].startswith("postgres:")
    [volume] = services["postgres"]["volumes"]
    name, _, mount = volume.partition(":")
    assert mount == "/var/lib/postgresql/data" and name in document["volumes"]


def test_ports_and_settings_come_from_dotenv() -> None:
    """Every variable the compose file reads is documented in .env.example."""
    assert variables_used() <= set(example_env()), variables_used() - set(example_env())
    services = load_compose({"PORT": "18080", "WEB_WORKERS": "3"})["services"]
    assert services["proxy"]["ports"] == ["18080:8080"]
    assert services["web"]["command"] == ["serve", "--workers", "3"]


def test_only_the_proxy_is_published_and_its_config_matches_the_stack() -> None:
    """The proxy's mounted nginx.conf listens on the port compose publishes and its healthcheck
    asks, sends requests to the port `web` listens on, and takes bodies up to the receiver's
    default limit; `web` publishes nothing (tests/faults/test_slow_clients.py runs that file)."""
    services = load_compose({})["services"]
    proxy, web = services["proxy"], services["web"]
    assert "ports" not in web
    assert proxy["image"].startswith("nginx:")
    assert proxy["depends_on"] == {"web": {"condition": "service_healthy"}}
    [mount] = proxy["volumes"]
    source, target, mode = mount.split(":")
    assert (target, mode) == ("/etc/nginx/nginx.conf", "ro")
    config = (ROOT / source).read_text()
    [listen] = re.findall(r"^\s*listen (\d+);", config, re.MULTILINE)
    [upstream] = re.findall(r"^\s*server web:(\d+);", config, re.MULTILINE)
    [published] = proxy["ports"]
    assert published.split(":")[-1] == listen
    assert f"http://127.0.0.1:{listen}/healthz" in proxy["healthcheck"]["test"]
    assert upstream == str(web["environment"]["PORT"])
    [body_limit] = re.findall(r"client_max_body_size (\d+)m;", config)
    assert int(body_limit) * 1024 * 1024 == Settings.model_fields["webhook_max_body_bytes"].default


def test_env_example_lists_every_setting_with_a_comment_and_no_real_secret() -> None:
    lines = ENV_EXAMPLE.read_text().splitlines()
    settings = {line.split("=", 1)[0] for line in lines if re.match(r"^[A-Z_]+=", line)}
    assert {name.upper() for name in Settings.model_fields} <= settings
    for number, line in enumerate(lines):
        if re.match(r"^[A-Z_]+=", line):
            above = lines[number - 1]
            assert above.startswith("#") or re.match(r"^[A-Z_]+=", above), line
    text = ENV_EXAMPLE.read_text()
    assert not re.search(r"sk_live_\w|rk_live_\w|whsec_\w", text)
    assert example_env()["STRIPE_API_KEY"] == "sk_test_123"  # stripe-mock's placeholder


def test_interpolation_follows_compose_rules() -> None:
    variables = {"SET": "x", "EMPTY": ""}
    assert interpolate("${SET:-d} ${EMPTY:-d} ${UNSET:-d}", variables) == "x d d"
    assert interpolate("${SET-d} ${EMPTY-d} ${UNSET-d}", variables) == "x  d"
    assert interpolate("$$HOSTNAME ${SET} $SET", variables) == "$HOSTNAME x x"


def test_dockerfile_is_slim_cached_unprivileged_and_runs_billing_worker() -> None:
    instructions = [
        line.split(maxsplit=1)
        for line in _logical_lines(DOCKERFILE.read_text())
        if line and not line.startswith("#")
    ]
    keywords = [keyword for keyword, _ in instructions]
    assert re.fullmatch(r"python:3\.1[1-9]-slim", instructions[0][1]), instructions[0]
    # The dependency layer (pyproject.toml alone, then pip install) comes before the code.
    copies = [args for keyword, args in instructions if keyword == "COPY"]
    assert copies[0] == "pyproject.toml ./"
    first_install = next(i for i, (k, a) in enumerate(instructions) if "pip install" in a)
    first_code = next(
        i for i, (k, a) in enumerate(instructions) if k == "COPY" and a.startswith("worker")
    )
    assert first_install < first_code
    user = instructions[max(i for i, k in enumerate(keywords) if k == "USER")][1]
    assert user not in ("root", "0")
    assert keywords.index("USER") < keywords.index("ENTRYPOINT")
    assert dict(instructions)["ENTRYPOINT"] == '["billing-worker"]'
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", ".venv", ".git", "data"} <= set(ignored)


def _logical_lines(text: str) -> list[str]:
    return [line.strip() for line in text.replace("\\\n", " ").splitlines()]
