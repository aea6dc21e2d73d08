"""Stripe Connect: every Stripe object is keyed by (account, id); existing rows are the platform's

The platform's account is '' (worker.db.models.PLATFORM), not NULL: it is part of primary keys.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 02:10:00
"""

import warnings

import sqlalchemy as sa
from alembic import op
from sqlalchemy.exc import SAWarning

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# The tables of Stripe objects: their key becomes (account, id).
KEYED_BY_ACCOUNT = (
    "customers",
    "products",
    "prices",
    "invoices",
    "invoice_lines",
    "refunds",
    "subscriptions",
    "disputes",
)


def _account_column() -> sa.Column[str]:
    return sa.Column("account", sa.String(length=255), nullable=False, server_default="")


def _set_primary_key(table: str, columns: list[str]) -> None:
    """PostgreSQL names a table's key `<table>_pkey`; SQLite's batch mode recreates the table,
    replacing its unnamed key with this one (of the same name, so both dialects agree)."""
    name = f"{table}_pkey"
    postgresql = op.get_bind().dialect.name == "postgresql"
    with warnings.catch_warnings():
        # SQLite's copy keeps `id`'s own primary-key flag, and SQLAlchemy warns that the new key
        # (account, id) replaces it: which is what is asked.
        warnings.filterwarnings("ignore", "Table '_alembic_tmp_", SAWarning)
        with op.batch_alter_table(table, schema=None) as batch_op:
            if postgresql:
                batch_op.drop_constraint(name, type_="primary")
            batch_op.create_primary_key(name, columns)


def upgrade() -> None:
    for table in KEYED_BY_ACCOUNT:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(_account_column())
        _set_primary_key(table, ["account", "id"])
    with op.batch_alter_table("refund_requests", schema=None) as batch_op:
        batch_op.add_column(_account_column())
    op.execute("UPDATE events SET account = '' WHERE account IS NULL")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.alter_column(
            "account",
            existing_type=sa.String(length=255),
            nullable=False,
            server_default="",
        )
        batch_op.create_index("ix_events_account", ["account"], unique=False)


def downgrade() -> None:
    """Fails where two accounts hold the same id: their rows cannot share one key again."""
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_account")
        batch_op.alter_column(
            "account", existing_type=sa.String(length=255), nullable=True, server_default=None
        )
    op.execute("UPDATE events SET account = NULL WHERE account = ''")
    with op.batch_alter_table("refund_requests", schema=None) as batch_op:
        batch_op.drop_column("account")
    for table in reversed(KEYED_BY_ACCOUNT):
        _set_primary_key(table, ["id"])
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("account")
