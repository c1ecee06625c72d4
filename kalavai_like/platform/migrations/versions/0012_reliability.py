"""a device's reliability record: results its pool's head judged valid, invalid or in error,
and the compute of its invalid results (never granted); per device and epoch, the largest
reported

Revision ID: 0012
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0010"
branch_labels = None
depends_on = None

_Kind = type[sa.BigInteger] | type[sa.Float[float]]
_DEVICE: dict[str, _Kind] = {
    "results_valid": sa.BigInteger,
    "results_invalid": sa.BigInteger,
    "results_error": sa.BigInteger,
    "invalid_cpu": sa.Float,
}
_REPORT: dict[str, _Kind] = {
    "valid": sa.BigInteger,
    "invalid": sa.BigInteger,
    "errors": sa.BigInteger,
    "invalid_compute_seconds": sa.Float,
}


def upgrade() -> None:
    for table, columns in (("devices", _DEVICE), ("witness_reports", _REPORT)):
        with op.batch_alter_table(table, schema=None, recreate="never") as batch_op:
            for name, kind in columns.items():
                batch_op.add_column(sa.Column(name, kind(), server_default="0", nullable=False))


def downgrade() -> None:
    for table, columns in (("devices", _DEVICE), ("witness_reports", _REPORT)):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name in columns:
                batch_op.drop_column(name)
