"""The endpoints the worker calls, in Stripe's wire format: each takes the state, the decoded
params and the path's ids, and returns the JSON object to answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from werkzeug.routing import Map, Rule

from stripe_double.forms import flag
from stripe_double.shapes import in_stripes_shape
from stripe_double.state import State, StripeError, merge_metadata

Handler = Callable[..., dict[str, Any]]
HANDLERS: dict[str, Handler] = {}
RULES: list[Rule] = []


def route(method: str, path: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        RULES.append(Rule(path, methods=[method], endpoint=handler.__name__))
        HANDLERS[handler.__name__] = in_stripes_shape(handler)
        return handler

    return register


def page(items: list[dict[str, Any]], params: dict[str, Any], url: str) -> dict:
    """A list envelope with Stripe's cursor pagination (`limit`, `starting_after`)."""
    limit = int(params.get("limit") or 10)
    after = params.get("starting_after")
    if after:
        ids = [i.get("id") for i in items]
        if after not in ids:
            raise StripeError(400, f"No such object: '{after}'", param="starting_after")
        items = items[ids.index(after) + 1 :]
    return {"object": "list", "data": items[:limit], "has_more": len(items) > limit, "url": url}


# The objects answered as stored: GET /v1/<objects>/<id> is the object of that type and id.
RETRIEVED_AS_STORED: dict[str, str] = {
    "customer": "/v1/customers/<object_id>",
    "product": "/v1/products/<object_id>",
    "subscription": "/v1/subscriptions/<object_id>",
    "charge": "/v1/charges/<object_id>",
    "payment_intent": "/v1/payment_intents/<object_id>",
    "refund": "/v1/refunds/<object_id>",
    "dispute": "/v1/disputes/<object_id>",
}


def retrieve_as_stored(object_type: str) -> Handler:
    def retrieve(state: State, params: dict, object_id: str) -> dict:
        return state.get(object_type, object_id)

    retrieve.__name__ = f"{object_type}_get"
    return retrieve


for _object_type, _path in RETRIEVED_AS_STORED.items():
    route("GET", _path)(retrieve_as_stored(_object_type))


@route("POST", "/v1/customers/<object_id>")
def customer_update(state: State, params: dict, object_id: str) -> dict:
    customer = state.get("customer", object_id)
    if "metadata" in params:
        merge_metadata(customer, params["metadata"])
    return customer


@route("POST", "/v1/customers/<object_id>/balance_transactions")
def balance_transaction(state: State, params: dict, object_id: str) -> dict:
    customer = state.get("customer", object_id)
    amount = int(params["amount"])
    customer["balance"] = customer.get("balance", 0) + amount
    return state.put(
        "customer_balance_transaction",
        {
            "id": state.new_id("cbtxn"),
            "object": "customer_balance_transaction",
            "amount": amount,
            "currency": params.get("currency") or state.currency_of(object_id),
            "customer": object_id,
            "description": params.get("description"),
            "ending_balance": customer["balance"],
            "type": "adjustment",
            "metadata": dict(params.get("metadata") or {}),
        },
    )


@route("GET", "/v1/customers/<object_id>/balance_transactions")
def balance_transaction_list(state: State, params: dict, object_id: str) -> dict:
    state.get("customer", object_id)
    found = state.all("customer_balance_transaction", customer=object_id)
    return page(found, params, f"/v1/customers/{object_id}/balance_transactions")


@route("GET", "/v1/prices/<object_id>")
def price_get(state: State, params: dict, object_id: str) -> dict:
    price = dict(state.get("price", object_id))
    if "product" in (params.get("expand") or []):
        price["product"] = state.get("product", price["product"])
    return price


@route("GET", "/v1/subscriptions")
def subscription_list(state: State, params: dict) -> dict:
    subs = state.subscriptions_of(params["customer"])
    status = params.get("status")
    if status != "all":  # Stripe's default hides canceled subscriptions
        subs = [s for s in subs if (s["status"] == status if status else s["status"] != "canceled")]
    return page(subs, params, "/v1/subscriptions")


@route("POST", "/v1/subscriptions/<object_id>")
def subscription_update(state: State, params: dict, object_id: str) -> dict:
    return state.update_subscription(object_id, params)


@route("DELETE", "/v1/subscriptions/<object_id>")
def subscription_cancel(state: State, params: dict, object_id: str) -> dict:
    return state.cancel_subscription(object_id, params)


@route("GET", "/v1/invoiceitems")
def invoice_item_list(state: State, params: dict) -> dict:
    items = state.all("invoiceitem", customer=params["customer"])
    if "pending" in params:
        items = [i for i in items if (i["invoice"] is None) == flag(params["pending"])]
    return page(items, params, "/v1/invoiceitems")


@route("GET", "/v1/invoiceitems/<object_id>")
def invoice_item_get(state: State, params: dict, object_id: str) -> dict:
    return state.get("invoiceitem", object_id)


@route("DELETE", "/v1/invoiceitems/<object_id>")
def invoice_item_delete(state: State, params: dict, object_id: str) -> dict:
    item = state.get("invoiceitem", object_id)
    if item["invoice"] is not None:
        raise StripeError(400, f"Invoice item {object_id} is already on invoice {item['invoice']}")
    del state.objects["invoiceitem"][object_id]
    return {"id": object_id, "object": "invoiceitem", "deleted": True}


@route("POST", "/v1/invoices")
def invoice_create(state: State, params: dict) -> dict:
    include = params.get("pending_invoice_items_behavior") == "include"
    return wire_invoice(
        state.create_invoice(
            params["customer"],
            params.get("subscription"),
            items=None if include else [],
            # API-made invoices do not advance unless asked (docs: automatic advancement).
            auto_advance=flag(params.get("auto_advance", "false")),
            metadata=params.get("metadata"),
        )
    )


@route("GET", "/v1/invoices")
def invoice_list(state: State, params: dict) -> dict:
    match = {k: params[k] for k in ("customer", "status") if params.get(k)}
    invoices = state.all("invoice", **match)
    if params.get("subscription"):
        invoices = [i for i in invoices if _invoice_sub(i) == params["subscription"]]
    return page([wire_invoice(i) for i in invoices], params, "/v1/invoices")


@route("POST", "/v1/invoices/<object_id>")
def invoice_update(state: State, params: dict, object_id: str) -> dict:
    return wire_invoice(state.update_invoice(object_id, params))


@route("POST", "/v1/invoices/create_preview")
def invoice_preview(state: State, params: dict) -> dict:
    preview = state.preview(params["customer"], params.get("subscription"))
    # A preview is made now, for the invoice its subscription would send next (`upcoming`:
    # https://docs.stripe.com/api/invoices/object#invoice_object-billing_reason).
    preview.setdefault("created", state.clock.now())
    preview.setdefault("billing_reason", "upcoming")
    return wire_invoice(preview)


@route("GET", "/v1/invoices/<object_id>")
def invoice_get(state: State, params: dict, object_id: str) -> dict:
    return wire_invoice(state.get("invoice", object_id))


@route("POST", "/v1/invoices/<object_id>/pay")
def invoice_pay(state: State, params: dict, object_id: str) -> dict:
    return wire_invoice(state.pay_invoice(object_id, decline=params.get("_decline", False)))


@route("GET", "/v1/invoices/<object_id>/lines")
def invoice_lines(state: State, params: dict, object_id: str) -> dict:
    lines = state.get("invoice", object_id)["lines"]
    return page(lines, params, f"/v1/invoices/{object_id}/lines")


@route("GET", "/v1/invoice_payments")
def invoice_payment_list(state: State, params: dict) -> dict:
    payments = state.all("invoice_payment", invoice=params["invoice"])
    return page(payments, params, "/v1/invoice_payments")


@route("POST", "/v1/refunds")
def refund_create(state: State, params: dict) -> dict:
    return state.create_refund(params)


@route("GET", "/v1/refunds")
def refund_list(state: State, params: dict) -> dict:
    match = {k: params[k] for k in ("charge", "payment_intent") if params.get(k)}
    return page(state.all("refund", **match), params, "/v1/refunds")


def _invoice_sub(invoice: dict[str, Any]) -> str | None:
    return ((invoice.get("parent") or {}).get("subscription_details") or {}).get("subscription")


def wire_invoice(invoice: dict[str, Any]) -> dict[str, Any]:
    """An invoice as Stripe shows it: its lines as a list envelope with the first page."""
    lines = invoice["lines"]
    shown = dict(invoice)
    shown["lines"] = {
        "object": "list",
        "data": lines[:10],
        "has_more": len(lines) > 10,
        "total_count": len(lines),
        "url": f"/v1/invoices/{invoice['id']}/lines",
    }
    return shown


# Reconciliation's reads (worker/reconcile/) ------------------------------------------------


@route("GET", "/v1/charges")
def charge_list(state: State, params: dict) -> dict:
    match = {k: params[k] for k in ("customer", "payment_intent") if params.get(k)}
    return page(state.all("charge", **match), params, "/v1/charges")


@route("GET", "/v1/disputes")
def dispute_list(state: State, params: dict) -> dict:
    match = {k: params[k] for k in ("charge", "payment_intent") if params.get(k)}
    return page(state.all("dispute", **match), params, "/v1/disputes")


# Built last: every route above, including those appended at the end of this module.
URLS = Map(RULES)
