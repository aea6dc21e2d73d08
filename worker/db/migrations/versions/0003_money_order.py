"""disputes keep their loss, refunds their newest state, refund requests their attempt

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 23:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("disputes", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("lost", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("state_created", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("failure_reason", sa.String(length=64), nullable=True))
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("refunded_reported_at", sa.DateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("refund_requests", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("refund_attempt", sa.Integer(), nullable=False, server_default="1")
        )


def downgrade() -> None:
    with op.batch_alter_table("refund_requests", schema=None) as batch_op:
        batch_op.drop_column("refund_attempt")
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.drop_column("refunded_reported_at")
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.drop_column("failure_reason")
        batch_op.drop_column("state_created")
    with op.batch_alter_table("disputes", schema=None) as batch_op:
        batch_op.drop_column("lost")
