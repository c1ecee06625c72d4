"""Witness reports: what a pool's head saw its workers do, and the credit it releases.

The pool's hub (its seed) reports, per scheduler epoch, cumulative totals per worker device
(docs/API.md). The platform keeps the largest totals per device and epoch, so a replayed or
older report changes nothing; a device's witnessed totals are the sums over its epochs. Each
report is one write transaction: the epoch's row, then the named devices (locked in id order,
like heartbeats lock one), their witness rows, their ledgers (kalavai_like.platform.ledger:
a witness can release usage claimed before it) and their day rows. A heartbeat read before
this transaction fails its compare-and-set on `witness_rev` and reads again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite

from kalavai_like.platform import credentials, heartbeats, ledger, reliability
from kalavai_like.platform.db import Database
from kalavai_like.platform.models import Device, WitnessEpoch, WitnessReport, now
from kalavai_like.platform.problems import forbidden, unauthorized
from kalavai_like.platform.schemas import In, Usage

Hex32 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
MAX_DEVICES = 4096
NOT_IN_POOL = "not a worker device of this hub's pool"
_D = Device.__table__.c
_W = WitnessReport.__table__
_E = WitnessEpoch.__table__
_FIELDS = ("tasks", "compute_seconds", "connected_seconds", "threads")
_RESULTS = tuple(reliability.COLUMNS.values())  # valid, invalid, errors, invalid_compute_seconds
_KEPT = (*_FIELDS, *_RESULTS)  # the largest of each is kept per device and epoch
Count = Annotated[int, Field(ge=0, le=2**62)]


class ResultsIn(In):
    """Results of redundant work the head judged (optional: an older seed sends none)."""

    valid: Count = 0
    invalid: Count = 0
    errors: Count = 0


class WitnessedDevice(In):
    device_id: Hex32
    tasks: Count
    compute_seconds: Usage  # never the compute of a result judged invalid
    connected_seconds: Usage
    threads: int = Field(ge=1, le=4096)
    results: ResultsIn = ResultsIn()
    invalid_compute_seconds: Usage = 0.0

    def kept(self) -> dict[str, Any]:
        """The totals the platform keeps the largest of, by the witness rows' names."""
        flat = {k: getattr(self, k) for k in _FIELDS}
        return {
            **flat,
            **self.results.model_dump(),
            "invalid_compute_seconds": self.invalid_compute_seconds,
        }


class WitnessIn(In):
    epoch: Hex32
    seq: int = Field(ge=1, le=2**62)
    devices: list[WitnessedDevice] = Field(max_length=MAX_DEVICES)


class RefusedDevice(BaseModel):
    device_id: str
    reason: str


class WitnessOut(BaseModel):
    epoch: str
    seq: int
    duplicate: bool
    refused: list[RefusedDevice]


def _upsert(dialect: Any, table: Any, keys: list[str], replaced: tuple[str, ...]) -> Any:
    stmt = dialect.insert(table)
    if not replaced:
        return stmt.on_conflict_do_nothing(index_elements=keys)
    return stmt.on_conflict_do_update(
        index_elements=keys, set_={k: stmt.excluded[k] for k in replaced}
    )


_DIALECTS = {"sqlite": sqlite, "postgresql": postgresql}
_EPOCH = {n: _upsert(d, _E, ["pool_id", "epoch"], ()) for n, d in _DIALECTS.items()}
_REPORT = {
    n: _upsert(d, _W, ["device_id", "epoch"], (*_KEPT, "updated_at")) for n, d in _DIALECTS.items()
}
# What a witness report writes of a device: its witness, and the ledger columns `settle` sets.
_WRITTEN = (
    "witnessed_tasks",
    "witnessed_cpu",
    "witnessed_connected",
    "witness_rev",
    *reliability.COLUMNS,
    *(f"{kind}_{r}" for kind in ("granted", "unverified", "mark") for r in ledger.RESOURCES),
    "mark_due",
    "credit",
    "recent_avg",
    "recent_avg_time",
    "std_recent_avg",
)
_LEDGER_UPDATE = (
    update(Device)
    .where(_D.id == bindparam("device_id"))
    .values({k: bindparam(k) for k in _WRITTEN})
)


def _hub_pool(conn: Connection, credential: str) -> str:
    """The pool of the hub holding `credential`.

    Raises:
        Problem: 401 unknown credential or the device left, 403 a worker's credential.
    """
    row = conn.execute(
        select(_D.role, _D.pool_id).where(
            _D.credential_hash == credentials.digest(credential), _D.left_at.is_(None)
        )
    ).first()
    if row is None:
        raise unauthorized(heartbeats.UNKNOWN_DEVICE)
    if row.role != "hub":
        raise forbidden("Only the pool's hub may report what its head witnessed.")
    return str(row.pool_id)


def _largest(entries: list[WitnessedDevice]) -> dict[str, dict[str, Any]]:
    """One entry per device: the largest of each total where a report names one twice."""
    out: dict[str, dict[str, Any]] = {}
    for e in entries:
        seen = out.get(e.device_id)
        kept = e.kept()
        out[e.device_id] = {k: max(v, seen[k]) for k, v in kept.items()} if seen else kept
    return out


def record(db: Database, rules: ledger.Rules, credential: str, body: WitnessIn) -> WitnessOut:
    """Apply one witness report from the hub holding `credential`.

    Raises:
        Problem: 401 if the credential is unknown or the hub left, 403 if it is a worker's.
    """
    entries = _largest(body.devices)
    t = now()
    with db.write_connection() as conn:
        pool_id = _hub_pool(conn, credential)
        key = {"pool_id": pool_id, "epoch": body.epoch}
        conn.execute(_EPOCH[db.dialect], {**key, "last_seq": 0, "created_at": t, "updated_at": t})
        last = conn.execute(
            db.for_update(
                select(_E.c.last_seq).where(_E.c.pool_id == pool_id, _E.c.epoch == body.epoch)
            )
        ).scalar_one()
        rows: dict[str, Mapping[str, Any]] = {}
        if entries:
            stmt = (
                heartbeats.device_select()
                .where(_D.id.in_(sorted(entries)), _D.pool_id == pool_id, _D.role == "worker")
                .order_by(_D.id)
            )
            rows = {r["id"]: dict(r) for r in conn.execute(stmt).mappings()}
        refused = [RefusedDevice(device_id=i, reason=NOT_IN_POOL) for i in entries if i not in rows]
        duplicate = body.seq <= last
        if not duplicate:
            _apply(conn, db.dialect, rules, body.epoch, t, rows, entries)
            conn.execute(
                update(WitnessEpoch)
                .where(_E.c.pool_id == pool_id, _E.c.epoch == body.epoch)
                .values(last_seq=body.seq, updated_at=t)
            )
    return WitnessOut(epoch=body.epoch, seq=body.seq, duplicate=duplicate, refused=refused)


def _apply(
    conn: Connection,
    dialect: str,
    rules: ledger.Rules,
    epoch: str,
    t: float,
    rows: Mapping[str, Mapping[str, Any]],
    entries: Mapping[str, Mapping[str, Any]],
) -> None:
    """Raise each named device's witness to the largest reported, and settle its ledger."""
    if not rows:
        return
    old = {
        r.device_id: r
        for r in conn.execute(select(_W).where(_W.c.device_id.in_(list(rows)), _W.c.epoch == epoch))
    }
    for device_id, d in rows.items():
        seen = _bounded(entries[device_id], d, t, rules)
        before = old.get(device_id)
        kept = {k: max(v, getattr(before, k)) if before else v for k, v in seen.items()}
        grew = {k: kept[k] - (getattr(before, k) if before else 0) for k in _KEPT}
        if not any(grew[k] for k in _KEPT if k != "threads"):
            continue
        conn.execute(
            _REPORT[dialect], {"device_id": device_id, "epoch": epoch, **kept, "updated_at": t}
        )
        witness = {
            "witnessed_tasks": d["witnessed_tasks"] + grew["tasks"],
            "witnessed_cpu": d["witnessed_cpu"] + grew["compute_seconds"],
            "witnessed_connected": d["witnessed_connected"] + grew["connected_seconds"],
            "witness_rev": d["witness_rev"] + 1,
            **{col: d[col] + grew[k] for col, k in reliability.COLUMNS.items()},
        }
        settled = ledger.settle(d, {**d, **witness}, t, rules)
        merged = {**d, **witness, **settled.values}
        conn.execute(_LEDGER_UPDATE, {"device_id": device_id, **{k: merged[k] for k in _WRITTEN}})
        if any(settled.day.values()):
            usage = {"device_id": device_id, "day": heartbeats.day_of(t), **settled.day}
            usage.update(user_id=d["user_id"], pool_id=d["pool_id"])
            usage.update(ledger.named("clamped", (0.0, 0.0, 0.0)))
            conn.execute(heartbeats.UPSERT[dialect], usage)


def _bounded(
    e: Mapping[str, Any], d: Mapping[str, Any], t: float, rules: ledger.Rules
) -> dict[str, Any]:
    """The entry within what the device could have done: no more threads than its declared
    cores, no longer connected than it has existed, no more compute (valid or invalid) than
    its threads could give while connected."""
    threads = min(e["threads"], max(1, d["cores"]))
    connected = min(e["connected_seconds"], max(0.0, t - d["created_at"]) * (1 + rules.tolerance))
    compute = min(e["compute_seconds"], threads * connected)
    invalid = min(e["invalid_compute_seconds"], threads * connected)
    return {**e, "compute_seconds": compute, "connected_seconds": connected, "threads": threads,
            "invalid_compute_seconds": invalid}  # fmt: skip
