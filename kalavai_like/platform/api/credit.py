"""Credit read-outs: my totals, daily history, per pool and device, pools' owners, leaderboard.

Totals of users and pools are sums over their devices, each split as of now into granted
(witnessed), pending, unverified and clamped (kalavai_like.platform.ledger); recent averages
are the sum of the devices' averages decayed to now (kalavai_like.platform.credit). The
leaderboard counts only credit granted in public pools the operator trusts, of users not
suspended, at the platform's standard rates (never a pool's own weights).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from kalavai_like.platform import credit, ledger
from kalavai_like.platform.api.pools import PoolKey, owned_pool
from kalavai_like.platform.auth import Db, Settings, User
from kalavai_like.platform.models import Device, Pool, UsageDay, now
from kalavai_like.platform.models import User as UserRow
from kalavai_like.platform.schemas import PoolRef, Totals, UserRef, Witnessed, WitnessKind
from kalavai_like.platform.settings import PlatformSettings
from kalavai_like.platform.views import pool_weights, user_ref

router = APIRouter(prefix="/api/v1", tags=["credit"])


# ---- what the credit routes answer -------------------------------------------------------


def _zero() -> Totals:
    return Totals()


class CreditMe(BaseModel):
    measured: Totals
    granted: Totals
    pending: Totals = Field(default_factory=_zero)
    unverified: Totals = Field(default_factory=_zero)
    # What the public leaderboard counts for you: granted in public trusted pools, at the
    # platform's standard rates.
    counted: Totals = Field(default_factory=_zero)


class DailyRow(Totals):
    day: str
    unverified: Totals = Field(default_factory=_zero)


class PoolCreditRow(Totals):
    pool: PoolRef
    pending: Totals = Field(default_factory=_zero)
    unverified: Totals = Field(default_factory=_zero)
    witness: WitnessKind = "none"


class DeviceRef(BaseModel):
    id: str
    name: str


class DeviceCreditRow(Totals):
    device: DeviceRef
    pending: Totals = Field(default_factory=_zero)
    unverified: Totals = Field(default_factory=_zero)
    witnessed: Witnessed = Field(default_factory=Witnessed)
    witness: WitnessKind = "none"


class PoolDeviceCreditRow(BaseModel):
    device: DeviceRef
    user: UserRef
    granted: Totals
    clamped: Totals
    pending: Totals = Field(default_factory=_zero)
    unverified: Totals = Field(default_factory=_zero)
    witnessed: Witnessed = Field(default_factory=Witnessed)


class PoolCredit(BaseModel):
    pool: PoolRef
    measured: Totals
    granted: Totals
    clamped: Totals
    devices: list[PoolDeviceCreditRow]
    pending: Totals = Field(default_factory=_zero)
    unverified: Totals = Field(default_factory=_zero)
    witness: WitnessKind = "none"


class LeaderUser(BaseModel):
    id: str
    display: str


class LeaderRow(BaseModel):
    user: LeaderUser
    credit: float
    recent_average: float
    granted: Totals = Field(default_factory=_zero)  # the usage counted, at standard rates


def _split(rows: Iterable[tuple[Device, Pool]], t: float) -> ledger.Split:
    """The devices' split as of `t`, each at its pool's weights."""
    total = ledger.Split()
    for d, pool in rows:
        total.add(ledger.row(d), pool_weights(pool), t)
    return total


def counts_publicly(pool: Pool, user: UserRow) -> bool:
    """Whether credit granted in `pool` to `user` counts on the public leaderboard."""
    return pool.public and pool.trusted and user.suspended_at is None


class _Counted:
    """Granted usage at the platform's standard rates, with its decayed recent average."""

    def __init__(self) -> None:
        self.usage = [0.0, 0.0, 0.0]
        self.recent = 0.0

    def add(self, d: Any, t: float) -> None:
        for i, v in enumerate((d.granted_cpu, d.granted_ram, d.granted_gpu)):
            self.usage[i] += v
        self.recent += credit.decayed(d.std_recent_avg, d.recent_avg_time, t)

    def totals(self, cfg: PlatformSettings) -> Totals:
        cpu, ram, gpu = self.usage
        std = credit.Weights.of(cfg.default_weights).credit(cpu, ram, gpu)
        return credit.totals(cpu, ram, gpu, std, self.recent)


def _mine(s: Any, user_id: str) -> list[tuple[Device, Pool]]:
    """The user's devices, oldest first, each with its pool."""
    rows = s.execute(
        select(Device, Pool)
        .join(Pool, Pool.id == Device.pool_id)
        .where(Device.user_id == user_id)
        .order_by(Device.created_at)
    )
    return [(d, p) for d, p in rows]


@router.get("/credit/me", response_model=CreditMe)
def my_credit(who: User, db: Db, cfg: Settings) -> CreditMe:
    """What you contributed: measured (claimed by your devices), granted (witnessed), pending
    (not witnessed yet), unverified, and what the public leaderboard counts of it."""
    t = now()
    counted = _Counted()
    with db.read() as s:
        me = s.get(UserRow, who.user_id)
        rows = _mine(s, who.user_id)
        for d, pool in rows:
            if me is not None and counts_publicly(pool, me):
                counted.add(d, t)
    total = _split(rows, t)
    return CreditMe(
        measured=total.totals("measured"),
        granted=total.totals("granted"),
        pending=total.totals("pending"),
        unverified=total.totals("unverified"),
        counted=counted.totals(cfg),
    )


@router.get("/credit/me/daily", response_model=list[DailyRow])
def my_daily(who: User, db: Db, days: Annotated[int, Query(ge=1, le=3660)] = 30) -> list[DailyRow]:
    """Granted (and unverified) usage and credit per UTC day, oldest first, for the last
    `days` days."""
    first = (datetime.now(UTC) - timedelta(days=days - 1)).strftime("%Y-%m-%d")
    u = UsageDay
    granted = (u.cpu, u.ram, u.gpu, u.credit)
    unverified = (u.unverified_cpu, u.unverified_ram, u.unverified_gpu, u.unverified_credit)
    sums = [func.sum(c) for c in (*granted, *unverified)]
    with db.read() as s:
        rows = s.execute(
            select(u.day, *sums)
            .where(u.user_id == who.user_id, u.day >= first)
            .group_by(u.day)
            .order_by(u.day)
        ).all()
    return [
        DailyRow(day=r[0], unverified=credit.totals(*r[5:9]), **credit.totals(*r[1:5]).model_dump())
        for r in rows
    ]


@router.get("/credit/me/pools", response_model=list[PoolCreditRow])
def my_pools(who: User, db: Db) -> list[PoolCreditRow]:
    """Your credit per pool: granted (witnessed: `witness` says by whom), pending, unverified."""
    t = now()
    per_pool: dict[str, list[tuple[Device, Pool]]] = defaultdict(list)
    with db.read() as s:
        for d, pool in _mine(s, who.user_id):
            per_pool[pool.id].append((d, pool))
    out = []
    for rows in sorted(per_pool.values(), key=lambda rows: rows[0][1].name):
        pool, total = rows[0][1], _split(rows, t)
        out.append(
            PoolCreditRow(
                pool=PoolRef(id=pool.id, name=pool.name),
                pending=total.totals("pending"),
                unverified=total.totals("unverified"),
                witness=ledger.witness_kind(pool.template, pool.trusted),
                **total.totals("granted").model_dump(),
            )
        )
    return out


@router.get("/credit/me/devices", response_model=list[DeviceCreditRow])
def my_devices(who: User, db: Db) -> list[DeviceCreditRow]:
    """Your credit per device, with what its pool's head witnessed of it."""
    t = now()
    out = []
    with db.read() as s:
        for d, pool in _mine(s, who.user_id):
            row = ledger.row(d)
            one = ledger.split(row, pool_weights(pool), t)
            out.append(
                DeviceCreditRow(
                    device=DeviceRef(id=d.id, name=d.name),
                    pending=one.totals("pending"),
                    unverified=one.totals("unverified"),
                    witnessed=ledger.witnessed(row),
                    witness=ledger.witness_kind(pool.template, pool.trusted),
                    **one.totals("granted").model_dump(),
                )
            )
    return out


@router.get("/pools/{pool_key}/credit", response_model=PoolCredit)
def pool_credit(pool_key: PoolKey, who: User, db: Db) -> PoolCredit:
    """The pool's totals and each device's granted, pending, unverified and clamped usage,
    with what the head witnessed of it (pool owner only)."""
    t = now()
    total = ledger.Split()
    rows = []
    with db.read() as s:
        pool = owned_pool(s, who, pool_key)
        weights = pool_weights(pool)
        for d, u in s.execute(
            select(Device, UserRow)
            .join(UserRow, UserRow.id == Device.user_id)
            .where(Device.pool_id == pool.id)
            .order_by(Device.created_at)
        ):
            row = ledger.row(d)
            total.add(row, weights, t)
            one = ledger.split(row, weights, t)
            rows.append(
                PoolDeviceCreditRow(
                    device=DeviceRef(id=d.id, name=d.name),
                    user=user_ref(u, who.user_id),
                    granted=one.totals("granted"),
                    clamped=one.totals("clamped"),
                    pending=one.totals("pending"),
                    unverified=one.totals("unverified"),
                    witnessed=ledger.witnessed(row),
                )
            )
        ref = PoolRef(id=pool.id, name=pool.name)
        witness = ledger.witness_kind(pool.template, pool.trusted)
    return PoolCredit(
        pool=ref,
        measured=total.totals("measured"),
        granted=total.totals("granted"),
        clamped=total.totals("clamped"),
        devices=rows,
        pending=total.totals("pending"),
        unverified=total.totals("unverified"),
        witness=witness,
    )


@router.get("/credit/leaderboard", response_model=list[LeaderRow])
def leaderboard(
    who: User,
    db: Db,
    cfg: Settings,
    by: Annotated[Literal["credit", "recent"], Query()] = "credit",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[LeaderRow]:
    """Users ranked by total or recent average credit: only credit granted (witnessed) in
    public pools the operator trusts, at the platform's standard rates; suspended users and
    pending or unverified credit never appear."""
    t = now()
    sums: dict[str, _Counted] = defaultdict(_Counted)
    with db.read() as s:
        for d in s.execute(
            select(
                Device.user_id,
                Device.granted_cpu,
                Device.granted_ram,
                Device.granted_gpu,
                Device.std_recent_avg,
                Device.recent_avg_time,
            )
            .join(Pool, Pool.id == Device.pool_id)
            .join(UserRow, UserRow.id == Device.user_id)
            .where(
                Pool.public.is_(True),
                Pool.trusted.is_(True),
                UserRow.suspended_at.is_(None),
                Device.granted_cpu + Device.granted_ram + Device.granted_gpu > 0,
            )
        ):
            sums[d.user_id].add(d, t)
        counted = {uid: c.totals(cfg) for uid, c in sums.items()}
        key = "credit" if by == "credit" else "recent_average"
        top = sorted(counted.items(), key=lambda kv: -getattr(kv[1], key))[:limit]
        names = dict(
            s.execute(
                select(UserRow.id, UserRow.display_name).where(UserRow.id.in_([u for u, _ in top]))
            )
            .tuples()
            .all()
        )
    return [
        LeaderRow(
            user=LeaderUser(id=uid, display=names.get(uid, "")),
            credit=v.credit,
            recent_average=v.recent_average,
            granted=v,
        )
        for uid, v in top
    ]
