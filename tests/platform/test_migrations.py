"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from kalavai_like.platform.db import Database, alembic_config
from kalavai_like.platform.models import Base

KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=KINDS)
def empty_db(
    request: pytest.FixtureRequest, tmp_path: Path, make_postgres_url: Callable[[], str]
) -> Iterator[Database]:
    """A new, empty database on each backend."""
    url = f"sqlite:///{tmp_path / 'p.db'}" if request.param == "sqlite" else make_postgres_url()
    db = Database(url)
    try:
        yield db
    finally:
        db.dispose()


def test_migrated_schema_matches_the_models(empty_db: Database) -> None:
    empty_db.migrate()
    with empty_db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], f"models and migrations disagree: {diff}"


def test_pools_made_before_keep_their_subnets(empty_db: Database) -> None:
    """Migration 0003 gives every existing pool the 10.N.0.0/16 it had; its devices stay."""
    _old_rows_at(empty_db, "0002")
    empty_db.migrate()
    with empty_db.engine.connect() as conn:
        pools = conn.execute(text("SELECT name, subnet, closed, deleted_at FROM pools")).all()
        devices = conn.execute(text("SELECT id, pool_id FROM devices")).all()
    assert pools == [("old", "10.37.0.0/16", False, None)]
    assert devices == [("d" * 32, "p" * 32)]


def _old_rows_at(db: Database, revision: str) -> None:
    """The schema of `revision`, with a user, a pool and a device of those days in it."""
    with db.engine.begin() as conn:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        for statement in OLD_ROWS.split(";")[:-1]:
            conn.execute(text(statement))


OLD_ROWS = """
INSERT INTO users (id, email, password_hash, created_at) VALUES ('{u}', 'a@b.c', 'x', 0);
INSERT INTO pools (id, name, owner_id, template, params, public, subnet_index, weight_cpu,
    weight_ram, weight_gpu, peer_version, created_at)
    VALUES ('{p}', 'old', '{u}', 'dask', '{{}}', false, 37, 1, 0.1, 10, 0, 0);
INSERT INTO devices (id, user_id, pool_id, role, name, public_key, cores, memory_bytes, gpus,
    state, desired_state, last_seq, base_cpu, base_ram, base_gpu, base_at, measured_cpu,
    measured_ram, measured_gpu, granted_cpu, granted_ram, granted_gpu, measured_credit, credit,
    recent_avg, recent_avg_time, created_at)
    VALUES ('{d}', '{u}', '{p}', 'worker', 'w', 'k', 1, 0, 0, 'running', 'running', 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
""".format(u="u" * 32, p="p" * 32, d="d" * 32)


def test_credit_granted_before_witnesses_becomes_unverified(empty_db: Database) -> None:
    """Migration 0006: what was granted with no witness is kept, as unverified, per device and
    per day; nothing of it is granted any more (so none of it reaches the leaderboard)."""
    _old_rows_at(empty_db, "0005")
    with empty_db.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE devices SET granted_cpu = 7200, measured_cpu = 9000, credit = 2,"
                " measured_credit = 2.5, recent_avg = 1, recent_avg_time = 5"
            )
        )
        conn.execute(
            text(
                "INSERT INTO usage_days (device_id, day, user_id, pool_id, cpu, ram, gpu, credit,"
                " clamped_cpu, clamped_ram, clamped_gpu) VALUES (:d, '2024-01-02', :u, :p, 7200,"
                " 0, 0, 2, 1800, 0, 0)"
            ),
            {"d": "d" * 32, "u": "u" * 32, "p": "p" * 32},
        )
    empty_db.migrate()
    with empty_db.engine.connect() as conn:
        device = conn.execute(
            text(
                "SELECT granted_cpu, claimed_cpu, unverified_cpu, measured_cpu, credit,"
                " recent_avg, witnessed_cpu FROM devices"
            )
        ).one()
        day = conn.execute(
            text("SELECT cpu, credit, unverified_cpu, unverified_credit FROM usage_days")
        ).one()
    assert tuple(device) == (0, 7200, 7200, 9000, 0, 0, 0)
    assert tuple(day) == (0, 0, 7200, 2)


def test_existing_users_get_display_names_and_key_names_become_unique(empty_db: Database) -> None:
    """Migration 0010: a display name from the id (never the email); live account keys that
    shared a name are told apart, revoked ones keep theirs."""
    _old_rows_at(empty_db, "0007")
    keys = [("k1", "rack", None, 1), ("k2", "rack", None, 2), ("k3", "rack", 5, 3),
            ("k4", "rack (2)", None, 4)]  # fmt: skip
    with empty_db.engine.begin() as conn:
        for key_id, name, revoked, created in keys:
            conn.execute(
                text(
                    "INSERT INTO account_keys (id, user_id, name, key_hash, created_at, revoked_at)"
                    " VALUES (:id, :u, :name, :h, :c, :r)"
                ),
                {"id": key_id, "u": "u" * 32, "name": name, "h": key_id, "c": created,
                 "r": revoked},
            )  # fmt: skip
    empty_db.migrate()
    with empty_db.engine.connect() as conn:
        name = conn.execute(text("SELECT display_name FROM users")).scalar_one()
        names = conn.execute(text("SELECT id, name FROM account_keys ORDER BY id")).all()
    assert name == "user-uuuuuuuu"
    assert [tuple(r) for r in names] == [
        ("k1", "rack"),
        ("k2", "rack (3)"),
        ("k3", "rack"),
        ("k4", "rack (2)"),
    ]
