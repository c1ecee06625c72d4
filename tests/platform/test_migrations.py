"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from kalavai_like.platform.db import Database
from kalavai_like.platform.models import Base

KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.mark.parametrize("kind", KINDS)
def test_migrated_schema_matches_the_models(
    kind: str, tmp_path: Path, make_postgres_url: Callable[[], str]
) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}" if kind == "sqlite" else make_postgres_url()
    db = Database(url)
    try:
        db.migrate()
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        db.dispose()
    assert diff == [], f"models and migrations disagree: {diff}"
