"""operators and suspended users; pools the operator trusts; owners' hardware maxima per device

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ADD COLUMN only: SQLite does it in place (no copy of tables others refer to).
    with op.batch_alter_table("users", schema=None, recreate="never") as batch_op:
        batch_op.add_column(
            sa.Column("operator", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("suspended_at", sa.Float(), nullable=True))
    with op.batch_alter_table("pools", schema=None, recreate="never") as batch_op:
        batch_op.add_column(
            sa.Column("trusted", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("max_cores", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("max_memory_bytes", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("max_gpus", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pools", schema=None) as batch_op:
        for column in ("max_gpus", "max_memory_bytes", "max_cores", "trusted"):
            batch_op.drop_column(column)
    with op.batch_alter_table("users", schema=None) as batch_op:
        for column in ("suspended_at", "operator"):
            batch_op.drop_column(column)
