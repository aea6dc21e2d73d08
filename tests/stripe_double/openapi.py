"""Stripe's OpenAPI spec, as the pinned stripe-mock ships it, and a validator of the double's
answers against it: the response schema of a (method, route) from the spec's `paths`.

The spec is `embedded/openapi/spec3.json` of the stripe-mock Go module that
scripts/install-services downloads (`go mod download github.com/stripe/stripe-mock@<pin>`).
Validation is `openapi-schema-validator`'s OpenAPI 3.0 read validator, which knows the spec's
`nullable`, the `anyOf` of expandable fields and `$ref`s to `components`.
"""

from __future__ import annotations

import functools
import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from harness.servers import STRIPE_MOCK_VERSION
from jsonschema.exceptions import ValidationError, best_match
from jsonschema.protocols import Validator
from jsonschema.validators import extend
from openapi_schema_validator import OAS30ReadValidator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

SPEC_URI = "urn:stripe:spec3"
MODULE = f"github.com/stripe/stripe-mock@{STRIPE_MOCK_VERSION}"


class SpecMissing(RuntimeError):
    """The pinned spec is not in the Go module cache; the message says how to fetch it."""


def spec_file() -> Path:
    """spec3.json in the Go module cache (`go env GOMODCACHE`, else Go's default)."""
    try:
        found = subprocess.run(
            ["go", "env", "GOMODCACHE"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except FileNotFoundError:  # no Go: the default cache may still hold the module
        found = ""
    cache = Path(found or "~/go/pkg/mod").expanduser()
    path = cache / MODULE / "embedded/openapi/spec3.json"
    if not path.is_file():
        raise SpecMissing(
            f"Stripe's OpenAPI spec is not at {path}: run scripts/install-services, or "
            f"`go mod download {MODULE}` in a Go module"
        )
    return path


@functools.cache
def spec() -> dict[str, Any]:
    return json.loads(spec_file().read_text())


@functools.cache
def _registry() -> Registry:
    # The whole spec is one resource, so its `#/components/...` references resolve in it.
    # OpenAPI 3.0 schemas are a draft-4 dialect (`id`, not `$id`); the spec uses neither.
    return Registry().with_resource(SPEC_URI, Resource.from_contents(spec(), DRAFT4))


Keyword = Callable[[Any, Any, Any, dict[str, Any]], Iterator[ValidationError]]


def _or_null(keyword: Keyword) -> Keyword:
    """`keyword`, letting `null` through where the schema says `nullable: true`.

    Stripe's spec writes a nullable expandable field as `{"anyOf": [...], "nullable": true}`
    and a nullable enum as `{"enum": [...], "nullable": true, "type": "string"}`, meaning the
    field may be null (its docs say so: "This property is `null` until ..."). OpenAPI 3.0.3
    made `nullable` act on `type` alone, so the library would reject those nulls."""

    def check(validator: Any, value: Any, instance: Any, schema: dict[str, Any]) -> Any:
        if instance is None and schema.get("nullable") is True:
            return
        yield from keyword(validator, value, instance, schema)

    return check


# Stripe sends `total_count` on a list embedded in an object (an invoice's `lines`, a
# subscription's `items`), though the spec's list schemas leave it out.
UNLISTED_BUT_SENT = {"total_count"}


def _documented_only(keyword: Keyword) -> Keyword:
    """`properties`, and also no field the schema does not name: the spec leaves
    `additionalProperties` out of its objects (open to new fields), but a field the double
    sends and Stripe does not is one a test could lean on and production never see."""

    def check(validator: Any, properties: Any, instance: Any, schema: dict[str, Any]) -> Any:
        yield from keyword(validator, properties, instance, schema)
        if not validator.is_type(instance, "object") or "additionalProperties" in schema:
            return
        for name in sorted(set(instance) - set(properties) - UNLISTED_BUT_SENT):
            yield ValidationError("not a field of this object in Stripe's spec", path=[name])

    return check


StripeSpecValidator = extend(
    OAS30ReadValidator,
    validators={
        "anyOf": _or_null(OAS30ReadValidator.VALIDATORS["anyOf"]),
        "enum": _or_null(OAS30ReadValidator.VALIDATORS["enum"]),
        "properties": _documented_only(OAS30ReadValidator.VALIDATORS["properties"]),
    },
)


def spec_path(rule: str) -> str:
    """The spec's path template for a werkzeug rule: `/v1/invoices/<object_id>/lines` is
    `/v1/invoices/{invoice}/lines`. A literal segment matches only itself, a variable only a
    variable, so `/v1/invoices/create_preview` is not taken for `/v1/invoices/{invoice}`."""
    wanted = [None if part.startswith("<") else part for part in rule.split("/")]
    for template in spec()["paths"]:
        parts = [None if part.startswith("{") else part for part in template.split("/")]
        if parts == wanted:
            return template
    raise KeyError(f"Stripe's spec has no path for {rule}")


def _pointer(*parts: str) -> str:
    return "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)


@functools.cache
def validator(method: str, rule: str) -> Validator:
    """The validator of a 200 answer to `method rule`, by a `$ref` into the spec's `paths`."""
    template = spec_path(rule)
    operation = spec()["paths"][template].get(method.lower())
    if operation is None:
        raise KeyError(f"Stripe's spec has no {method} {template}")
    ref = _pointer("", "paths", template, method.lower(), "responses", "200", "content")
    ref += "/" + _pointer("application/json", "schema")
    return StripeSpecValidator({"$ref": f"{SPEC_URI}#{ref}"}, registry=_registry())


def errors(method: str, rule: str, body: dict[str, Any]) -> list[ValidationError]:
    """Every way `body` breaks the schema, the most specific first in path order.

    An `anyOf` (an expandable field: an id or the object) fails as a whole; `best_match`
    descends to its deepest alternative's error, which names the field that is wrong."""
    found = [best_match([error]) for error in validator(method, rule).iter_errors(body)]
    return sorted(found, key=lambda error: [str(part) for part in error.absolute_path])


def describe(error: ValidationError) -> str:
    """The field's path and what is wrong with it: `$.lines.data[0].amount: '5' is not of type
    'integer'`; a missing field by its own path, `$.lines.data[0].subtotal: required, missing`."""
    if error.validator == "required":  # the message is "'<field>' is a required property"
        field = error.message.split("'")[1]
        return f"{error.json_path}.{field}: required, missing"
    return f"{error.json_path}: {error.message}"
