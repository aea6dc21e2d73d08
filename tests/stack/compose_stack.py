"""docker-compose.yml as the stack tests read it: interpolated the way compose does, and each
service's command line and environment, with the container addresses mapped to this machine.

No Docker engine runs here, so the tests run the services' own command lines as processes; the
only changes are the ones a container network would make: the service names `postgres`, `redis`
and `stripe-mock` resolve to the servers the suite started, each service gets its own DATA_DIR (a
container has its own filesystem), and ports bound inside a container get free ports here.
Named `compose_stack` (not `conftest`) so `tests/conftest.py` stays the only module of that name.
"""

from __future__ import annotations

import re
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"
# The image puts `billing-worker`, `celery` and `python` on PATH; here the venv's bin has them.
VENV_BIN = Path(sys.executable).parent
APP_SERVICES = ("migrate", "web", "worker", "beat")

_VARIABLE = re.compile(r"\$(?:(?P<escaped>\$)|\{(?P<braced>[^}]*)\}|(?P<named>[A-Za-z_]\w*))")
# Compose's forms, longest operator first: ${V:-default} ${V-default} ${V:?error} ${V?error}
# ${V:+replacement} ${V+replacement}.
_OPERATORS = (":-", ":?", ":+", "-", "?", "+")


class MissingVariable(KeyError):
    pass


def interpolate(text: str, variables: Mapping[str, str]) -> str:
    """`text` with compose's `${...}` forms and `$$` resolved against `variables` (the .env)."""

    def resolve(match: re.Match[str]) -> str:
        if match.group("escaped"):
            return "$"
        if match.group("named"):
            return variables.get(match.group("named"), "")
        expression = match.group("braced")
        for operator in _OPERATORS:
            name, found, argument = expression.partition(operator)
            if not found:
                continue
            value = variables.get(name)
            empty = value is None or (operator.startswith(":") and value == "")
            if operator.endswith("-"):
                return argument if empty else value  # type: ignore[return-value]
            if operator.endswith("?"):
                if empty:
                    raise MissingVariable(f"{name}: {argument}")
                return value  # type: ignore[return-value]
            return "" if empty else argument
        return variables.get(expression, "")

    return _VARIABLE.sub(resolve, text)


def interpolated(node: Any, variables: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, variables)
    if isinstance(node, list):
        return [interpolated(item, variables) for item in node]
    if isinstance(node, dict):
        return {key: interpolated(value, variables) for key, value in node.items()}
    return node


def load_compose(variables: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The compose file as YAML (anchors and merge keys resolved), interpolated if asked."""
    document = yaml.safe_load(COMPOSE_FILE.read_text())
    return document if variables is None else interpolated(document, variables)


def variables_used() -> set[str]:
    names = set()
    for match in _VARIABLE.finditer(COMPOSE_FILE.read_text()):
        expression = match.group("braced") or match.group("named") or ""
        names.add(re.split(r"[:?+-]", expression, maxsplit=1)[0])
    return names - {""}


@dataclass(frozen=True)
class ServiceProcess:
    """One compose service as a process on this machine."""

    name: str
    argv: list[str]
    env: dict[str, str]
    healthcheck: list[str] | None


def service_process(
    document: Mapping[str, Any],
    name: str,
    dotenv: Mapping[str, str],
    *,
    addresses: Mapping[str, str],
    data_dir: Path,
    ports: Mapping[str, int] | None = None,
) -> ServiceProcess:
    """The service's entrypoint + command and its environment (env_file, then `environment:`),
    with `addresses` ("postgres:5432" -> "127.0.0.1:54321") applied to every value."""
    spec = document["services"][name]
    argv = [*_as_list(spec.get("entrypoint")), *_as_list(spec.get("command"))]
    env: dict[str, str] = {}
    if spec.get("env_file"):
        env.update(dotenv)  # compose reads the same .env for interpolation and env_file here
    env.update({k: "" if v is None else str(v) for k, v in spec.get("environment", {}).items()})
    for key, value in env.items():
        for container_address, local_address in addresses.items():
            value = re.sub(
                rf"(?<=[/@]){re.escape(container_address)}(?![\d])", local_address, value
            )
        env[key] = value
    if env.get("DATA_DIR") == "/app/data":
        env["DATA_DIR"] = str(data_dir)
    if env.get("HOST") == "0.0.0.0":
        env["HOST"] = "127.0.0.1"  # all interfaces of a container; loopback only here
    for key, port in (ports or {}).items():
        env[key] = str(port)
    process_env = {
        "PATH": f"{VENV_BIN}:/usr/bin:/bin",
        "HOME": str(data_dir),
        "LANG": "C.UTF-8",
        "HOSTNAME": socket.gethostname(),  # Docker sets it; the worker's healthcheck reads it
        **env,
    }
    return ServiceProcess(name, argv, process_env, healthcheck_argv(spec.get("healthcheck")))


def healthcheck_argv(healthcheck: Mapping[str, Any] | None) -> list[str] | None:
    if not healthcheck or healthcheck.get("disable"):
        return None
    kind, *rest = _as_list(healthcheck["test"])
    if kind == "CMD":
        return rest
    if kind == "CMD-SHELL":
        return ["/bin/sh", "-c", " ".join(rest)]
    raise ValueError(f"unsupported healthcheck test {kind!r}")


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(item) for item in value] if isinstance(value, list) else [str(value)]


def resolution_problems(document: Mapping[str, Any], root: Path = ROOT) -> list[str]:
    """What `docker compose config` refuses beyond the schema, for an interpolated document:
    a dependency on a service the file lacks or a cycle of them, a named volume not declared,
    a required env_file that is missing, a published port that is not a port."""
    services: Mapping[str, Any] = document.get("services") or {}
    declared_volumes = set(document.get("volumes") or {})
    problems = []
    for name, spec in services.items():
        for dependency in spec.get("depends_on") or {}:
            if dependency not in services:
                problems.append(f"{name} depends on undefined service {dependency}")
        for volume in spec.get("volumes") or []:
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source")
            named = source and not source.startswith(("/", ".", "~"))
            if named and source not in declared_volumes:
                problems.append(f"{name} uses undeclared volume {source}")
        for env_file in _as_env_files(spec.get("env_file")):
            if env_file.get("required", True) and not (root / env_file["path"]).exists():
                problems.append(f"{name} needs env_file {env_file['path']}, which is missing")
        for port in spec.get("ports") or []:
            if not all(
                part.isdigit() and 0 < int(part) < 65536 for part in str(port).split(":")[-2:]
            ):
                problems.append(f"{name} publishes {port!r}, not HOST:CONTAINER ports")
    problems += [f"dependency cycle through {name}" for name in _in_cycles(services)]
    return problems


def _as_env_files(value: Any) -> list[dict[str, Any]]:
    entries = value if isinstance(value, list) else [value] if value else []
    return [entry if isinstance(entry, dict) else {"path": entry} for entry in entries]


def _in_cycles(services: Mapping[str, Any]) -> list[str]:
    """Services that depend, through others, on themselves."""

    def reaches(start: str, target: str, seen: set[str]) -> bool:
        for dependency in (services.get(start) or {}).get("depends_on") or {}:
            if dependency == target:
                return True
            if dependency in services and dependency not in seen:
                seen.add(dependency)
                if reaches(dependency, target, seen):
                    return True
        return False

    return [name for name in services if reaches(name, name, set())]
