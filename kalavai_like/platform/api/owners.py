"""A pool owner's tools over its members: remove a worker (its agent learns it on its next
heartbeat and cleans up), ban a user (they can redeem none of the pool's tokens; their devices
leave) and unban, the notices about workers (kalavai_like.platform.notices) and the webhook
they are POSTed to."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response
from pydantic import AfterValidator, BaseModel, StringConstraints
from sqlalchemy import select
from sqlalchemy.orm import Session

from kalavai_like.errors import Conflict
from kalavai_like.platform import notices
from kalavai_like.platform.api import HexId
from kalavai_like.platform.api.devices import leave
from kalavai_like.platform.api.pools import PoolKey, owned_pool
from kalavai_like.platform.auth import Db, Settings, User
from kalavai_like.platform.models import Device, Pool, PoolBan, now
from kalavai_like.platform.models import User as UserRow
from kalavai_like.platform.problems import not_found
from kalavai_like.platform.views import iso, iso_req

router = APIRouter(prefix="/api/v1", tags=["pool owners"])
REMOVED_REASON = "removed by the pool's owner"


def _check_url(value: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("the webhook must be an http:// or https:// URL with a host")
    return value


WebhookUrl = Annotated[
    str, StringConstraints(max_length=500, pattern=r"^[!-~]+$"), AfterValidator(_check_url)
]


class WebhookIn(BaseModel):
    url: WebhookUrl | None = None  # null: no webhook


class WebhookOut(BaseModel):
    url: str | None


class BanOut(BaseModel):
    user_id: str
    created_at: str
    devices_removed: int = 0


class NoticeOut(BaseModel):
    kind: notices.Kind
    device_id: str
    device_name: str
    since: str | None
    message: str


def remove_members(s: Session, pool: Pool, where: object) -> int:
    """Remove the pool's workers matching `where` (each learns it on its next heartbeat)."""
    rows = s.scalars(
        select(Device).where(
            Device.pool_id == pool.id,
            Device.role == "worker",
            Device.left_at.is_(None),
            where,  # type: ignore[arg-type]
        )
    ).all()
    for device in rows:
        leave(s, device, removed_because=REMOVED_REASON)
    return len(rows)


@router.delete("/pools/{pool_key}/devices/{device_id}", status_code=204)
def remove_worker(
    pool_key: PoolKey, device_id: HexId, who: User, db: Db, request: Request
) -> Response:
    """Remove a worker from your pool: it leaves at once (its address is held back), and its
    agent cleans up when its next heartbeat hears so. Removing it again changes nothing."""
    with db.write() as s:
        pool = owned_pool(s, who, pool_key, lock=True)
        device = s.get(Device, device_id)
        if device is None or device.pool_id != pool.id:
            raise not_found("device")
        if device.role != "worker":
            raise Conflict("That is the pool's hub", "Stop the pool on the seed instead.")
        remove_members(s, pool, Device.id == device.id)
    request.app.state.peers.notify(pool.id)
    return Response(status_code=204)


@router.get("/pools/{pool_key}/bans", response_model=list[BanOut])
def list_bans(pool_key: PoolKey, who: User, db: Db) -> list[BanOut]:
    with db.read() as s:
        pool = owned_pool(s, who, pool_key)
        rows = s.scalars(
            select(PoolBan).where(PoolBan.pool_id == pool.id).order_by(PoolBan.created_at)
        )
        return [BanOut(user_id=b.user_id, created_at=iso_req(b.created_at)) for b in rows]


@router.put("/pools/{pool_key}/bans/{user_id}", response_model=BanOut)
def ban_user(pool_key: PoolKey, user_id: HexId, who: User, db: Db, request: Request) -> BanOut:
    """Ban a user from your pool: their devices in it are removed, and they can redeem none
    of its join tokens until unbanned. Banning them again changes nothing."""
    with db.write() as s:
        pool = owned_pool(s, who, pool_key, lock=True)
        if user_id == who.user_id:
            raise Conflict("That is you", "A pool's owner cannot ban themselves.")
        if s.get(UserRow, user_id) is None:
            raise not_found("user")
        ban = s.get(PoolBan, (pool.id, user_id))
        if ban is None:
            ban = PoolBan(pool_id=pool.id, user_id=user_id, created_at=now())
            s.add(ban)
        removed = remove_members(s, pool, Device.user_id == user_id)
        s.flush()
        out = BanOut(user_id=user_id, created_at=iso_req(ban.created_at), devices_removed=removed)
    request.app.state.peers.notify(pool.id)
    return out


@router.delete("/pools/{pool_key}/bans/{user_id}", status_code=204)
def unban_user(pool_key: PoolKey, user_id: HexId, who: User, db: Db) -> Response:
    """Let a banned user join your pool again (with a new join token). Idempotent."""
    with db.write() as s:
        pool = owned_pool(s, who, pool_key)
        ban = s.get(PoolBan, (pool.id, user_id))
        if ban is not None:
            s.delete(ban)
    return Response(status_code=204)


@router.get("/pools/{pool_key}/notices", response_model=list[NoticeOut])
def pool_notices(pool_key: PoolKey, who: User, db: Db, cfg: Settings) -> list[NoticeOut]:
    """What your pool's workers need your attention for: offline, or claims far above what
    the pool's head witnessed."""
    with db.read() as s:
        pool = owned_pool(s, who, pool_key)
        return [
            NoticeOut(
                kind=n.kind,
                device_id=n.device_id,
                device_name=n.device_name,
                since=iso(n.since),
                message=n.message,
            )
            for n in notices.pool_notices(s, pool, now(), cfg)
        ]


@router.get("/pools/{pool_key}/webhook", response_model=WebhookOut)
def get_webhook(pool_key: PoolKey, who: User, db: Db) -> WebhookOut:
    with db.read() as s:
        return WebhookOut(url=owned_pool(s, who, pool_key).webhook_url)


@router.put("/pools/{pool_key}/webhook", response_model=WebhookOut)
def set_webhook(pool_key: PoolKey, body: WebhookIn, who: User, db: Db) -> WebhookOut:
    """Where the platform POSTs your pool's notices as JSON events (worker_offline,
    claims_above_witness); null stops them."""
    with db.write() as s:
        pool = owned_pool(s, who, pool_key)
        pool.webhook_url = body.url
        return WebhookOut(url=pool.webhook_url)
