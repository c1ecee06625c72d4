"""A pool after its creation: its owner closes it to new members (or opens it again), sets
the most one device may declare (kalavai_like.platform.bounds), and deletes it. Deleting
frees what the pool held for everyone else: its name at once, its subnet after the address
hold-back (kalavai_like.platform.ipam), and one of the owner's pools."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel
from sqlalchemy import select, update

from kalavai_like.platform import bounds
from kalavai_like.platform.api.devices import leave
from kalavai_like.platform.api.pools import PoolKey, owned_pool, visible_pool
from kalavai_like.platform.auth import Db, Settings, User
from kalavai_like.platform.models import Device, JoinTokenRow, Pool, now
from kalavai_like.platform.schemas import DeviceLimitsIn, PoolOut, PoolUpdate
from kalavai_like.platform.settings import PlatformSettings
from kalavai_like.platform.views import pool_out

router = APIRouter(prefix="/api/v1", tags=["pools"])
# Each field of DeviceLimitsIn and the Pool column that keeps it.
_COLUMNS = {"cores": "max_cores", "memory_bytes": "max_memory_bytes", "gpus": "max_gpus"}


class DeviceMaxima(BaseModel):
    cores: int
    memory_bytes: int
    gpus: int


class DeviceLimits(DeviceMaxima):
    """The most one device of the pool may declare, and the platform's defaults (what a field
    the owner has not set takes)."""

    platform_default: DeviceMaxima


def _limits_out(cfg: PlatformSettings, pool: Pool) -> DeviceLimits:
    most, base = bounds.maxima(cfg, pool), bounds.defaults(cfg)
    return DeviceLimits(
        cores=most.cores, memory_bytes=most.memory_bytes, gpus=most.gpus,
        platform_default=DeviceMaxima(
            cores=base.cores, memory_bytes=base.memory_bytes, gpus=base.gpus
        ),
    )  # fmt: skip


@router.patch("/pools/{pool_key}", response_model=PoolOut)
def update_pool(pool_key: PoolKey, body: PoolUpdate, who: User, db: Db) -> PoolOut:
    """Change what the owner may change: `closed` stops new members (and opens again)."""
    with db.write() as s:
        pool = owned_pool(s, who, pool_key, lock=True)
        if body.closed is not None:
            pool.closed = body.closed
        s.flush()
        return pool_out(s, pool, who.user_id)


@router.get("/pools/{pool_key}/device-limits", response_model=DeviceLimits)
def device_limits(pool_key: PoolKey, who: User, db: Db, cfg: Settings) -> DeviceLimits:
    """The most one device may declare to join the pool (anyone who sees the pool)."""
    with db.read() as s:
        return _limits_out(cfg, visible_pool(s, who, pool_key))


@router.patch("/pools/{pool_key}/device-limits", response_model=DeviceLimits)
def set_device_limits(
    pool_key: PoolKey, body: DeviceLimitsIn, who: User, db: Db, cfg: Settings
) -> DeviceLimits:
    """Change the pool's maxima per device (owner): a field sent as null takes the platform's
    default again; devices already in the pool stay."""
    with db.write() as s:
        pool = owned_pool(s, who, pool_key, lock=True)
        for field in body.model_fields_set & _COLUMNS.keys():
            setattr(pool, _COLUMNS[field], getattr(body, field))
        s.flush()
        return _limits_out(cfg, pool)


@router.delete("/pools/{pool_key}", status_code=204)
def delete_pool(pool_key: PoolKey, who: User, db: Db, request: Request) -> Response:
    """Delete a pool you own. Its devices (hub too) leave as a removed device does, so their
    agents hear it on their next heartbeat; its join tokens stop working; the credit earned in
    it stays with the volunteers who earned it."""
    with db.write() as s:
        pool = owned_pool(s, who, pool_key, lock=True)
        t = now()
        for device in s.scalars(
            select(Device).where(Device.pool_id == pool.id, Device.left_at.is_(None))
        ):
            leave(s, device)
        s.execute(
            update(JoinTokenRow)
            .where(JoinTokenRow.pool_id == pool.id, JoinTokenRow.revoked_at.is_(None))
            .values(revoked_at=t)
        )
        # Live names never look like ids, so the id frees the name without clashing.
        pool.deleted_at, pool.closed, pool.name = t, True, pool.id
        pool_id = pool.id
    request.app.state.peers.notify(pool_id)
    return Response(status_code=204)
