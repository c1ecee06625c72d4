"""The node's usage ledger: append-only cumulative counters per membership, in SQLite.

Each row holds the cumulative CPU seconds, RAM GiB-seconds and GPU seconds given to one
membership since it was created, with its sample time (wall and monotonic, plus the boot id so a
monotonic time is only compared within one boot), a sequence number that only grows, and the raw
reading of the worker's counters it was computed from (so a restarted sampler resumes exactly
where the last row left off). Heartbeats are built from the latest row, so a crash between a
sample and a heartbeat loses nothing (the row is on disk) and counts nothing twice (the platform
dedupes on the sequence number and takes deltas of cumulative counters).

If the disk fills up or the file is damaged, the ledger keeps counting in memory and reports a
`ledger_at_risk` condition; a full disk is retried on every append and clears once rows fit again.

RAM uses GiB (2**30 bytes), like `podman --memory 4g` and the preference sizes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from kalavai_like.errors import Condition

T = TypeVar("T")

GIB = 2**30

_SCHEMA = """
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
_SELECT = (
    "SELECT seq, wall, mono, boot_id, state, cpu_seconds, ram_gb_seconds, gpu_seconds, "
    "source_id, source_cpu_seconds, memory_bytes FROM rows WHERE membership=? ORDER BY seq"
)
_INSERT = "INSERT INTO rows VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"


@dataclass(frozen=True)
class Counters:
    """Contributed resources: CPU core-seconds, RAM GiB-seconds and GPU-seconds."""

    cpu_seconds: float = 0.0
    ram_gb_seconds: float = 0.0
    gpu_seconds: float = 0.0

    def __add__(self, other: Counters) -> Counters:
        return Counters(
            self.cpu_seconds + other.cpu_seconds,
            self.ram_gb_seconds + other.ram_gb_seconds,
            self.gpu_seconds + other.gpu_seconds,
        )

    def __sub__(self, other: Counters) -> Counters:
        return Counters(
            self.cpu_seconds - other.cpu_seconds,
            self.ram_gb_seconds - other.ram_gb_seconds,
            self.gpu_seconds - other.gpu_seconds,
        )

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class Sample:
    """One sampling interval, as the sampler hands it to `Ledger.append`.

    `delta` is what was given during the interval that ended at `wall`/`mono`, while in `state`;
    `source_*` and `memory_bytes` are the raw worker readings at its end, kept so that a
    restarted sampler can carry on from the ledger's latest row.
    """

    wall: float
    mono: float
    boot_id: str
    state: str
    delta: Counters
    source_id: str = ""
    source_cpu_seconds: float = 0.0
    memory_bytes: int = 0


@dataclass(frozen=True)
class LedgerRow:
    """One appended row: cumulative `counters` at sample time, with sequence number `seq`."""

    seq: int
    wall: float
    mono: float
    boot_id: str
    state: str
    counters: Counters
    source_id: str = ""
    source_cpu_seconds: float = 0.0
    memory_bytes: int = 0

    @classmethod
    def _from_db(cls, r: tuple[Any, ...]) -> LedgerRow:
        return cls(r[0], r[1], r[2], r[3], r[4], Counters(r[5], r[6], r[7]), r[8], r[9], r[10])

    def _to_db(self, membership: str) -> tuple[Any, ...]:
        c = self.counters
        head = (membership, self.seq, self.wall, self.mono, self.boot_id, self.state)
        counters = (c.cpu_seconds, c.ram_gb_seconds, c.gpu_seconds)
        return (*head, *counters, self.source_id, self.source_cpu_seconds, self.memory_bytes)


@dataclass(frozen=True)
class DayTotals:
    """What was given on one local calendar day."""

    day: dt.date
    counters: Counters

    def to_dict(self) -> dict[str, Any]:
        return {"day": self.day.isoformat(), **self.counters.to_dict()}


_EMPTY = LedgerRow(0, 0.0, 0.0, "", "paused", Counters())


def _is_disk_full(exc: Exception) -> bool:
    if isinstance(exc, OSError):
        return exc.errno == errno.ENOSPC
    return "full" in str(exc).lower() or getattr(exc, "sqlite_errorcode", 0) == 13


def _locked(method: Callable[..., T]) -> Callable[..., T]:
    """The agent samples and heartbeats from different threads: one writer at a time."""

    def wrapper(self: Ledger, *args: Any, **kwargs: Any) -> T:
        with self._lock:
            return method(self, *args, **kwargs)

    wrapper.__doc__, wrapper.__name__ = method.__doc__, method.__name__
    return wrapper


@dataclass
class Ledger:
    """The ledger of one membership. Open with `Ledger.open(path, membership)`."""

    path: Path
    membership: str
    _db: sqlite3.Connection | None
    _latest: LedgerRow
    _acked: int
    _unsaved: list[LedgerRow] = field(default_factory=list)
    _memory: list[LedgerRow] = field(default_factory=list)
    condition: Condition | None = None
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _transient: bool = False

    @classmethod
    def open(cls, path: str | os.PathLike[str], membership: str) -> Ledger:
        """Opens (or creates, mode 0600) the ledger file and resumes `membership`'s counters.

        Never raises for a damaged file or a full disk: the ledger then runs in memory and
        `condition` says so. Raises ValueError for an empty membership id.
        """
        if not membership:
            raise ValueError("membership id must not be empty")
        p = Path(path)
        try:
            db = _connect(p)
            latest, acked = _load(db, membership)
            return cls(p, membership, db, latest, acked)
        except (sqlite3.DatabaseError, OSError) as exc:
            return cls._recover(p, membership, exc)

    @classmethod
    def _recover(cls, p: Path, membership: str, exc: Exception) -> Ledger:
        latest, acked = _salvage(p, membership)
        # Only a damaged file is set aside; locked, unreadable or full is not damage.
        if not isinstance(exc, sqlite3.DatabaseError) or isinstance(exc, sqlite3.OperationalError):
            cond = _at_risk(
                p,
                f"it cannot be opened for writing ({exc}); counting continues "
                f"in memory from sequence {latest.seq}",
            )
            return cls(p, membership, None, latest, acked, condition=cond)
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
        try:
            db = _connect(p)
            with db:
                if latest.seq:
                    db.execute(_INSERT, latest._to_db(membership))
                db.execute("INSERT OR REPLACE INTO acks VALUES (?, ?)", (membership, acked))
        except sqlite3.Error:
            db = None
            text += ", in memory only"
        return cls(p, membership, db, latest, acked, condition=_at_risk(p, text))

    # -- reading -------------------------------------------------------------------------
    def latest(self) -> LedgerRow | None:
        """The newest row (None before the first append)."""
        return self._latest if self._latest.seq else None

    @property
    def acked_seq(self) -> int:
        """The highest sequence number the platform has acknowledged."""
        return self._acked

    def pending(self, after_seq: int | None = None) -> list[LedgerRow]:
        """Rows after `after_seq` (default: the acknowledged one), oldest first."""
        after = self._acked if after_seq is None else after_seq
        return [r for r in self._rows() if r.seq > after]

    def pending_counters(self) -> Counters:
        """Usage measured but not yet acknowledged by the platform."""
        acked = max(
            (r for r in self._rows() if r.seq <= self._acked), key=lambda r: r.seq, default=_EMPTY
        )
        return self._latest.counters - acked.counters

    def heartbeat(self, state: str | None = None, reason: str | None = None) -> dict[str, Any]:
        """The heartbeat body (docs/API.md) built from the latest row: `{seq, state, counters}`.

        Append a sample just before calling this, so the platform sees fresh counters; a
        heartbeat retried after a crash carries the same seq and is deduplicated.
        """
        row = self._latest
        body: dict[str, Any] = {
            "seq": row.seq,
            "state": state or row.state,
            "counters": row.counters.to_dict(),
        }
        if reason:
            body["reason"] = reason
        return body

    def daily(
        self, days: int = 30, *, now: float | None = None, tz: dt.tzinfo | None = None
    ) -> list[DayTotals]:
        """Totals per local calendar day for the last `days` days, oldest first, gaps as zero."""
        now = time.time() if now is None else now
        tz = tz or dt.datetime.now().astimezone().tzinfo
        today = dt.datetime.fromtimestamp(now, tz).date()
        first = today - dt.timedelta(days=days - 1)
        per_day: dict[dt.date, Counters] = {
            first + dt.timedelta(n): Counters() for n in range(days)
        }
        prev = Counters()  # a membership starts from zero
        for row in self._rows():
            day = dt.datetime.fromtimestamp(row.wall, tz).date()
            if day in per_day:
                per_day[day] = per_day[day] + (row.counters - prev)
            prev = row.counters
        return [DayTotals(d, c) for d, c in sorted(per_day.items())]

    def rows_since(self, wall: float) -> list[LedgerRow]:
        """Rows sampled at or after `wall`, plus the one just before it (an interval's start)."""
        with self._lock:
            rows: list[LedgerRow] = []
            if self._db is not None:
                try:
                    cur = self._db.execute(
                        _SELECT.replace("ORDER BY", "AND seq >= (SELECT coalesce(max(seq), 0) "
                                        "FROM rows WHERE membership=? AND wall<?) ORDER BY"),
                        (self.membership, self.membership, wall),
                    )  # fmt: skip
                    rows = [LedgerRow._from_db(r) for r in cur]
                except sqlite3.Error as exc:
                    self._flag(exc)
            rows += self._unsaved + self._memory
        before = [r for r in rows if r.wall < wall]
        return before[-1:] + [r for r in rows if r.wall >= wall]

    def _rows(self) -> list[LedgerRow]:
        with self._lock:
            rows: list[LedgerRow] = []
            if self._db is not None:
                try:
                    cur = self._db.execute(_SELECT, (self.membership,))
                    rows = [LedgerRow._from_db(r) for r in cur]
                except sqlite3.Error as exc:
                    self._flag(exc)
            return rows + self._unsaved + self._memory

    # -- writing -------------------------------------------------------------------------
    @_locked
    def append(self, sample: Sample) -> LedgerRow:
        """Adds `sample.delta` to the cumulative counters as the next row, and returns it.

        Negative deltas are refused (ValueError): the sampler treats counter resets itself.
        """
        d = sample.delta
        if min(d.cpu_seconds, d.ram_gb_seconds, d.gpu_seconds) < 0:
            raise ValueError(f"negative usage delta {d}")
        row = LedgerRow(
            seq=self._latest.seq + 1,
            wall=sample.wall,
            mono=sample.mono,
            boot_id=sample.boot_id,
            state=sample.state,
            counters=self._latest.counters + d,
            source_id=sample.source_id,
            source_cpu_seconds=sample.source_cpu_seconds,
            memory_bytes=sample.memory_bytes,
        )
        if self._db is None:
            self._memory.append(row)
        else:
            self._unsaved.append(row)
            self._flush()
        self._latest = row
        return row

    @_locked
    def ack(self, seq: int) -> None:
        """Records that the platform accepted everything up to `seq` (never moves backwards)."""
        if seq <= self._acked:
            return
        self._acked = min(seq, self._latest.seq)
        if self._db is None:
            return
        try:
            with self._db:
                self._db.execute(
                    "INSERT INTO acks VALUES (?, ?) ON CONFLICT(membership) "
                    "DO UPDATE SET seq=max(seq, excluded.seq)",
                    (self.membership, self._acked),
                )
        except sqlite3.Error as exc:
            self._flag(exc)

    @_locked
    def compact(self, keep_days: float = 2.0, *, now: float | None = None) -> int:
        """Drops acknowledged rows older than `keep_days`, keeping the last row of each hour.

        Daily totals are unchanged. Returns how many rows were removed.
        """
        if self._db is None:
            return 0
        cutoff = (time.time() if now is None else now) - keep_days * 86400
        try:
            with self._db:
                cur = self._db.execute(
                    "DELETE FROM rows WHERE membership=:m AND seq<:a AND wall<:c AND seq NOT IN"
                    " (SELECT max(seq) FROM rows WHERE membership=:m"
                    " GROUP BY CAST(wall/3600 AS INT))",
                    {"m": self.membership, "a": self._acked, "c": cutoff},
                )
            return cur.rowcount
        except sqlite3.Error as exc:
            self._flag(exc)
            return 0

    @_locked
    def close(self) -> None:
        """Closes the file (rows kept in memory because of a full disk are lost)."""
        if self._db is not None:
            self._db.close()
            self._db = None

    def _flush(self) -> None:
        assert self._db is not None
        try:
            with self._db:
                self._db.executemany(_INSERT, [r._to_db(self.membership) for r in self._unsaved])
        except sqlite3.Error as exc:
            self._flag(exc)
            return
        self._unsaved.clear()
        if self._transient:
            self.condition, self._transient = None, False

    def _flag(self, exc: sqlite3.Error) -> None:
        if isinstance(exc, sqlite3.OperationalError):
            # Full disk, a lock held too long, an I/O hiccup: keep the rows, retry next time.
            n = len(self._unsaved)
            why = "the disk is full" if _is_disk_full(exc) else f"it cannot be written ({exc})"
            self.condition = _at_risk(
                self.path, f"{why}; {n} sample(s) are kept in memory until it can be again"
            )
            self._transient = True
            return
        # Damage discovered while running: stop touching the file, keep counting in memory.
        self._memory.extend(self._unsaved)
        self._unsaved.clear()
        with contextlib.suppress(sqlite3.Error):
            self._db.close()  # type: ignore[union-attr]
        self._db = None
        self._transient = False
        self.condition = _at_risk(
            self.path, f"it is damaged ({exc}); counting continues in memory only"
        )


def _at_risk(p: Path, why: str) -> Condition:
    return Condition(
        "ledger_at_risk",
        "Usage ledger at risk",
        f"The usage ledger {p}: {why}. The node keeps running; usage not yet sent to the "
        "platform may be lost if the agent stops. Free disk space or check the disk.",
    )


def _connect(p: Path) -> sqlite3.Connection:
    p.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    os.chmod(p, 0o600)
    db = sqlite3.connect(p, isolation_level=None, check_same_thread=False)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA busy_timeout=1000")  # never stall the sampler long
        db.executescript(_SCHEMA)
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


def _load(db: sqlite3.Connection, membership: str) -> tuple[LedgerRow, int]:
    r = db.execute(
        _SELECT + " DESC LIMIT 1",
        (membership,),
    ).fetchone()
    a = db.execute("SELECT seq FROM acks WHERE membership=?", (membership,)).fetchone()
    return (LedgerRow._from_db(r) if r else _EMPTY), (a[0] if a else 0)


def _salvage(p: Path, membership: str) -> tuple[LedgerRow, int]:
    """Best effort: the latest row and ack of a damaged file, else an empty start."""
    try:
        db = sqlite3.connect(f"file:{p}?mode=ro", uri=True)
        try:
            return _load(db, membership)
        finally:
            db.close()
    except sqlite3.Error:
        return _EMPTY, 0
