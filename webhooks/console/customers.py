"""Accounts suspended or terminated under the chargeback rules (M6 / D6), with their disputes."""

from __future__ import annotations

from flask import render_template
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from webhooks.console import bp
from webhooks.current import current_runtime
from worker.db.models import AccountStatus, Customer, Dispute

LISTED = 500


@bp.get("/customers")
def customers() -> ResponseReturnValue:
    held = (AccountStatus.SUSPENDED, AccountStatus.TERMINATED)
    with current_runtime().sessions() as session:
        accounts = list(
            session.scalars(
                select(Customer)
                .where(Customer.account_status.in_(held))
                .order_by(Customer.updated_at.desc())
                .limit(LISTED)
            )
        )
        disputes: dict[str, list[Dispute]] = {c.id: [] for c in accounts}
        for dispute in session.scalars(
            select(Dispute)
            .where(Dispute.customer.in_(list(disputes)))
            .order_by(Dispute.state_created.desc())
        ):
            disputes[dispute.customer].append(dispute)  # type: ignore[index]
    return render_template("console/customers.html", accounts=accounts, disputes=disputes)
