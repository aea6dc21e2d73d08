"""The `--since` / `--until` options' type: a moment as people type it (worker/timespec.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from worker.timespec import parse_moment


class Moment(click.ParamType):
    name = "moment"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, datetime):
            return value
        try:
            return parse_moment(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


MOMENT = Moment()
