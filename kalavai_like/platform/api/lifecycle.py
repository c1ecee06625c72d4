"""A pool after its creation: its owner closes it to new members (or opens it again), and
deletes it. Deleting frees what the pool held for everyone else: its name at once, its subnet
after the address hold-back (kalavai_like.platform.ipam), and one of the owner's pools."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from sqlalchemy import select, update

from kalavai_like.platform.api.devices import leave
from kalavai_like.platform.api.pools import PoolKey, owned_pool
from kalavai_like.platform.auth import Db, User
from kalavai_like.platform.models import Device, JoinTokenRow, now
from kalavai_like.platform.schemas import PoolOut, PoolUpdate
from kalavai_like.platform.views import pool_out

router = APIRouter(prefix="/api/v1", tags=["pools"])


@router.patch("/pools/{pool_key}", response_model=PoolOut)
def update_pool(pool_key: PoolKey, body: PoolUpdate, who: User, db: Db) -> PoolOut:
    """Change what the owner may change: `closed` stops new members (and opens again)."""
    with db.write() as s:
        pool = owned_pool(s, who, pool_key, lock=True)
        if body.closed is not None:
            pool.closed = body.closed
        s.flush()
        return pool_out(s, pool, who.user_id)


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
