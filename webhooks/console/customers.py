"""Accounts suspended or terminated under the chargeback rules (M6 / D6), with their disputes."""

from __future__ import annotations

from flask import render_template
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from webhooks.console import bp
from webhooks.console.accounts import account_arg
from webhooks.current import current_runtime
from worker.db.models import AccountStatus, Customer, Dispute

LISTED = 500


@bp.get("/customers")
def customers() -> ResponseReturnValue:
    held = (AccountStatus.SUSPENDED, AccountStatus.TERMINATED)
    account, error = account_arg()
    query = select(Customer).where(Customer.account_status.in_(held))
    if account is not None:
        query = query.where(Customer.account == account)
    with current_runtime().sessions() as session:
        accounts = list(session.scalars(query.order_by(Customer.updated_at.desc()).limit(LISTED)))
        # By (account, customer): two connected accounts may have customers of the same id.
        disputes: dict[tuple[str, str], list[Dispute]] = {(c.account, c.id): [] for c in accounts}
        for dispute in session.scalars(
            select(Dispute)
            .where(Dispute.customer.in_({c.id for c in accounts}))
            .order_by(Dispute.state_created.desc())
        ):
            disputes.get((dispute.account, dispute.customer or ""), []).append(dispute)
    return render_template(
        "console/customers.html",
        accounts=accounts,
        disputes=disputes,
        account=account,
        error=error,
    )
