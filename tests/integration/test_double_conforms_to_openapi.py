"""Every route of the Stripe double answers in Stripe's shape: each 200 body validates against
the response schema of that method and path in Stripe's OpenAPI spec (the spec3.json of the
pinned stripe-mock), so a test cannot lean on a field of the wrong type, a field Stripe always
sends but the double left out, an enum value Stripe does not have, or a field Stripe's object
does not have (DESIGN.md, guarantee 7).

The routes come from `routes.RULES`: a route added without a sample request below fails here."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from stripe_double import StripeDouble, openapi, routes

from worker import samples

DAY = 86400


@dataclass(frozen=True)
class World:
    """The ids of a seeded billing history that shows every kind of object in its states."""

    customer: str
    taxed_customer: str  # 10% exclusive tax; a 20%-off flexible (itemized) and classic plan
    product: str
    price: str
    subscription: str  # active, with a pending proration from a downgrade
    canceled_subscription: str
    changed_item: str  # the item of `subscription` the downgrade changed
    paid_invoice: str
    parts_invoice: str  # paid in two parts, with a declined attempt between them
    always_invoice_invoice: str  # made and paid by an `always_invoice` change
    draft_invoice: str
    declined_invoice: str  # open, its payment declined, the next attempt scheduled
    taxed_invoice: str  # taxed and discounted, made by an `always_invoice` change
    pending_item: str
    paid_intent: str
    declined_intent: str
    charge: str
    refunds: tuple[str, ...]  # pending, succeeded, failed, canceled
    dispute: str
    inquiry: str

    def invoices(self) -> tuple[str, ...]:
        return (
            self.paid_invoice,
            self.parts_invoice,
            self.always_invoice_invoice,
            self.draft_invoice,
            self.declined_invoice,
            self.taxed_invoice,
        )


Call = tuple[str, dict[str, Any]]  # path, params (query for GET, form body otherwise)


def post(double: StripeDouble, path: str, params: dict[str, Any]) -> dict[str, Any]:
    answer = requests.post(double.url + path, data=params, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def seed_world(double: StripeDouble) -> World:
    now = double.clock.now()
    double.customer("cus_ana", "ana@example.com", name="Ana")
    double.price("price_pro", 30000)
    double.price("price_basic", 10000)
    double.price("price_seat", 500, category="addon")
    double.price("price_growth_year", 120000, interval="year")
    double.price("price_setup", 5000, interval=None, category="one_off")
    start, end = now - 10 * DAY, now + 20 * DAY
    double.subscription("sub_main", "cus_ana", [("si_plan", "price_pro", 1)], start, end)
    double.subscription("sub_seats", "cus_ana", [("si_seats", "price_seat", 3)], start, end)
    double.subscription("sub_old", "cus_ana", [("si_old", "price_basic", 1)], start, end)

    year = samples.line(
        amount=120000, price="price_growth_year", period_start=now, period_end=now + 365 * DAY
    )
    paid = double.paid_invoice(
        "cus_ana", [year], paid_at=now, number="A-0001", subscription="sub_main"
    )
    setup = samples.line(amount=30000, price="price_setup", period_start=now, period_end=now)
    parts = double.paid_in_parts(
        "cus_ana", [setup], [20000, 10000], paid_at=now + 2, number="A-0002"
    )
    double.change_items(
        "sub_main", [{"id": "si_plan", "price": "price_basic"}], "create_prorations"
    )
    double.change_items("sub_seats", [{"id": "si_seats", "quantity": "5"}], "always_invoice")
    always = double.get("subscription", "sub_seats")["latest_invoice"]
    pending = double.invoice_item("cus_ana", 2500, "Setup help", price="price_setup")
    draft = post(double, "/v1/invoices", {"customer": "cus_ana", "subscription": "sub_seats"})
    dunned = double.declined_invoice("cus_ana", "sub_seats", 2500)
    requests.delete(f"{double.url}/v1/subscriptions/sub_old", timeout=10).raise_for_status()

    taxed = seed_taxed_customer(double, start, end)

    paid_intent = double.payment_of(paid["id"])
    charge = paid_intent["latest_charge"]
    refund = {"payment_intent": paid_intent["id"], "reason": "requested_by_customer"}
    refunds = [post(double, "/v1/refunds", {**refund, "amount": n})["id"] for n in (1, 2, 3, 4)]
    double.settle_refund(refunds[1], "succeeded")
    double.settle_refund(refunds[2], "failed")
    double.settle_refund(refunds[3], "canceled")
    post(double, "/v1/customers/cus_ana/balance_transactions", {"amount": -700, "currency": "usd"})

    [declined] = [
        p for p in double.state.all("invoice_payment", invoice=parts["id"]) if p["status"] != "paid"
    ]
    parts_intent = double.payment_of(parts["id"])
    dispute = double.dispute(parts_intent["id"])
    inquiry = double.dispute(double.payment_of(always)["id"], status="warning_needs_response")
    return World(
        customer="cus_ana",
        taxed_customer="cus_tax",
        product="prod_for_price_pro",
        price="price_pro",
        subscription="sub_main",
        canceled_subscription="sub_old",
        changed_item="si_plan",
        paid_invoice=paid["id"],
        parts_invoice=parts["id"],
        always_invoice_invoice=always,
        draft_invoice=draft["id"],
        declined_invoice=dunned["id"],
        taxed_invoice=taxed,
        pending_item=pending["id"],
        paid_intent=paid_intent["id"],
        declined_intent=declined["payment"]["payment_intent"],
        charge=charge,
        refunds=tuple(refunds),
        dispute=dispute["id"],
        inquiry=inquiry["id"],
    )


def seed_taxed_customer(double: StripeDouble, start: int, end: int) -> str:
    """cus_tax, taxed and discounted, with a pending itemized proration (flexible) and an
    invoice of a classic `always_invoice` change; returns that invoice's id."""
    double.customer("cus_tax", "tax@example.com", tax_percent=10)
    flexible = [("si_flex", "price_pro", 1)]
    double.subscription(
        "sub_flex", "cus_tax", flexible, start, end,
        proration_discounts="itemized", discount_percent=20,
    )  # fmt: skip
    classic = [("si_classic", "price_seat", 2)]
    double.subscription(
        "sub_classic", "cus_tax", classic, start, end, billing_mode="classic", discount_percent=20
    )
    double.change_items(
        "sub_flex", [{"id": "si_flex", "price": "price_basic"}], "create_prorations"
    )
    double.change_items("sub_classic", [{"id": "si_classic", "quantity": "4"}], "always_invoice")
    return str(double.get("subscription", "sub_classic")["latest_invoice"])


# One or more requests per route (by its endpoint name), together showing each kind of object
# it can answer: paid and in-parts invoices, pending and settled refunds, prorations.
SAMPLES: dict[str, Callable[[World], list[Call]]] = {
    "customer_get": lambda w: [
        (f"/v1/customers/{w.customer}", {}),
        (f"/v1/customers/{w.taxed_customer}", {}),
    ],
    "product_get": lambda w: [(f"/v1/products/{w.product}", {})],
    "subscription_get": lambda w: [
        (f"/v1/subscriptions/{w.subscription}", {}),
        (f"/v1/subscriptions/{w.canceled_subscription}", {}),
    ],
    "charge_get": lambda w: [(f"/v1/charges/{w.charge}", {})],
    "charge_list": lambda w: [
        ("/v1/charges", {"customer": w.customer, "limit": 100}),
        ("/v1/charges", {"payment_intent": w.paid_intent}),
    ],
    "payment_intent_get": lambda w: [
        (f"/v1/payment_intents/{w.paid_intent}", {}),
        (f"/v1/payment_intents/{w.declined_intent}", {}),
    ],
    "refund_get": lambda w: [(f"/v1/refunds/{r}", {}) for r in w.refunds],
    "dispute_get": lambda w: [
        (f"/v1/disputes/{w.dispute}", {}),
        (f"/v1/disputes/{w.inquiry}", {}),
    ],
    "dispute_list": lambda w: [("/v1/disputes", {"limit": 100})],
    "customer_update": lambda w: [
        (f"/v1/customers/{w.customer}", {"metadata[account_status]": "suspended"})
    ],
    "balance_transaction": lambda w: [
        (
            f"/v1/customers/{w.customer}/balance_transactions",
            {"amount": 1500, "currency": "usd", "description": "Proration reversed"},
        )
    ],
    "balance_transaction_list": lambda w: [
        (f"/v1/customers/{w.customer}/balance_transactions", {"limit": 100})
    ],
    "price_get": lambda w: [
        (f"/v1/prices/{w.price}", {}),
        (f"/v1/prices/{w.price}", {"expand[0]": "product"}),
        ("/v1/prices/price_setup", {}),
    ],
    "subscription_list": lambda w: [
        ("/v1/subscriptions", {"customer": customer, "status": "all", "limit": 100})
        for customer in (w.customer, w.taxed_customer)
    ],
    "subscription_update": lambda w: [
        (f"/v1/subscriptions/{w.subscription}", {"pause_collection[behavior]": "void"}),
        (f"/v1/subscriptions/{w.subscription}", {"cancel_at_period_end": "true"}),
        (
            f"/v1/subscriptions/{w.subscription}",
            {
                "items[0][id]": w.changed_item,
                "items[0][price]": "price_pro",
                "proration_behavior": "always_invoice",
            },
        ),
    ],
    "subscription_cancel": lambda w: [
        (f"/v1/subscriptions/{w.subscription}", {"prorate": "false", "invoice_now": "false"})
    ],
    "invoice_item_list": lambda w: [
        ("/v1/invoiceitems", {"customer": w.customer, "pending": "true", "limit": 100}),
        ("/v1/invoiceitems", {"customer": w.customer}),
        ("/v1/invoiceitems", {"customer": w.taxed_customer}),
    ],
    "invoice_item_get": lambda w: [(f"/v1/invoiceitems/{w.pending_item}", {})],
    "invoice_item_delete": lambda w: [(f"/v1/invoiceitems/{w.pending_item}", {})],
    "invoice_create": lambda w: [
        (
            "/v1/invoices",
            {
                "customer": w.customer,
                "subscription": w.subscription,
                "pending_invoice_items_behavior": "include",
            },
        )
    ],
    "invoice_list": lambda w: [
        ("/v1/invoices", {"customer": w.customer, "limit": 100}),
        ("/v1/invoices", {"customer": w.customer, "subscription": w.subscription}),
        ("/v1/invoices", {"customer": w.taxed_customer}),
    ],
    "invoice_update": lambda w: [
        (f"/v1/invoices/{w.draft_invoice}", {"auto_advance": "false", "metadata[note]": "x"})
    ],
    "invoice_preview": lambda w: [
        ("/v1/invoices/create_preview", {"customer": w.customer}),
        ("/v1/invoices/create_preview", {"customer": w.customer, "subscription": w.subscription}),
        ("/v1/invoices/create_preview", {"customer": w.taxed_customer}),
    ],
    "invoice_get": lambda w: [(f"/v1/invoices/{invoice}", {}) for invoice in w.invoices()],
    "invoice_pay": lambda w: [(f"/v1/invoices/{w.draft_invoice}/pay", {})],
    "invoice_lines": lambda w: [
        (f"/v1/invoices/{invoice}/lines", {"limit": 100}) for invoice in w.invoices()
    ],
    "invoice_payment_list": lambda w: [
        ("/v1/invoice_payments", {"invoice": invoice, "limit": 100})
        for invoice in (w.paid_invoice, w.parts_invoice, w.declined_invoice)
    ],
    "refund_create": lambda w: [
        (
            "/v1/refunds",
            {
                "payment_intent": w.paid_intent,
                "amount": 500,
                "reason": "requested_by_customer",
                "metadata[refund_request_id]": "rr_1",
            },
        )
    ],
    "refund_list": lambda w: [
        ("/v1/refunds", {"payment_intent": w.paid_intent, "limit": 100}),
        ("/v1/refunds", {"charge": w.charge}),
    ],
}


def method_of(rule: Any) -> str:
    [method] = rule.methods - {"HEAD", "OPTIONS"}
    return str(method)


def answer(double: StripeDouble, method: str, path: str, params: dict[str, Any]) -> Any:
    if method == "GET":
        return requests.get(double.url + path, params=params, timeout=10)
    return requests.request(method, double.url + path, data=params, timeout=10)


@pytest.mark.parametrize("rule", routes.RULES, ids=lambda rule: rule.endpoint)
def test_every_route_answers_in_the_shape_of_stripes_openapi_spec(
    double: StripeDouble, rule: Any
) -> None:
    method = method_of(rule)
    sample = SAMPLES.get(rule.endpoint)
    assert sample is not None, f"{method} {rule.rule} ({rule.endpoint}) has no sample in SAMPLES"
    world = seed_world(double)
    for path, params in sample(world):
        response = answer(double, method, path, params)
        assert response.status_code == 200, f"{method} {path}: {response.text}"
        problems = openapi.errors(method, rule.rule, response.json())
        shown = "\n  ".join(openapi.describe(problem) for problem in problems[:20])
        assert not problems, (
            f"{method} {rule.rule} ({path}) does not match Stripe's schema "
            f"({len(problems)} problems), first {openapi.describe(problems[0])}\n  {shown}"
        )


def test_every_sample_is_of_a_route_the_double_has() -> None:
    assert set(SAMPLES) <= {rule.endpoint for rule in routes.RULES}


# The validator itself: a conforming object passes, and each kind of mistake is caught ----------

REFUND_RULE = "/v1/refunds/<object_id>"


@pytest.fixture
def a_refund(double: StripeDouble) -> dict[str, Any]:
    world = seed_world(double)
    refund = requests.get(f"{double.url}/v1/refunds/{world.refunds[0]}", timeout=10).json()
    assert openapi.errors("GET", REFUND_RULE, refund) == []
    return refund


def failures(body: dict[str, Any], rule: str = REFUND_RULE) -> list[str]:
    return [openapi.describe(error) for error in openapi.errors("GET", rule, body)]


def test_a_string_amount_is_rejected(a_refund: dict[str, Any]) -> None:
    broken = {**a_refund, "amount": "500"}
    assert failures(broken) == ["$.amount: '500' is not of type 'integer'"]


def test_a_missing_required_field_is_rejected(a_refund: dict[str, Any]) -> None:
    broken = {k: v for k, v in a_refund.items() if k != "currency"}
    assert failures(broken) == ["$.currency: required, missing"]


def test_an_enum_value_stripe_does_not_have_is_rejected(a_refund: dict[str, Any]) -> None:
    [failure] = failures({**a_refund, "reason": "customer_asked"})
    assert failure.startswith("$.reason: 'customer_asked' is not one of ")


def test_a_null_where_stripe_never_sends_one_is_rejected(a_refund: dict[str, Any]) -> None:
    found = failures({**a_refund, "created": None})
    assert found and {failure.split(":")[0] for failure in found} == {"$.created"}


def test_a_field_stripe_does_not_have_is_rejected(a_refund: dict[str, Any]) -> None:
    # State.put gives every object `livemode`; Stripe's refund has none.
    assert failures({**a_refund, "livemode": False}) == [
        "$.livemode: not a field of this object in Stripe's spec"
    ]


def test_null_passes_only_where_the_spec_says_nullable(double: StripeDouble) -> None:
    seed_world(double)
    price = requests.get(f"{double.url}/v1/prices/price_pro", timeout=10).json()
    rule = "/v1/prices/<object_id>"
    assert failures({**price, "recurring": None}, rule) == []  # `recurring` is nullable
    [failure] = failures({**price, "product": None}, rule)  # an expandable, never null
    assert failure.startswith("$.product: None")


def test_a_wrong_field_deep_in_an_invoice_is_named_by_its_path(double: StripeDouble) -> None:
    world = seed_world(double)
    path = f"/v1/invoices/{world.always_invoice_invoice}"
    invoice = requests.get(double.url + path, timeout=10).json()
    broken = copy.deepcopy(invoice)
    broken["lines"]["data"][0]["parent"]["type"] = "subscription"  # the pre-2025 line `type`
    [failure] = failures(broken, "/v1/invoices/<object_id>")
    assert failure.startswith("$.lines.data[0].parent.type: 'subscription' is not one of ")


def test_a_route_maps_to_the_specs_path_template() -> None:
    assert openapi.spec_path("/v1/invoices/<object_id>/lines") == "/v1/invoices/{invoice}/lines"
    assert openapi.spec_path("/v1/invoices/create_preview") == "/v1/invoices/create_preview"


def test_the_spec_is_the_pinned_stripe_mocks() -> None:
    assert openapi.spec_file().parts[-4] == openapi.MODULE.split("/")[-1]
    assert openapi.spec()["openapi"].startswith("3.0")


def test_a_missing_spec_fails_saying_how_to_fetch_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Never a skip: scripts/install-services downloads the module in CI."""
    monkeypatch.setenv("GOMODCACHE", str(tmp_path))
    with pytest.raises(openapi.SpecMissing, match="go mod download github.com/stripe/stripe-mock@"):
        openapi.spec_file()
