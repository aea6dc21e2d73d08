"""`billing-worker demo`: load the README's demo world into a running worker."""

from __future__ import annotations

from collections import Counter

import click

from worker.config import load_settings
from worker.fixtures import demo_world
from worker.fixtures.delivery import (
    ReceiverUnreachable,
    StillWaiting,
    post_event,
    receiver_url,
    wait_for_outcomes,
)
from worker.samples import int_now


@click.command()
@click.option("--url", help="receiver URL (default: this machine's HOST:PORT)")
def demo(url: str | None) -> None:
    """Post the demo world's signed events (customers Ana, Bob and Cleo, their subscriptions,
    paid invoices at known ages, two chargebacks) to the receiver and wait until they are
    processed."""
    settings = load_settings()
    target = receiver_url(settings, url)
    now = int_now()
    batches, purchases = demo_world.world(now)
    outcomes: Counter[str] = Counter()
    try:
        for batch in batches:
            for evt in batch:
                delivery = post_event(settings, target, evt)
                if not delivery.ok:
                    raise click.ClickException(f"the receiver refused {delivery.line()}")
            # The next batch builds on this one, as it would have at Stripe: wait for it.
            done = wait_for_outcomes(settings, [evt["id"] for evt in batch])
            outcomes.update(done.values())
    except (ReceiverUnreachable, StillWaiting) as exc:
        raise click.ClickException(str(exc)) from None
    counts = ", ".join(f"{status} {count}" for status, count in sorted(outcomes.items()))
    click.echo(f"demo world as of {demo_world.today(now)}, posted to {target}")
    click.echo(f"events: {counts}")
    for customer, email in (
        ("cus_ana", "ana@example.com"),
        ("cus_bob", "bob@example.com"),
        ("cus_cleo", "cleo@example.com"),
    ):
        click.echo(f"{customer}  {email}")
        for bought in (p for p in purchases if p.customer == customer):
            ago = "1 day" if bought.days_ago == 1 else f"{bought.days_ago} days"
            when = f"{demo_world.day_of(now, bought.days_ago)} ({ago} ago)"
            click.echo(f"  {bought.number}  paid {when:<25} {bought.amount:>7} usd  {bought.what}")
    click.echo(
        "subscriptions: sub_ana (monthly; add-on item si_agents), sub_ana_sales and "
        "sub_ana_support (annual), sub_bob (monthly), sub_cleo (monthly)"
    )
    click.echo("suspended: cus_cleo (fraudulent chargeback dp_demo_cleo, M6.dispute)")
    click.echo(
        "prices: price_growth_month, price_growth_year, price_starter_month, "
        "price_agents_month, price_whatsapp_messages"
    )
