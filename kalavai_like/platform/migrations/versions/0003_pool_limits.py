"""pools: their own IPv4 subnet, closed to new members, deleted; join tokens by creator

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Only ADD COLUMN and CREATE INDEX: SQLite does them in place (no table copy, which the
    # devices' foreign keys to pools would refuse).
    with op.batch_alter_table("pools", schema=None, recreate="never") as batch_op:
        batch_op.add_column(
            sa.Column("closed", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("subnet", sa.String(length=18), nullable=True))
        batch_op.add_column(sa.Column("deleted_at", sa.Float(), nullable=True))
    # Pools made before keep the /16 they had: 10.<subnet_index>.0.0/16.
    op.execute(
        "UPDATE pools SET subnet = '10.' || CAST(subnet_index AS VARCHAR(8)) || '.0.0/16' "
        "WHERE subnet IS NULL"
    )
    with op.batch_alter_table("join_tokens", schema=None) as batch_op:
        batch_op.create_index(
            "ix_join_tokens_creator_time", ["created_by", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("join_tokens", schema=None) as batch_op:
        batch_op.drop_index("ix_join_tokens_creator_time")
    with op.batch_alter_table("pools", schema=None) as batch_op:
        batch_op.drop_column("deleted_at")
        batch_op.drop_column("subnet")
        batch_op.drop_column("closed")
