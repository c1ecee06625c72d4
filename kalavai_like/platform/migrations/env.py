"""Alembic environment: runs on the connection the platform hands over (see db.migrate)."""

from __future__ import annotations

from alembic import context

from kalavai_like.platform.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through kalavai_like.platform.db.Database.migrate")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
