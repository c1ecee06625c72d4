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
The values are in kalavai_like.usage.counters, the file itself in kalavai_like.usage.ledger_file.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from kalavai_like.errors import Condition
from kalavai_like.usage import ledger_file as file
from kalavai_like.usage.counters import EMPTY, GIB, Counters, DayTotals, LedgerRow, Sample

__all__ = ["GIB", "Counters", "DayTotals", "Ledger", "LedgerRow", "Sample"]

T = TypeVar("T")


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
            db = file.connect(p)
            latest, acked = file.load(db, membership)
            return cls(p, membership, db, latest, acked)
        except (sqlite3.DatabaseError, OSError) as exc:
            db_, latest, acked, cond = file.recover(p, membership, exc)
            return cls(p, membership, db_, latest, acked, condition=cond)

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
            (r for r in self._rows() if r.seq <= self._acked), key=lambda r: r.seq, default=EMPTY
        )
        return self._latest.counters - acked.counters

    def heartbeat(self, state: str | None = None, reason: str | None = None) -> dict[str, Any]:
        """The heartbeat body (docs/API.md) built from the latest row: `{seq, state, counters}`
        (the counters with their sample time, `sampled_at`).

        Append a sample just before calling this, so the platform sees fresh counters; a
        heartbeat retried after a crash carries the same seq and is deduplicated.
        """
        row = self._latest
        counters: dict[str, Any] = row.counters.to_dict()
        if row.wall > 0:  # when they were sampled: the platform bounds claims by it
            counters["sampled_at"] = row.wall
        body: dict[str, Any] = {"seq": row.seq, "state": state or row.state, "counters": counters}
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
        rows = self._rows(file.SINCE, (self.membership, self.membership, wall))
        before = [r for r in rows if r.wall < wall]
        return before[-1:] + [r for r in rows if r.wall >= wall]

    def _rows(self, query: str = file.SELECT, params: tuple[Any, ...] = ()) -> list[LedgerRow]:
        """The rows `query` selects from the file (all by default), then those not on it."""
        with self._lock:
            rows: list[LedgerRow] = []
            if self._db is not None:
                try:
                    cur = self._db.execute(query, params or (self.membership,))
                    rows = [file.from_db(r) for r in cur]
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
                self._db.executemany(
                    file.INSERT, [file.to_db(r, self.membership) for r in self._unsaved]
                )
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
            why = "the disk is full" if file.is_disk_full(exc) else f"it cannot be written ({exc})"
            self.condition = file.at_risk(
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
        self.condition = file.at_risk(
            self.path, f"it is damaged ({exc}); counting continues in memory only"
        )
