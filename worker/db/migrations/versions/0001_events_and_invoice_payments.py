"""events and invoice payments

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("type", sa.String(255), nullable=False),
        sa.Column("created", UTC_DATETIME, nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("account", sa.String(255)),
        sa.Column("api_version", sa.String(64)),
        sa.Column("customer", sa.String(255)),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("received_at", UTC_DATETIME, nullable=False),
        sa.Column("enqueued_at", UTC_DATETIME),
        sa.Column("processed_at", UTC_DATETIME),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text()),
        sa.Column("last_traceback", sa.Text()),
    )
    op.create_index("ix_events_customer", "events", ["customer"])
    op.create_index("ix_events_status_received_at", "events", ["status", "received_at"])
    op.create_index("ix_events_type", "events", ["type"])

    op.create_table(
        "invoice_payments",
        sa.Column("invoice_id", sa.String(255), primary_key=True),
        sa.Column("customer", sa.String(255), nullable=False),
        sa.Column("number", sa.String(255)),
        sa.Column("amount_paid", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("paid_at", UTC_DATETIME, nullable=False),
        sa.Column("billing_reason", sa.String(64)),
        sa.Column("event_id", sa.String(255), nullable=False),
        sa.Column("raw", sa.JSON(), nullable=False),
    )
    op.create_index("ix_invoice_payments_customer", "invoice_payments", ["customer"])
    op.create_index("ix_invoice_payments_number", "invoice_payments", ["number"])


def downgrade() -> None:
    op.drop_table("invoice_payments")
    op.drop_table("events")
