"""The database: engine set-up for SQLite (WAL) and PostgreSQL, sessions, oldest-first listing
and migrations.

Write transactions on SQLite start with BEGIN IMMEDIATE (so a read-then-write transaction never
fails half-way with a stale snapshot) and are also serialised inside the process with a lock,
which is far cheaper than SQLite's busy-wait. On PostgreSQL they are plain READ COMMITTED
transactions; the code takes row locks (SELECT ... FOR UPDATE) where it reads before it writes.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    ScalarResult,
    create_engine,
    event,
    select,
    text,
)
from sqlalchemy.orm import Session, sessionmaker

Row = TypeVar("Row")


class Database:
    """One engine and its session factory. `write()` and `read()` give transactional sessions."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.engine = _make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._write_engine = self.engine.execution_options(kl_write=True)
        self._write_sessions = sessionmaker(self._write_engine, expire_on_commit=False)
        self._write_lock = threading.Lock() if self.is_sqlite else None

    @property
    def write_lock(self) -> threading.Lock | None:
        """SQLite's in-process writer lock (None on PostgreSQL), for raw-connection writers."""
        return self._write_lock

    @property
    def dialect(self) -> str:
        return "sqlite" if self.is_sqlite else "postgresql"

    @contextlib.contextmanager
    def write(self) -> Iterator[Session]:
        """A session in a write transaction: committed on success, rolled back on error."""
        lock = self._write_lock or contextlib.nullcontext()
        with lock, self._write_sessions() as session, session.begin():
            yield session

    @contextlib.contextmanager
    def write_connection(self) -> Iterator[Connection]:
        """A Core connection in a write transaction (for the hot heartbeat path)."""
        lock = self._write_lock or contextlib.nullcontext()
        with lock, self._write_engine.begin() as conn:
            yield conn

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reads (its transaction is rolled back at the end)."""
        with self._sessions() as session:
            yield session

    def for_update(self, stmt: Any) -> Any:
        """Add FOR UPDATE on PostgreSQL (SQLite's write transaction already excludes others)."""
        return stmt if self.is_sqlite else stmt.with_for_update()

    def migrate(self) -> None:
        """Bring the schema to the newest revision (`alembic upgrade head`)."""
        with self.engine.begin() as conn:
            if not self.is_sqlite:
                # Several replicas may start at once: one migrates, the others wait.
                conn.execute(text("SELECT pg_advisory_xact_lock(7412001)"))
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def dispose(self) -> None:
        self.engine.dispose()


def oldest_first(s: Session, model: type[Row], *where: ColumnElement[bool]) -> ScalarResult[Row]:
    """The rows of `model` that match `where`, oldest (`created_at`) first."""
    return s.scalars(select(model).where(*where).order_by(model.created_at))  # type: ignore[attr-defined]


def alembic_config() -> Config:
    cfg = Config()
    location = resources.files("kalavai_like.platform") / "migrations"
    cfg.set_main_option("script_location", str(Path(str(location))))
    return cfg


def _make_engine(url: str) -> Engine:
    if not url.startswith("sqlite"):
        return create_engine(url, pool_size=10, max_overflow=30, pool_timeout=30)
    engine = create_engine(
        url, pool_size=20, max_overflow=20, connect_args={"check_same_thread": False}
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take BEGIN away from pysqlite so we can say BEGIN IMMEDIATE ourselves.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=15000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        write = conn.get_execution_options().get("kl_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine
