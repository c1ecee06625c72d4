"""Heartbeats into the credit ledger: dedupe, deltas, clamping, per-day rows, averages.

`apply` is the arithmetic of one accepted heartbeat and `reply` its answer; both paths share
them. Requests are served by the lean path (`heartbeat_route` + `heartbeat_store`); `record`
is the FastAPI route's path: one short write transaction of three prepared Core statements
(lock and read the device with its pool's weights, update the device's counters and totals,
upsert its row for the UTC day). Users' and pools' totals are sums over their devices, so
concurrent heartbeats of different devices never contend for one row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite

from kalavai_like.platform import credentials, credit
from kalavai_like.platform.db import Database
from kalavai_like.platform.models import Device, Pool, UsageDay, now
from kalavai_like.platform.problems import unauthorized
from kalavai_like.platform.schemas import HeartbeatIn, HeartbeatOut
from kalavai_like.platform.settings import PlatformSettings

_D = Device.__table__.c
_P = Pool.__table__.c
_DAY = UsageDay.__table__
UNKNOWN_DEVICE = "This device credential is unknown or the device left its pool."
ADDED = ("cpu", "ram", "gpu", "credit", "clamped_cpu", "clamped_ram", "clamped_gpu")
# The device's credit ledger: `apply` reads each of these columns and writes each back.
LEDGER = (
    "last_seq",
    "base_cpu",
    "base_ram",
    "base_gpu",
    "base_at",
    "measured_cpu",
    "measured_ram",
    "measured_gpu",
    "granted_cpu",
    "granted_ram",
    "granted_gpu",
    "credit",
    "measured_credit",
    "recent_avg",
    "recent_avg_time",
)
UPDATED = (*LEDGER, "last_heartbeat_at", "state", "reason")

# Built once: with bound parameters SQLAlchemy compiles each statement only once.
_SELECT = (
    select(
        *Device.__table__.c,
        _P.weight_cpu.label("w_cpu"),
        _P.weight_ram.label("w_ram"),
        _P.weight_gpu.label("w_gpu"),
    )
    .join_from(Device.__table__, Pool.__table__, _P.id == _D.pool_id)
    .where(_D.credential_hash == bindparam("digest"), _D.left_at.is_(None))
    .with_for_update(of=Device.__table__)  # serialises one device's heartbeats (PostgreSQL)
)
_UPDATE = (
    update(Device).where(_D.id == bindparam("device_id")).values({k: bindparam(k) for k in UPDATED})
)


def _upsert(dialect: Any) -> Any:
    stmt = dialect.insert(_DAY)
    return stmt.on_conflict_do_update(
        index_elements=["device_id", "day"],
        set_={k: _DAY.c[k] + stmt.excluded[k] for k in ADDED},
    )


_UPSERT = {"sqlite": _upsert(sqlite), "postgresql": _upsert(postgresql)}


_today: tuple[float, float, str] = (0.0, 0.0, "")  # [start, end) of the last day seen, its name


def day_of(ts: float) -> str:
    """The UTC day of `ts` as YYYY-MM-DD (remembered: heartbeats mostly land on one day)."""
    global _today
    start, end, name = _today
    if start <= ts < end:
        return name
    name = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")
    start = datetime.strptime(name, "%Y-%m-%d").replace(tzinfo=UTC).timestamp()
    _today = (start, start + 86400.0 - 1e-3, name)  # near midnight: computed, not cached
    return name


@dataclass(frozen=True)
class Outcome:
    """One heartbeat against the device row as read (`d`, with its pool's weights) at `t`:
    a replay, counted already, or the device's new `values` and the `usage` for its day row."""

    d: Mapping[Any, Any]
    t: float
    replay: bool
    values: dict[str, Any] = field(default_factory=dict)
    usage: dict[str, Any] | None = None

    @property
    def after(self) -> dict[Any, Any]:
        """The device row once the outcome is written."""
        return {**self.d, **self.values}


def attempt(d: Mapping[Any, Any] | None, hb: HeartbeatIn, tolerance: float) -> Outcome:
    """The outcome of `hb` for the device row `d` read for its credential, now.

    Raises:
        Problem: 401 if no device was read (unknown credential, or the device left).
    """
    if d is None:
        raise unauthorized(UNKNOWN_DEVICE)
    t = now()
    if hb.seq <= d["last_seq"]:  # a replay or an out-of-order old heartbeat: counted already
        return Outcome(d, t, replay=True)
    values, usage = apply(d, hb, t, tolerance)
    return Outcome(d, t, replay=False, values=values, usage=usage)


def record(db: Database, cfg: PlatformSettings, credential: str, hb: HeartbeatIn) -> HeartbeatOut:
    """Apply one heartbeat from the device holding `credential`.

    Raises:
        Problem: 401 if the credential is unknown or the device left.
    """
    digest = credentials.digest(credential)
    with db.write_connection() as conn:
        d = conn.execute(_SELECT, {"digest": digest}).mappings().first()
        o = attempt(d, hb, cfg.clamp_tolerance)
        if not o.replay:
            conn.execute(_UPDATE, {"device_id": o.d["id"], **o.values})
            if o.usage is not None:
                conn.execute(_UPSERT[db.dialect], o.usage)
        return reply(o.after, hb.seq, duplicate=o.replay, t=o.t)


def apply(
    d: Mapping[Any, Any], hb: HeartbeatIn, t: float, tolerance: float
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The arithmetic of one accepted heartbeat (seq above the device's last), at time `t`.

    `d` is the device row with its pool's weights (`w_cpu`, `w_ram`, `w_gpu`). Returns the
    device's new column values, and the usage to add to its row for the UTC day (None when
    nothing was measured).
    """
    c = hb.counters
    deltas = (
        c.cpu_seconds - d["base_cpu"],
        c.ram_gb_seconds - d["base_ram"],
        c.gpu_seconds - d["base_gpu"],
    )
    cut = credit.clamp(
        deltas,
        cores=d["cores"],
        memory_bytes=d["memory_bytes"],
        gpus=d["gpus"],
        elapsed=t - d["base_at"],
        tolerance=tolerance,
    )
    weights = credit.Weights(d["w_cpu"], d["w_ram"], d["w_gpu"])
    granted_credit = weights.credit(*cut.granted)
    measured = tuple(max(0.0, x) for x in deltas)
    avg, avg_time = credit.update_average(
        t, d["created_at"], granted_credit, d["recent_avg"], d["recent_avg_time"]
    )
    values = {
        "last_seq": hb.seq,
        "base_cpu": c.cpu_seconds,
        "base_ram": c.ram_gb_seconds,
        "base_gpu": c.gpu_seconds,
        "base_at": t,
        "last_heartbeat_at": t,
        "state": hb.state,
        "reason": hb.reason,
        "measured_cpu": d["measured_cpu"] + measured[0],
        "measured_ram": d["measured_ram"] + measured[1],
        "measured_gpu": d["measured_gpu"] + measured[2],
        "granted_cpu": d["granted_cpu"] + cut.granted[0],
        "granted_ram": d["granted_ram"] + cut.granted[1],
        "granted_gpu": d["granted_gpu"] + cut.granted[2],
        "credit": d["credit"] + granted_credit,
        "measured_credit": d["measured_credit"] + weights.credit(*measured),
        "recent_avg": avg,
        "recent_avg_time": avg_time,
    }
    if not any(measured):
        return values, None
    return values, _day_usage(d, t, cut, granted_credit)


def _day_usage(d: Mapping[Any, Any], t: float, cut: Any, granted_credit: float) -> dict[str, Any]:
    """What one heartbeat adds to the device's row for the UTC day of `t`."""
    return {
        "device_id": d["id"],
        "day": day_of(t),
        "user_id": d["user_id"],
        "pool_id": d["pool_id"],
        "cpu": cut.granted[0],
        "ram": cut.granted[1],
        "gpu": cut.granted[2],
        "credit": granted_credit,
        "clamped_cpu": cut.clamped[0],
        "clamped_ram": cut.clamped[1],
        "clamped_gpu": cut.clamped[2],
    }


def reply(d: Any, seq: int, *, duplicate: bool, t: float) -> HeartbeatOut:
    return HeartbeatOut(
        seq=seq,
        duplicate=duplicate,
        desired_state=d["desired_state"],
        granted=credit.totals(
            d["granted_cpu"],
            d["granted_ram"],
            d["granted_gpu"],
            d["credit"],
            credit.decayed(d["recent_avg"], d["recent_avg_time"], t),
        ),
        clamped=credit.totals(
            d["measured_cpu"] - d["granted_cpu"],
            d["measured_ram"] - d["granted_ram"],
            d["measured_gpu"] - d["granted_gpu"],
            d["measured_credit"] - d["credit"],
        ),
    )
