"""a device records the join token it was enrolled with (a join that never completes gives
the token's use back)

Revision ID: 0008
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0012"
branch_labels = None
depends_on = None


FK = "fk_devices_join_token_id_join_tokens"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # The REFERENCES inline: SQLite adds no constraint later without copying the table,
        # which the tables pointing at devices forbid.
        op.execute(
            "ALTER TABLE devices ADD COLUMN join_token_id VARCHAR(32) "
            f"CONSTRAINT {FK} REFERENCES join_tokens (id)"
        )
        return
    op.add_column("devices", sa.Column("join_token_id", sa.String(32), nullable=True))
    op.create_foreign_key(FK, "devices", "join_tokens", ["join_token_id"], ["id"])


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(FK, "devices", type_="foreignkey")
    op.drop_column("devices", "join_token_id")
