"""The database: engine set-up for SQLite (WAL) and PostgreSQL, sessions, oldest-first listing
and migrations.

It holds emails and password hashes, so only its owner may read it: the data directory is
0700 and a SQLite database 0600 (its -wal and -shm files take the database's mode), fixed on
every start, or refused with a message when it cannot be.

Write transactions on SQLite start with BEGIN IMMEDIATE (so a read-then-write transaction never
fails half-way with a stale snapshot) and are also serialised inside the process with a lock,
which is far cheaper than SQLite's busy-wait. On PostgreSQL they are plain READ COMMITTED
transactions; the code takes row locks (SELECT ... FOR UPDATE) where it reads before it writes.
"""

from __future__ import annotations

import contextlib
import os
import stat
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
    make_url,
    select,
    text,
)
from sqlalchemy.orm import Session, sessionmaker

from kalavai_like.errors import SystemProblem

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


def private_dir(path: Path) -> None:
    """Make `path` a directory only its owner can enter (0700): create it, or fix its mode.

    Raises:
        SystemProblem: it cannot be made, is shared (sticky, like /tmp) or someone else's.
    """
    fix = f"Give the platform a directory of its own (--data-dir), or run `chmod 700 {path}`."
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        st = path.stat()
        if st.st_mode & stat.S_ISVTX or st.st_uid != os.geteuid():
            why = "is shared (sticky)" if st.st_mode & stat.S_ISVTX else "belongs to another user"
            raise SystemProblem("Data directory not private", f"{path} {why}. {fix}")
        if stat.S_IMODE(st.st_mode) != 0o700:
            os.chmod(path, 0o700)
    except OSError as exc:
        raise SystemProblem(
            "Data directory not private", f"{path}: {exc.strerror or exc}. {fix}"
        ) from None


def private_sqlite_file(url: str) -> None:
    """Create a SQLite database file 0600 before SQLite does (it would make it 0644), or make
    an existing one and its -wal and -shm files 0600.

    Raises:
        SystemProblem: the file cannot be created or made private.
    """
    name = make_url(url).database
    if not name or name == ":memory:" or name.startswith("file:"):
        return
    path = Path(name)
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))
        for each in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            with contextlib.suppress(FileNotFoundError):
                if stat.S_IMODE(each.stat().st_mode) != 0o600:
                    os.chmod(each, 0o600)
    except OSError as exc:
        raise SystemProblem(
            "Database not private",
            f"{path}: {exc.strerror or exc}. Its owner can run `chmod 600 {path}`; or give "
            "the platform a directory of its own (--data-dir).",
        ) from None


def _make_engine(url: str) -> Engine:
    # hide_parameters: an error (logged whole when unexpected) never quotes the emails and
    # hashes bound to its statement.
    if not url.startswith("sqlite"):
        return create_engine(
            url, pool_size=10, max_overflow=30, pool_timeout=30, hide_parameters=True
        )
    private_sqlite_file(url)
    engine = create_engine(
        url, pool_size=20, max_overflow=20, connect_args={"check_same_thread": False},
        hide_parameters=True,
    )  # fmt: skip

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
