"""Credit read-outs: my totals, daily history, per pool and device, pools' owners, leaderboard.

Totals of users and pools are sums over their devices; recent averages are the sum of the
devices' averages decayed to now (see kalavai_like.platform.credit).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import func, select

from kalavai_like.platform import credit
from kalavai_like.platform.api.pools import PoolKey, owned_pool
from kalavai_like.platform.auth import Db, User
from kalavai_like.platform.db import oldest_first
from kalavai_like.platform.models import Device, Pool, UsageDay, now
from kalavai_like.platform.models import User as UserRow
from kalavai_like.platform.schemas import PoolRef, Totals, UserRef
from kalavai_like.platform.views import clamped_totals

router = APIRouter(prefix="/api/v1", tags=["credit"])


# ---- what the credit routes answer -------------------------------------------------------


class CreditMe(BaseModel):
    measured: Totals
    granted: Totals


class DailyRow(Totals):
    day: str


class PoolCreditRow(Totals):
    pool: PoolRef


class DeviceRef(BaseModel):
    id: str
    name: str


class DeviceCreditRow(Totals):
    device: DeviceRef


class PoolDeviceCreditRow(BaseModel):
    device: DeviceRef
    user: UserRef
    granted: Totals
    clamped: Totals


class PoolCredit(BaseModel):
    pool: PoolRef
    measured: Totals
    granted: Totals
    clamped: Totals
    devices: list[PoolDeviceCreditRow]


class LeaderUser(BaseModel):
    id: str
    display: str


class LeaderRow(BaseModel):
    user: LeaderUser
    credit: float
    recent_average: float


class _Sum:
    """Running sums of device rows: granted, measured and the decayed recent average."""

    def __init__(self) -> None:
        self.g = [0.0, 0.0, 0.0, 0.0]
        self.m = [0.0, 0.0, 0.0, 0.0]
        self.recent = 0.0

    def add(self, d: Device, t: float) -> None:
        for i, v in enumerate((d.granted_cpu, d.granted_ram, d.granted_gpu, d.credit)):
            self.g[i] += v
        for i, v in enumerate((d.measured_cpu, d.measured_ram, d.measured_gpu, d.measured_credit)):
            self.m[i] += v
        self.recent += credit.decayed(d.recent_avg, d.recent_avg_time, t)

    def granted(self) -> Totals:
        return credit.totals(self.g[0], self.g[1], self.g[2], self.g[3], self.recent)

    def measured(self) -> Totals:
        return credit.totals(self.m[0], self.m[1], self.m[2], self.m[3])

    def clamped(self) -> Totals:
        m, g = self.m, self.g
        return credit.totals(m[0] - g[0], m[1] - g[1], m[2] - g[2], m[3] - g[3])


@router.get("/credit/me", response_model=CreditMe)
def my_credit(who: User, db: Db) -> CreditMe:
    """What you contributed: measured (claimed by your devices) and granted (after clamps)."""
    total = _Sum()
    t = now()
    with db.read() as s:
        for d in s.scalars(select(Device).where(Device.user_id == who.user_id)):
            total.add(d, t)
    return CreditMe(measured=total.measured(), granted=total.granted())


@router.get("/credit/me/daily", response_model=list[DailyRow])
def my_daily(who: User, db: Db, days: Annotated[int, Query(ge=1, le=3660)] = 30) -> list[DailyRow]:
    """Granted usage and credit per UTC day, oldest first, for the last `days` days."""
    first = (datetime.now(UTC) - timedelta(days=days - 1)).strftime("%Y-%m-%d")
    u = UsageDay
    with db.read() as s:
        rows = s.execute(
            select(u.day, func.sum(u.cpu), func.sum(u.ram), func.sum(u.gpu), func.sum(u.credit))
            .where(u.user_id == who.user_id, u.day >= first)
            .group_by(u.day)
            .order_by(u.day)
        ).all()
    return [DailyRow(day=r[0], **credit.totals(*r[1:]).model_dump()) for r in rows]


@router.get("/credit/me/pools", response_model=list[PoolCreditRow])
def my_pools(who: User, db: Db) -> list[PoolCreditRow]:
    sums: dict[str, _Sum] = defaultdict(_Sum)
    t = now()
    with db.read() as s:
        names: dict[str, str] = {}
        for d, name in s.execute(
            select(Device, Pool.name)
            .join(Pool, Pool.id == Device.pool_id)
            .where(Device.user_id == who.user_id)
        ):
            sums[d.pool_id].add(d, t)
            names[d.pool_id] = name
    return [
        PoolCreditRow(pool=PoolRef(id=pid, name=names[pid]), **total.granted().model_dump())
        for pid, total in sorted(sums.items(), key=lambda kv: names[kv[0]])
    ]


@router.get("/credit/me/devices", response_model=list[DeviceCreditRow])
def my_devices(who: User, db: Db) -> list[DeviceCreditRow]:
    t = now()
    out = []
    with db.read() as s:
        for d in oldest_first(s, Device, Device.user_id == who.user_id):
            total = _Sum()
            total.add(d, t)
            out.append(
                DeviceCreditRow(
                    device=DeviceRef(id=d.id, name=d.name), **total.granted().model_dump()
                )
            )
    return out


@router.get("/pools/{pool_key}/credit", response_model=PoolCredit)
def pool_credit(pool_key: PoolKey, who: User, db: Db) -> PoolCredit:
    """The pool's totals and each device's granted and clamped usage (pool owner only)."""
    t = now()
    total = _Sum()
    rows = []
    with db.read() as s:
        pool = owned_pool(s, who, pool_key)
        for d, u in s.execute(
            select(Device, UserRow)
            .join(UserRow, UserRow.id == Device.user_id)
            .where(Device.pool_id == pool.id)
            .order_by(Device.created_at)
        ):
            total.add(d, t)
            one = _Sum()
            one.add(d, t)
            rows.append(
                PoolDeviceCreditRow(
                    device=DeviceRef(id=d.id, name=d.name),
                    user=UserRef(id=u.id, email=u.email),
                    granted=one.granted(),
                    clamped=clamped_totals(d),
                )
            )
        ref = PoolRef(id=pool.id, name=pool.name)
    return PoolCredit(
        pool=ref,
        measured=total.measured(),
        granted=total.granted(),
        clamped=total.clamped(),
        devices=rows,
    )


def display_name(email: str) -> str:
    """A leaderboard name that does not reveal the email: 'ali…' from alice@example.org."""
    local = email.split("@", 1)[0]
    return (local[:3] or "user") + "…"


@router.get("/credit/leaderboard", response_model=list[LeaderRow])
def leaderboard(
    who: User,
    db: Db,
    by: Annotated[Literal["credit", "recent"], Query()] = "credit",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[LeaderRow]:
    """Users ranked by total credit or by recent average credit."""
    t = now()
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    with db.read() as s:
        for uid, c, avg, avg_time in s.execute(
            select(Device.user_id, Device.credit, Device.recent_avg, Device.recent_avg_time).where(
                Device.credit > 0
            )
        ):
            totals[uid][0] += c
            totals[uid][1] += credit.decayed(avg, avg_time, t)
        key = 0 if by == "credit" else 1
        top = sorted(totals.items(), key=lambda kv: -kv[1][key])[:limit]
        emails = dict(
            s.execute(select(UserRow.id, UserRow.email).where(UserRow.id.in_([u for u, _ in top])))
            .tuples()
            .all()
        )
    return [
        LeaderRow(
            user=LeaderUser(id=uid, display=display_name(emails.get(uid, ""))),
            credit=v[0],
            recent_average=v[1],
        )
        for uid, v in top
    ]
