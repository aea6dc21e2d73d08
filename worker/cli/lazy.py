"""Click's "Lazily Loading Subcommands" pattern: a group that imports a command's module only
when that command is asked for, so one command never pays for the imports of the others."""

from __future__ import annotations

import importlib
from typing import Any, NamedTuple

import click

PACKAGE = "stripe-billing-worker"
PROG = "billing-worker"


class Lazy(NamedTuple):
    """Where a command lives (`module:attribute`), and its line in the group's --help."""

    target: str
    help: str


class LazyGroup(click.Group):
    """A group whose `lazy_subcommands` are imported when one of them is asked for."""

    def __init__(self, *args: Any, lazy_subcommands: dict[str, Lazy], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_subcommands = lazy_subcommands

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_subcommands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy_subcommands:
            return self._lazy_load(cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Click would import every command for its one line of help; the table has the line.
        rows = [(name, lazy.help) for name, lazy in sorted(self.lazy_subcommands.items())]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def _lazy_load(self, cmd_name: str) -> click.Command:
        module_name, attribute = self.lazy_subcommands[cmd_name].target.split(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{module_name}:{attribute} is not a click command")
        with_version(command)
        return command


def with_version(command: click.Command) -> None:
    """`--version` on every command and subcommand, as on `billing-worker` itself."""
    if any("--version" in getattr(param, "opts", ()) for param in command.params):
        return
    click.version_option(package_name=PACKAGE, prog_name=PROG)(command)
    for sub in getattr(command, "commands", {}).values():
        with_version(sub)
