"""`billing-worker decide` and `billing-worker policy show`: the policy engine, offline."""

import json
import sys
import textwrap

import click

from worker.cli.lazy import Lazy, LazyGroup
from worker.input_bounds import OutOfBounds, read_json
from worker.policy import (
    InvalidFacts,
    Policy,
    PolicyFileError,
    UnknownPolicy,
    decide_json,
    load_policy,
)

INVALID_FACTS_EXIT = 2


def exit_invalid(message: str) -> None:
    """One line on stderr, exit 2: what scripts and support read when facts are wrong."""
    click.echo(" ".join(message.split()), err=True)
    sys.exit(INVALID_FACTS_EXIT)


def _read_facts(source: str) -> str:
    try:
        with click.open_file(source, "r", encoding="utf-8") as stream:  # "-" is stdin
            return stream.read()
    except (OSError, UnicodeDecodeError) as problem:
        exit_invalid(
            f"cannot read facts file {source}: {getattr(problem, 'strerror', None) or problem}"
        )
        return ""


@click.command()
@click.argument("source", metavar="FILE|-")
def decide(source: str) -> None:
    """Print the policy's decision (JSON) on the refund request described by FILE (- for stdin)."""
    try:
        raw = read_json(_read_facts(source))
    except OutOfBounds as problem:
        exit_invalid(f"invalid facts: {problem}")
        return
    except json.JSONDecodeError as problem:
        exit_invalid(f"invalid facts: not valid JSON: {problem}")
        return
    try:
        decision = decide_json(raw)
    except InvalidFacts as problem:
        exit_invalid(f"invalid facts: {problem}")
        return
    except PolicyFileError as problem:
        exit_invalid(f"invalid policy file: {problem}")
        return
    click.echo(json.dumps(decision, indent=2, ensure_ascii=False))


@click.group(
    cls=LazyGroup,
    lazy_subcommands={
        "simulate": Lazy(
            "worker.cli.policy_simulate:simulate",
            "Decide the stored past again under a proposed policy: what would change.",
        )
    },
)
def policy() -> None:
    """Billing policies: their parameters and clauses."""


@policy.command("show")
@click.argument("name", envvar="BILLING_POLICY")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def show(name: str, fmt: str) -> None:
    """Show a policy: NAME is mittrik, dmly, or the path of a policy file ($BILLING_POLICY)."""
    try:
        chosen = load_policy(name)
    except (UnknownPolicy, PolicyFileError) as problem:
        exit_invalid(f"policy show: {problem}")
        return
    if fmt == "json":
        click.echo(json.dumps(policy_document(chosen), indent=2, ensure_ascii=False))
        return
    click.echo(render_policy(chosen))


def policy_document(chosen: Policy) -> dict[str, object]:
    """The policy as a script reads it: the same header, parameters and clauses, as values."""
    return {
        "name": chosen.name,
        "title": chosen.title,
        "version": chosen.version,
        "rules": chosen.rules,
        "source": str(chosen.source),
        "parameters": {
            key: list(value) if isinstance(value, tuple) else value
            for key, value in chosen.parameter_table().items()
        },
        "clauses": dict(chosen.clauses),
    }


def render_policy(chosen: Policy, width: int = 88) -> str:
    """The policy as a person reads it: header, parameters, then each clause and its sentence."""
    version = chosen.version or "undated"
    lines = [chosen.title, "=" * len(chosen.title), f"policy {chosen.name}, version {version}"]
    lines += [f"rules: {chosen.rules}; file: {chosen.source}", "", "Parameters"]
    table = chosen.parameter_table()
    key_width = max(len(key) for key in table)
    lines += [f"  {key:<{key_width}}  {_value_text(value)}" for key, value in table.items()]
    lines += ["", "Clauses"]
    id_width = max(len(clause_id) for clause_id in chosen.clauses)
    for clause_id, sentence in chosen.clauses.items():
        lines += textwrap.wrap(
            sentence,
            width=width,
            initial_indent=f"  {clause_id:<{id_width}}  ",
            subsequent_indent=" " * (id_width + 4),
        )
    return "\n".join(lines)


def _value_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "[" + ", ".join(str(item) for item in value) + "]"
    return str(value)
