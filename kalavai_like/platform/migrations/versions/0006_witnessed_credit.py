"""credit needs a witness: witness reports per device and epoch, the devices' claimed, pending
and unverified usage, their session's measured time, and unverified usage per day

Credit granted before this revision had no witness: it becomes unverified (kept, shown to the
volunteer and the pool's owner, never on the leaderboard).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_DEVICE_FLOATS = (
    "session_at",
    "session_span",
    "session_cpu",
    "session_ram",
    "session_gpu",
    "claimed_cpu",
    "claimed_ram",
    "claimed_gpu",
    "unverified_cpu",
    "unverified_ram",
    "unverified_gpu",
    "mark_due",
    "mark_cpu",
    "mark_ram",
    "mark_gpu",
    "claim_due",
    "witnessed_cpu",
    "witnessed_connected",
    "std_recent_avg",
)
_DAY_FLOATS = ("unverified_cpu", "unverified_ram", "unverified_gpu", "unverified_credit")


def _zero(name: str, kind: Any = sa.Float) -> sa.Column[Any]:
    return sa.Column(name, kind(), server_default="0", nullable=False)


def upgrade() -> None:
    op.create_table(
        "witness_reports",
        sa.Column("device_id", sa.String(length=32), nullable=False),
        sa.Column("epoch", sa.String(length=32), nullable=False),
        sa.Column("tasks", sa.BigInteger(), nullable=False),
        sa.Column("compute_seconds", sa.Float(), nullable=False),
        sa.Column("connected_seconds", sa.Float(), nullable=False),
        sa.Column("threads", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name=op.f("fk_witness_reports_device_id_devices")
        ),
        sa.PrimaryKeyConstraint("device_id", "epoch", name=op.f("pk_witness_reports")),
    )
    op.create_table(
        "witness_epochs",
        sa.Column("pool_id", sa.String(length=32), nullable=False),
        sa.Column("epoch", sa.String(length=32), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["pool_id"], ["pools.id"], name=op.f("fk_witness_epochs_pool_id_pools")
        ),
        sa.PrimaryKeyConstraint("pool_id", "epoch", name=op.f("pk_witness_epochs")),
    )
    # ADD COLUMN only: SQLite does it in place (no copy of tables others refer to).
    with op.batch_alter_table("devices", schema=None, recreate="never") as batch_op:
        for name in _DEVICE_FLOATS:
            batch_op.add_column(_zero(name))
        batch_op.add_column(sa.Column("sample_origin", sa.Float(), nullable=True))
        batch_op.add_column(_zero("witnessed_tasks", sa.BigInteger))
        batch_op.add_column(_zero("witness_rev", sa.BigInteger))
    with op.batch_alter_table("usage_days", schema=None, recreate="never") as batch_op:
        for name in _DAY_FLOATS:
            batch_op.add_column(_zero(name))
    # What was granted so far had no witness: it is unverified. A new session starts now.
    op.execute(
        "UPDATE devices SET claimed_cpu = granted_cpu, claimed_ram = granted_ram,"
        " claimed_gpu = granted_gpu, unverified_cpu = granted_cpu,"
        " unverified_ram = granted_ram, unverified_gpu = granted_gpu, granted_cpu = 0,"
        " granted_ram = 0, granted_gpu = 0, credit = 0, recent_avg = 0, session_at = base_at"
    )
    op.execute(
        "UPDATE usage_days SET unverified_cpu = cpu, unverified_ram = ram, unverified_gpu = gpu,"
        " unverified_credit = credit, cpu = 0, ram = 0, gpu = 0, credit = 0"
    )


def downgrade() -> None:
    with op.batch_alter_table("usage_days", schema=None) as batch_op:
        for name in reversed(_DAY_FLOATS):
            batch_op.drop_column(name)
    with op.batch_alter_table("devices", schema=None) as batch_op:
        for name in ("witness_rev", "witnessed_tasks", "sample_origin", *_DEVICE_FLOATS[::-1]):
            batch_op.drop_column(name)
    op.drop_table("witness_epochs")
    op.drop_table("witness_reports")
