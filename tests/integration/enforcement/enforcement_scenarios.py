"""What the enforcement tests buy and pay: the catalog's prices, paid invoices, subscriptions
and a disputed payment, built through `BillingWorld` as Stripe's events would announce them."""

from __future__ import annotations

from billing_world import BillingWorld, days_ago

from worker import samples


class Catalog:
    """Prices as `BillingWorld.catalog` takes them: (price id, product category, unit amount,
    interval, usage type)."""

    PLAN_YEAR = ("price_growth_year", "plan", 120000, "year", "licensed")
    PLAN_MONTH = ("price_growth_month", "plan", 10000, "month", "licensed")
    PLAN_MONTH_BIG = ("price_scale_month", "plan", 30000, "month", "licensed")
    PLAN_MONTH_SMALL = ("price_starter_month", "plan", 4000, "month", "licensed")
    AGENTS = ("price_agents", "addon", 1500, "month", "licensed")
    WHATSAPP = ("price_whatsapp_fees", "pass_through", 1, "month", "metered")
    OVERAGE = ("price_overage", None, 5, "month", "metered")


def paid_invoice(w: BillingWorld, customer: str, lines: list[dict], paid_at: int, **kwargs) -> dict:
    invoice = samples.invoice_with_lines(lines, customer=customer, paid_at=paid_at, **kwargs)
    _, status = w.deliver("invoice.paid", invoice)
    assert status == "processed"
    return invoice


def annual_line(paid_at: int, amount: int = 120000) -> dict:
    return samples.line(
        amount=amount,
        price="price_growth_year",
        period_start=paid_at,
        period_end=paid_at + 365 * 86400,
    )


def subscription_with(
    price: dict,
    sub_id: str = "sub_portal",
    customer: str = "cus_portal",
    addons: int = 0,
    addon_price: dict | None = None,
) -> dict:
    start = days_ago(15)
    items = [("si_plan", price, 1)]
    if addon_price is not None:
        items.append(("si_agents", addon_price, addons))
    return samples.subscription(
        sub_id, customer, items, period_start=start, period_end=start + 30 * 86400
    )


def disputed_invoice(w: BillingWorld) -> dict:
    w.customer("cus_chargeback", "cb@example.com")
    w.catalog(Catalog.PLAN_YEAR)
    return paid_invoice(
        w, "cus_chargeback", [annual_line(days_ago(3))], days_ago(3), payment_intent="pi_disputed"
    )
