"""The ops HTTP API for refunds and subscriptions: the same service functions as the CLI,
behind the same bearer token as the events API."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from webhooks.current import current_runtime as runtime
from webhooks.ops import ops_token_refusal, scrubbed_json
from worker.accounts import account_named
from worker.commands.refunds import (
    RequestError,
    approve,
    get_request,
    list_requests,
    reject,
    request_refund,
)
from worker.commands.subscriptions import cancel_subscription, change_subscription
from worker.db.models import PLATFORM
from worker.errors import BillingWorkerError, NotFound
from worker.input_bounds import BOUNDS
from worker.policy import REASONS

bp = Blueprint("ops_billing", __name__, url_prefix="/ops")
bp.after_request(scrubbed_json)


@bp.before_request
def _require_token() -> ResponseReturnValue | None:
    return ops_token_refusal()


@bp.errorhandler(BillingWorkerError)
def _refused(exc: BillingWorkerError) -> ResponseReturnValue:
    return jsonify(error=str(exc)), 404 if isinstance(exc, NotFound) else 422


def body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise RequestError(f"the body must be a JSON object ({BOUNDS})")
    return data


def field(data: dict[str, Any], name: str, kind: type = str, required: bool = True) -> Any:
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        raise RequestError(f"{name} must be a {kind.__name__}")
    return value


@bp.get("/refunds")
def list_refunds() -> ResponseReturnValue:
    text = request.args.get("account")
    account = _account(text) if text else None
    rows = list_requests(runtime(), request.args.get("status"), account)
    return jsonify([row.as_dict() for row in rows])


@bp.get("/refunds/<request_id>")
def show_refund(request_id: str) -> ResponseReturnValue:
    return jsonify(get_request(runtime(), request_id).as_dict())


@bp.post("/refunds")
def create_refund() -> ResponseReturnValue:
    data = body()
    reason = field(data, "reason")
    if reason not in REASONS:
        raise RequestError(f"reason must be one of {', '.join(REASONS)}")
    purchase = field(data, "purchase_date", required=False)
    try:
        purchase_date = date.fromisoformat(purchase) if purchase else None
    except ValueError:
        raise RequestError("purchase_date must be YYYY-MM-DD") from None
    if (field(data, "invoice", required=False) is None) == (purchase_date is None):
        raise RequestError("give exactly one of invoice and purchase_date")
    line_ids = data.get("line_ids")
    if line_ids is not None and not (
        isinstance(line_ids, list) and all(isinstance(i, str) for i in line_ids)
    ):
        raise RequestError("line_ids must be a list of invoice line ids")
    result = request_refund(
        runtime(),
        customer=field(data, "customer"),
        reason=reason,
        invoice=data.get("invoice"),
        purchase_date=purchase_date,
        note=field(data, "note", required=False),
        line_ids=line_ids,
        support_override=bool(data.get("support_override", False)),
        account=_acting(data),
    )
    return jsonify(result.as_dict()), (200 if result.duplicate else 201)


@bp.post("/refunds/<request_id>/approve")
def approve_refund(request_id: str) -> ResponseReturnValue:
    data = body()
    amount = field(data, "amount", int, required=False)
    return jsonify(approve(runtime(), request_id, by=field(data, "by"), amount=amount).as_dict())


@bp.post("/refunds/<request_id>/reject")
def reject_refund(request_id: str) -> ResponseReturnValue:
    data = body()
    rejected = reject(runtime(), request_id, by=field(data, "by"), why=field(data, "why"))
    return jsonify(rejected.as_dict())


@bp.post("/subscriptions/<subscription_id>/change")
def change(subscription_id: str) -> ResponseReturnValue:
    data = body()
    return jsonify(
        change_subscription(
            runtime(),
            subscription_id,
            price=field(data, "price", required=False),
            addon_item=field(data, "addon", required=False),
            quantity=field(data, "quantity", int, required=False),
            account=_acting(data),
        ).as_dict()
    )


@bp.post("/subscriptions/<subscription_id>/cancel")
def cancel(subscription_id: str) -> ResponseReturnValue:
    data = request.get_json(silent=True)
    account = _acting(data) if isinstance(data, dict) else PLATFORM
    return jsonify(cancel_subscription(runtime(), subscription_id, account).as_dict())


def _acting(data: dict[str, Any]) -> str:
    """The body's `account`: the connected account the customer belongs to (default: the
    platform's own)."""
    text = field(data, "account", required=False)
    return _account(text) if text else PLATFORM


def _account(text: str) -> str:
    try:
        return account_named(text)
    except ValueError as exc:
        raise RequestError(f"account: {exc}") from None
