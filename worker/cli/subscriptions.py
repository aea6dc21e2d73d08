"""`billing-worker subscriptions`: plan and add-on changes and cancellation, as the policy says."""

from __future__ import annotations

import json

import click

from worker.cli.accounts import acting_account
from worker.cli.runtime import command_runtime
from worker.commands.subscriptions import (
    SubscriptionCancellation,
    SubscriptionChange,
    cancel_subscription,
    change_subscription,
)

FORMAT = click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)


def change_line(result: SubscriptionChange) -> str:
    clause = f" ({result.clause})" if result.clause else ""
    return (
        f"{result.subscription} {result.change}: "
        f"proration_behavior={result.proration_behavior}{clause}"
    )


def cancellation_line(result: SubscriptionCancellation) -> str:
    when = f"at the period's end, {result.ends_at}" if result.cancel_at_period_end else "now"
    return f"{result.subscription} cancelled {when} ({result.clause})"


@click.group()
def subscriptions() -> None:
    """Change or cancel a subscription with the policy's proration."""


@subscriptions.command("change")
@click.argument("subscription_id")
@click.option("--price", help="switch the plan to this price")
@click.option("--addon", "addon_item", help="the add-on's subscription item (si_...)")
@click.option("--quantity", type=click.IntRange(min=0), help="the add-on's new quantity")
@acting_account()
@FORMAT
def change_command(
    subscription_id: str,
    price: str | None,
    addon_item: str | None,
    quantity: int | None,
    account: str,
    fmt: str,
) -> None:
    """Change the plan (--price) or an add-on's quantity (--addon ITEM --quantity N)."""
    if (price is None) == (addon_item is None) or (addon_item is None) != (quantity is None):
        raise click.UsageError("give --price, or --addon with --quantity")
    result = change_subscription(
        command_runtime(),
        subscription_id,
        price=price,
        addon_item=addon_item,
        quantity=quantity,
        account=account,
    )
    click.echo(json.dumps(result.as_dict(), indent=2) if fmt == "json" else change_line(result))


@subscriptions.command("cancel")
@click.argument("subscription_id")
@acting_account()
@FORMAT
def cancel_command(subscription_id: str, account: str, fmt: str) -> None:
    """Cancel at the end of the current period."""
    result = cancel_subscription(command_runtime(), subscription_id, account)
    click.echo(
        json.dumps(result.as_dict(), indent=2) if fmt == "json" else cancellation_line(result)
    )
