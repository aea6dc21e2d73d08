"""The console's free-text form fields and their length limits: a template's `maxlength` reads
the limit from here, and the server refuses a longer value (400) before anything is stored, as a
request that did not come from the page (a script, an edited form) may send one."""

from __future__ import annotations

from flask import render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import BadRequest

from webhooks.console import bp

# field name: (label on the form, most characters)
FIELDS = {
    "name": ("Your name", 80),  # the login form: recorded on every decision
    "why": ("Reason", 500),  # a rejection: told to the customer
}


class FieldTooLong(BadRequest):
    """A form field past its `maxlength`; the description says which and by how much."""


def form_text(name: str) -> str:
    """The field as typed, its runs of spaces made one; FieldTooLong past its limit."""
    label, most = FIELDS[name]
    text = request.form.get(name, "")
    if len(text) > most:
        raise FieldTooLong(
            f"{label} is {len(text)} characters long; at most {most}. Nothing was saved."
        )
    return " ".join(text.split())


@bp.app_context_processor
def _maxlength() -> dict[str, dict[str, int]]:
    return {"maxlength": {name: most for name, (_, most) in FIELDS.items()}}


@bp.errorhandler(FieldTooLong)
def _too_long(exc: FieldTooLong) -> ResponseReturnValue:
    return render_template("console/not_saved.html", reason=exc.description), 400
