"""pool owners' tools: join token labels, bans, a webhook per pool, notices sent per device

Revision ID: 0009
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("join_tokens", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("label", sa.String(length=64), nullable=True))
    with op.batch_alter_table("pools", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("webhook_url", sa.String(length=500), nullable=True))
    with op.batch_alter_table("devices", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("offline_notified_at", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("claims_notified_at", sa.Float(), nullable=True))
    op.create_table(
        "pool_bans",
        sa.Column("pool_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["pool_id"], ["pools.id"], name=op.f("fk_pool_bans_pool_id_pools")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_pool_bans_user_id_users")),
        sa.PrimaryKeyConstraint("pool_id", "user_id", name=op.f("pk_pool_bans")),
    )


def downgrade() -> None:
    op.drop_table("pool_bans")
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_column("claims_notified_at")
        batch_op.drop_column("offline_notified_at")
    with op.batch_alter_table("pools", schema=None) as batch_op:
        batch_op.drop_column("webhook_url")
    with op.batch_alter_table("join_tokens", schema=None) as batch_op:
        batch_op.drop_column("label")
