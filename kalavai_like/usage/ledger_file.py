"""The ledger's SQLite file: its schema, opening it (mode 0600, WAL, an integrity check),
reading a membership's latest row and ack, salvaging a damaged file and setting it aside, and
the `ledger_at_risk` condition that says the ledger is not safely on disk.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from kalavai_like.errors import Condition
from kalavai_like.usage.counters import EMPTY, Counters, LedgerRow

SCHEMA = """
CREATE TABLE IF NOT EXISTS rows (
    membership TEXT NOT NULL,
    seq INTEGER NOT NULL,
    wall REAL NOT NULL,
    mono REAL NOT NULL,
    boot_id TEXT NOT NULL,
    state TEXT NOT NULL,
    cpu_seconds REAL NOT NULL,
    ram_gb_seconds REAL NOT NULL,
    gpu_seconds REAL NOT NULL,
    source_id TEXT NOT NULL,
    source_cpu_seconds REAL NOT NULL,
    memory_bytes INTEGER NOT NULL,
    PRIMARY KEY (membership, seq)
);
CREATE TABLE IF NOT EXISTS acks (
    membership TEXT PRIMARY KEY,
    seq INTEGER NOT NULL
);
"""
SELECT = (
    "SELECT seq, wall, mono, boot_id, state, cpu_seconds, ram_gb_seconds, gpu_seconds, "
    "source_id, source_cpu_seconds, memory_bytes FROM rows WHERE membership=? ORDER BY seq"
)
# The rows from the one just before a wall time (params: membership, membership, wall).
SINCE = SELECT.replace(
    "ORDER BY",
    "AND seq >= (SELECT coalesce(max(seq), 0) FROM rows WHERE membership=? AND wall<?) ORDER BY",
)
INSERT = "INSERT INTO rows VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"


def from_db(r: tuple[Any, ...]) -> LedgerRow:
    """A row as selected by SELECT."""
    return LedgerRow(r[0], r[1], r[2], r[3], r[4], Counters(r[5], r[6], r[7]), r[8], r[9], r[10])


def to_db(row: LedgerRow, membership: str) -> tuple[Any, ...]:
    """A row's values for INSERT."""
    c = row.counters
    head = (membership, row.seq, row.wall, row.mono, row.boot_id, row.state)
    counters = (c.cpu_seconds, c.ram_gb_seconds, c.gpu_seconds)
    return (*head, *counters, row.source_id, row.source_cpu_seconds, row.memory_bytes)


def is_disk_full(exc: Exception) -> bool:
    if isinstance(exc, OSError):
        return exc.errno == errno.ENOSPC
    return "full" in str(exc).lower() or getattr(exc, "sqlite_errorcode", 0) == 13


def at_risk(p: Path, why: str) -> Condition:
    return Condition(
        "ledger_at_risk",
        "Usage ledger at risk",
        f"The usage ledger {p}: {why}. The node keeps running; usage not yet sent to the "
        "platform may be lost if the agent stops. Free disk space or check the disk.",
    )


def connect(p: Path) -> sqlite3.Connection:
    p.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    os.chmod(p, 0o600)
    db = sqlite3.connect(p, isolation_level=None, check_same_thread=False)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA busy_timeout=1000")  # never stall the sampler long
        db.executescript(SCHEMA)
        (check,) = db.execute("PRAGMA quick_check").fetchone()
        if check != "ok":
            raise sqlite3.DatabaseError(f"integrity check failed: {check}")
    except sqlite3.Error:
        db.close()
        raise
    db.isolation_level = "DEFERRED"
    for suffix in ("-wal", "-shm"):
        with contextlib.suppress(OSError):
            os.chmod(str(p) + suffix, 0o600)
    return db


def load(db: sqlite3.Connection, membership: str) -> tuple[LedgerRow, int]:
    r = db.execute(
        SELECT + " DESC LIMIT 1",
        (membership,),
    ).fetchone()
    a = db.execute("SELECT seq FROM acks WHERE membership=?", (membership,)).fetchone()
    return (from_db(r) if r else EMPTY), (a[0] if a else 0)


def salvage(p: Path, membership: str) -> tuple[LedgerRow, int]:
    """Best effort: the latest row and ack of a damaged file, else an empty start."""
    try:
        db = sqlite3.connect(f"file:{p}?mode=ro", uri=True)
        try:
            return load(db, membership)
        finally:
            db.close()
    except sqlite3.Error:
        return EMPTY, 0


def recover(
    p: Path, membership: str, exc: Exception
) -> tuple[sqlite3.Connection | None, LedgerRow, int, Condition]:
    """After `exc` on opening: (the file or None, latest row, ack, the condition to report).

    Only a damaged file is set aside (and a fresh one resumes from its salvaged latest row);
    a locked, unreadable or full one is left alone and counting continues in memory.
    """
    latest, acked = salvage(p, membership)
    if not isinstance(exc, sqlite3.DatabaseError) or isinstance(exc, sqlite3.OperationalError):
        why = (
            f"it cannot be opened for writing ({exc}); counting continues "
            f"in memory from sequence {latest.seq}"
        )
        return None, latest, acked, at_risk(p, why)
    aside = p.with_name(f"{p.name}.damaged-{int(time.time())}")
    with contextlib.suppress(OSError):
        for suffix in ("", "-wal", "-shm"):
            src = Path(str(p) + suffix)
            if src.exists():
                src.rename(Path(str(aside) + suffix))
    text = (
        f"the file was damaged ({exc}); it was set aside as {aside.name} and counting "
        f"continues from sequence {latest.seq}"
    )
    db: sqlite3.Connection | None
    try:
        db = connect(p)
        with db:
            if latest.seq:
                db.execute(INSERT, to_db(latest, membership))
            db.execute("INSERT OR REPLACE INTO acks VALUES (?, ?)", (membership, acked))
    except sqlite3.Error:
        db = None
        text += ", in memory only"
    return db, latest, acked, at_risk(p, text)
