"""Heartbeats into the credit ledger: dedupe, deltas, clamping, per-day rows, averages.

One heartbeat is one short write transaction of three statements: lock and read the device
(with its pool's weights), update the device's counters and totals, and upsert its row for
the UTC day. Users' and pools' totals are sums over their devices, so concurrent heartbeats
of different devices never contend for one row.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from kalavai_like.platform import credentials, credit
from kalavai_like.platform.db import Database
from kalavai_like.platform.models import Device, Pool, UsageDay, now
from kalavai_like.platform.problems import unauthorized
from kalavai_like.platform.schemas import HeartbeatIn, HeartbeatOut
from kalavai_like.platform.settings import PlatformSettings

_D = Device.__table__.c


def day_of(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def _upsert_day(db: Database, values: dict[str, object]) -> object:
    insert = sqlite.insert if db.is_sqlite else postgresql.insert
    stmt = insert(UsageDay).values(**values)
    added = ("cpu", "ram", "gpu", "credit", "clamped_cpu", "clamped_ram", "clamped_gpu")
    return stmt.on_conflict_do_update(
        index_elements=["device_id", "day"],
        set_={k: getattr(UsageDay, k) + stmt.excluded[k] for k in added},
    )


def record(db: Database, cfg: PlatformSettings, credential: str, hb: HeartbeatIn) -> HeartbeatOut:
    """Apply one heartbeat from the device holding `credential`.

    Raises:
        Problem: 401 if the credential is unknown or the device left.
    """
    digest = credentials.digest(credential)
    stmt = (
        select(Device, Pool.weight_cpu, Pool.weight_ram, Pool.weight_gpu)
        .join(Pool, Pool.id == Device.pool_id)
        .where(Device.credential_hash == digest, Device.left_at.is_(None))
        .with_for_update(of=Device)  # serialises one device's heartbeats (PostgreSQL)
    )
    with db.write() as s:
        found = s.execute(stmt).first()
        if found is None:
            raise unauthorized("This device credential is unknown or the device left its pool.")
        d, w_cpu, w_ram, w_gpu = found
        t = now()
        if hb.seq <= d.last_seq:  # a replay or an out-of-order old heartbeat: counted already
            return _reply(d, hb.seq, duplicate=True, t=t)
        c = hb.counters
        deltas = (
            c.cpu_seconds - d.base_cpu,
            c.ram_gb_seconds - d.base_ram,
            c.gpu_seconds - d.base_gpu,
        )
        cut = credit.clamp(
            deltas,
            cores=d.cores,
            memory_bytes=d.memory_bytes,
            gpus=d.gpus,
            elapsed=t - d.base_at,
            tolerance=cfg.clamp_tolerance,
        )
        weights = credit.Weights(w_cpu, w_ram, w_gpu)
        granted_credit = weights.credit(*cut.granted)
        measured = tuple(max(0.0, x) for x in deltas)
        measured_credit = weights.credit(*measured)
        avg, avg_time = credit.update_average(
            t, d.created_at, granted_credit, d.recent_avg, d.recent_avg_time
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
            "measured_cpu": d.measured_cpu + measured[0],
            "measured_ram": d.measured_ram + measured[1],
            "measured_gpu": d.measured_gpu + measured[2],
            "granted_cpu": d.granted_cpu + cut.granted[0],
            "granted_ram": d.granted_ram + cut.granted[1],
            "granted_gpu": d.granted_gpu + cut.granted[2],
            "credit": d.credit + granted_credit,
            "measured_credit": d.measured_credit + measured_credit,
            "recent_avg": avg,
            "recent_avg_time": avg_time,
        }
        s.execute(update(Device).where(_D.id == d.id).values(**values))
        if any(measured):
            s.execute(
                _upsert_day(
                    db,
                    {
                        "device_id": d.id,
                        "day": day_of(t),
                        "user_id": d.user_id,
                        "pool_id": d.pool_id,
                        "cpu": cut.granted[0],
                        "ram": cut.granted[1],
                        "gpu": cut.granted[2],
                        "credit": granted_credit,
                        "clamped_cpu": cut.clamped[0],
                        "clamped_ram": cut.clamped[1],
                        "clamped_gpu": cut.clamped[2],
                    },
                )
            )
        for key, value in values.items():
            setattr(d, key, value)
        s.expunge(d)
        return _reply(d, hb.seq, duplicate=False, t=t)


def _reply(d: Device, seq: int, *, duplicate: bool, t: float) -> HeartbeatOut:
    return HeartbeatOut(
        seq=seq,
        duplicate=duplicate,
        desired_state=d.desired_state,
        granted=credit.totals(
            d.granted_cpu,
            d.granted_ram,
            d.granted_gpu,
            d.credit,
            credit.decayed(d.recent_avg, d.recent_avg_time, t),
        ),
        clamped=credit.totals(
            d.measured_cpu - d.granted_cpu,
            d.measured_ram - d.granted_ram,
            d.measured_gpu - d.granted_gpu,
            d.measured_credit - d.credit,
        ),
    )
