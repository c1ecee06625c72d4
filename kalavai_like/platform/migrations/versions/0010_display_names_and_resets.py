"""display names (existing users get one derived from their id, never their email), password
reset links, and account key names unique per user among live keys

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

LIVE = sa.text("revoked_at IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None, recreate="never") as batch_op:
        batch_op.add_column(
            sa.Column("display_name", sa.String(length=64), server_default="", nullable=False)
        )
    op.execute("UPDATE users SET display_name = 'user-' || substr(id, 1, 8)")
    op.create_table(
        "password_resets",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("used_at", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_password_resets_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_password_resets")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_password_resets_token_hash")),
    )
    op.create_index(
        op.f("ix_password_resets_user_id"), "password_resets", ["user_id"], unique=False
    )
    _rename_duplicate_keys()
    op.create_index(
        "uq_account_keys_user_live_name", "account_keys", ["user_id", "name"], unique=True,
        sqlite_where=LIVE, postgresql_where=LIVE,
    )  # fmt: skip


def _rename_duplicate_keys() -> None:
    """Live keys sharing a name with an older live key of the same user become 'name (2)'..."""
    conn = op.get_bind()
    rows = conn.execute(
        sa.text(
            "SELECT id, user_id, name FROM account_keys WHERE revoked_at IS NULL "
            "ORDER BY created_at, id"
        )
    ).all()
    taken = {(u, n) for _, u, n in rows}
    seen: set[tuple[str, str]] = set()
    for key_id, user_id, name in rows:
        if (user_id, name) not in seen:
            seen.add((user_id, name))
            continue
        n = 2
        while (user_id, f"{name[:56]} ({n})") in taken:
            n += 1
        new = f"{name[:56]} ({n})"
        taken.add((user_id, new))
        seen.add((user_id, new))
        conn.execute(
            sa.text("UPDATE account_keys SET name = :name WHERE id = :id"),
            {"name": new, "id": key_id},
        )


def downgrade() -> None:
    op.drop_index("uq_account_keys_user_live_name", table_name="account_keys")
    op.drop_index(op.f("ix_password_resets_user_id"), table_name="password_resets")
    op.drop_table("password_resets")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("display_name")
