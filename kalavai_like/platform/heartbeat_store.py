"""The heartbeat's storage on its lean path: plain SQL on the DB-API drivers, no ORM, no threads
for PostgreSQL.

PostgreSQL: a small per-process pool of async psycopg connections in autocommit mode with
server-side prepared statements. One heartbeat is two round trips: read the device (which also
authenticates the credential), then one statement that updates the device only if its
`last_seq` is still what was read (compare-and-set) and, in the same statement, adds the usage
to its day row. Each acknowledged heartbeat is committed before the reply, exactly once: a
concurrent heartbeat of the same device makes the compare fail, and the loser starts over from
a fresh read (and becomes a duplicate if its seq is no longer above the device's).

SQLite: one write transaction (BEGIN IMMEDIATE, under the process's write lock) on a raw
connection, run on one dedicated thread, since SQLite allows one writer at a time anyway.
The arithmetic is `heartbeats.apply`, shared with the FastAPI path.
"""

# ruff: noqa: S608 (SQL text is assembled from constant column names only)
from __future__ import annotations

import asyncio
import collections
import contextlib
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from sqlalchemy.engine import make_url

from kalavai_like.errors import PlatformUnavailable
from kalavai_like.platform import heartbeats, ledger
from kalavai_like.platform.db import Database
from kalavai_like.platform.models import now
from kalavai_like.platform.problems import Problem
from kalavai_like.platform.schemas import HeartbeatIn

_COLUMNS = ("id", "user_id", "pool_id", "desired_state", *heartbeats.LEDGER, *heartbeats.READ)
_KEYS = (*_COLUMNS, "w_cpu", "w_ram", "w_gpu", "template", "suspended_at")
_UPDATED = heartbeats.UPDATED
_ADDED = heartbeats.ADDED
_USAGE = ("device_id", "day", "user_id", "pool_id", *_ADDED)

# Built from the constant column names above: no input ever reaches the SQL text.
_SELECT = (
    "SELECT "
    + ", ".join(f"d.{c}" for c in _COLUMNS)
    + ", p.weight_cpu, p.weight_ram, p.weight_gpu, p.template, u.suspended_at"
    + " FROM devices d JOIN pools p ON p.id = d.pool_id JOIN users u ON u.id = d.user_id"
    + " WHERE d.credential_hash = :digest"
    + f" AND (d.left_at IS NULL OR d.desired_state = '{heartbeats.REMOVED}')"
)
_UPDATE = (
    "UPDATE devices SET "
    + ", ".join(f"{c} = :{c}" for c in _UPDATED)
    + " WHERE id = :device_id AND credential_hash = :digest AND left_at IS NULL"
    + " AND last_seq = :old_seq AND witness_rev = :old_rev"
)
_ON_CONFLICT = " ON CONFLICT (device_id, day) DO UPDATE SET " + ", ".join(
    f"{c} = usage_days.{c} + excluded.{c}" for c in _ADDED
)
_UPSERT = (
    f"INSERT INTO usage_days ({', '.join(_USAGE)}) VALUES ({', '.join(':' + c for c in _USAGE)})"
    + _ON_CONFLICT
)
# PostgreSQL: the compare-and-set update and the day row in one atomic statement.
_UPDATE_AND_UPSERT = (
    f"WITH moved AS ({_UPDATE} RETURNING id, user_id, pool_id) "
    f"INSERT INTO usage_days ({', '.join(_USAGE)}) SELECT id, :day, user_id, pool_id, "
    + ", ".join(f":day_{c}" for c in _ADDED)
    + " FROM moved"
    + _ON_CONFLICT
)
# With the device's row remembered from its last heartbeat: one round trip. The update applies
# only if everything the arithmetic read is unchanged (seq, witness, credential, not left,
# weights, its user not suspended: only rows of users not suspended are remembered).
_KNOWN_UPDATE = (
    "UPDATE devices SET "
    + ", ".join(f"{c} = :{c}" for c in _UPDATED)
    + " FROM pools WHERE devices.id = :device_id AND devices.credential_hash = :digest"
    + " AND devices.left_at IS NULL AND devices.last_seq = :old_seq"
    + " AND devices.witness_rev = :old_rev"
    + " AND pools.id = devices.pool_id AND pools.weight_cpu = :w_cpu"
    + " AND pools.weight_ram = :w_ram AND pools.weight_gpu = :w_gpu"
    + " AND NOT EXISTS (SELECT 1 FROM users WHERE users.id = devices.user_id"
    + " AND users.suspended_at IS NOT NULL)"
)
_KNOWN_UPDATE_AND_UPSERT = (
    f"WITH moved AS ({_KNOWN_UPDATE} RETURNING devices.id, devices.user_id,"
    " devices.pool_id, devices.desired_state), "
    f"day AS (INSERT INTO usage_days ({', '.join(_USAGE)}) SELECT id, :day, user_id, pool_id, "
    + ", ".join(f":day_{c}" for c in _ADDED)
    + " FROM moved"
    + _ON_CONFLICT
    + ") SELECT desired_state FROM moved"
)
_KNOWN_MAX = 100_000  # remembered devices per process; past it the memory starts afresh
_ATTEMPTS = 20  # compare-and-set retries; each loss means another heartbeat of it went in
_POOL_SIZE = 8  # connections per server process


def _pyformat(sql: str) -> str:
    """`:name` placeholders as psycopg's `%(name)s`."""
    import re

    return re.sub(r":([a-z_]+)", r"%(\1)s", sql)


def _busy() -> Problem:
    return Problem(
        503,
        PlatformUnavailable("Database busy", "The platform's database is busy; retry shortly."),
        {"Retry-After": "1"},
    )


class HeartbeatStore(Protocol):
    async def record(self, digest: str, hb: HeartbeatIn) -> bytes:
        """Apply the heartbeat of the device whose credential hashes to `digest`; the JSON
        reply. Raises Problem: 401 unknown credential or device left, 503 database busy."""
        ...

    async def close(self) -> None: ...


def _device(row: Sequence[Any] | None) -> dict[str, Any] | None:
    """The device row as read by _SELECT (None: no such device)."""
    return None if row is None else dict(zip(_KEYS, row, strict=True))


def _params(o: heartbeats.Outcome, digest: str) -> dict[str, Any]:
    """The compare-and-set update's parameters: applies only if `last_seq` and the witness
    (`witness_rev`) are as read."""
    return {
        "device_id": o.d["id"],
        "digest": digest,
        "old_seq": o.d["last_seq"],
        "old_rev": o.d["witness_rev"],
        **o.values,
    }


def _day(usage: dict[str, Any]) -> dict[str, Any]:
    """The day row's additions as the one-statement update's `day_*` parameters (the device's
    own columns `credit` and `unverified_*` share their names)."""
    return {"day": usage["day"], **{f"day_{c}": usage[c] for c in _ADDED}}


class PostgresHeartbeats:
    """Heartbeats on PostgreSQL through a per-process pool of async psycopg connections."""

    def __init__(self, url: str, rules: ledger.Rules, size: int = _POOL_SIZE) -> None:
        self._conninfo = make_url(url).set(drivername="postgresql").render_as_string(False)
        self._rules = rules
        self._size = size
        self._idle: list[Any] = []
        self._open = 0
        self._waiters: collections.deque[asyncio.Future[Any]] = collections.deque()
        self._select = _pyformat(_SELECT)
        self._update = _pyformat(_UPDATE)
        self._update_and_upsert = _pyformat(_UPDATE_AND_UPSERT)
        self._known_update = _pyformat(_KNOWN_UPDATE + " RETURNING devices.desired_state")
        self._known_update_and_upsert = _pyformat(_KNOWN_UPDATE_AND_UPSERT)
        # credential digest -> the device's row as this process last wrote it
        self._known: dict[str, dict[str, Any]] = {}

    async def _connect(self) -> Any:
        import psycopg

        return await psycopg.AsyncConnection.connect(
            self._conninfo, autocommit=True, prepare_threshold=0
        )

    async def _get(self) -> Any:
        if self._idle:
            return self._idle.pop()
        if self._open >= self._size:
            waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            conn = await waiter
            if conn is not None:
                return conn
        else:
            self._open += 1
        try:  # a slot of our own: open a connection in it
            return await self._connect()
        except BaseException:
            self._release_slot()
            raise

    def _release_slot(self) -> None:
        """A connection was dropped: hand its slot to a waiter (who connects), or free it."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._open -= 1

    def _put(self, conn: Any, broken: bool) -> None:
        if broken or conn.closed:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().create_task(conn.close())
            self._release_slot()
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        self._idle.append(conn)

    async def record(self, digest: str, hb: HeartbeatIn) -> bytes:
        import psycopg

        try:
            conn = await self._get()
        except psycopg.Error:
            raise _busy() from None
        broken = True
        try:
            reply = await self._record(conn, digest, hb)
            broken = False
            return reply
        except psycopg.Error:
            raise _busy() from None
        except Problem:
            broken = False
            raise
        finally:
            self._put(conn, broken)

    async def _record(self, conn: Any, digest: str, hb: HeartbeatIn) -> bytes:
        cur = conn.cursor()
        known = self._known.pop(digest, None)
        if known is not None and hb.seq > known["last_seq"]:
            reply = await self._record_known(cur, digest, known, hb)
            if reply is not None:
                return reply
        for _ in range(_ATTEMPTS):
            await cur.execute(self._select, {"digest": digest})
            o = heartbeats.attempt(_device(await cur.fetchone()), hb, self._rules)
            if o.replay:
                return heartbeats.reply(o.d, hb.seq, duplicate=True, t=o.t)
            if o.usage is None:
                await cur.execute(self._update, _params(o, digest))
            else:
                await cur.execute(self._update_and_upsert, {**_params(o, digest), **_day(o.usage)})
            if cur.rowcount == 1:
                return self._accepted(digest, o.after, hb.seq, o.t)
        raise _busy()

    async def _record_known(
        self, cur: Any, digest: str, d: dict[str, Any], hb: HeartbeatIn
    ) -> bytes | None:
        """One round trip from the remembered row; None if the row changed since."""
        t = now()
        values, usage = heartbeats.apply(d, hb, t, self._rules)
        o = heartbeats.Outcome(d, t, replay=False, values=values, usage=usage)
        params = {
            **_params(o, digest),
            "w_cpu": d["w_cpu"],
            "w_ram": d["w_ram"],
            "w_gpu": d["w_gpu"],
        }
        if usage is None:
            await cur.execute(self._known_update, params)
        else:
            await cur.execute(self._known_update_and_upsert, {**params, **_day(usage)})
        row = await cur.fetchone()
        if row is None:
            return None
        return self._accepted(digest, {**o.after, "desired_state": row[0]}, hb.seq, t)

    def _accepted(self, digest: str, d: dict[str, Any], seq: int, t: float) -> bytes:
        if len(self._known) >= _KNOWN_MAX:
            self._known.clear()
        if d["suspended_at"] is None:
            self._known[digest] = d
        return heartbeats.reply(d, seq, duplicate=False, t=t)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            with contextlib.suppress(Exception):
                await conn.close()


class SqliteHeartbeats:
    """Heartbeats on SQLite: one raw connection on one thread, under the write lock."""

    def __init__(self, db: Database, rules: ledger.Rules) -> None:
        self._path = make_url(db.url).database or ""
        self._lock = db.write_lock
        self._rules = rules
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="heartbeats")
        self._conn: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            for pragma in ("journal_mode=WAL", "busy_timeout=15000", "synchronous=NORMAL"):
                conn.execute(f"PRAGMA {pragma}")
            conn.execute("PRAGMA foreign_keys=ON")
            self._conn = conn
        return self._conn

    async def record(self, digest: str, hb: HeartbeatIn) -> bytes:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._thread, self._record, digest, hb)
        except sqlite3.OperationalError:
            raise _busy() from None

    def _record(self, digest: str, hb: HeartbeatIn) -> bytes:
        lock = self._lock or contextlib.nullcontext()
        with lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                reply = self._apply(conn, digest, hb)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return reply

    def _apply(self, conn: sqlite3.Connection, digest: str, hb: HeartbeatIn) -> bytes:
        row = conn.execute(_SELECT, {"digest": digest}).fetchone()
        o = heartbeats.attempt(_device(row), hb, self._rules)
        if not o.replay:
            conn.execute(_UPDATE, _params(o, digest))
            if o.usage is not None:
                conn.execute(_UPSERT, o.usage)
        return heartbeats.reply(o.after, hb.seq, duplicate=o.replay, t=o.t)

    async def close(self) -> None:
        self._thread.shutdown(wait=True)
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def store_for(db: Database, rules: ledger.Rules) -> HeartbeatStore | None:
    """The lean store for `db`, or None for an in-memory SQLite (one connection only)."""
    if not db.is_sqlite:
        return PostgresHeartbeats(db.url, rules)
    if make_url(db.url).database in (None, "", ":memory:"):
        return None
    return SqliteHeartbeats(db, rules)
