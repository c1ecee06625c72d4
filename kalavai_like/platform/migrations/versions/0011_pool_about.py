"""a pool's own words for its public page: description, what it computes, who runs it

Revision ID: 0011
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pools", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("description", sa.Text(), server_default="", nullable=False))
        batch_op.add_column(
            sa.Column("computes", sa.String(length=200), server_default="", nullable=False)
        )
        batch_op.add_column(
            sa.Column("run_by", sa.String(length=120), server_default="", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("pools", schema=None) as batch_op:
        batch_op.drop_column("run_by")
        batch_op.drop_column("computes")
        batch_op.drop_column("description")
