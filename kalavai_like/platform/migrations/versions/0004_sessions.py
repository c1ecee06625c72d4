"""log-ins expire when unused and say where they come from; throttle counters' last attempt

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Tokens from before had no end (the CLI's): they get the default idle lifetime from now.
_IDLE_LIFETIME = 30 * 86400.0


def upgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_used_at", sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column("kind", sa.String(length=8), server_default="api", nullable=False)
        )
        batch_op.add_column(sa.Column("client_address", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("user_agent", sa.String(length=200), nullable=True))
    tokens = sa.table("api_tokens", sa.column("expires_at", sa.Float()))
    op.execute(
        tokens.update()
        .where(tokens.c.expires_at.is_(None))
        .values(expires_at=time.time() + _IDLE_LIFETIME)
    )
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_at", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.drop_column("last_at")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        for column in ("user_agent", "client_address", "kind", "last_used_at"):
            batch_op.drop_column(column)
