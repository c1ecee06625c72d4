"""The pool owner's page, its tools over members: Remove a worker, Ban and Unban its user, the
notices about workers and the webhook they go to (the API's endpoint functions do the work);
and `context`, what the owner's page shows of them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from sqlalchemy import select

from kalavai_like.platform import notices
from kalavai_like.platform.api import owners as owners_api
from kalavai_like.platform.models import Device, Pool, now
from kalavai_like.platform.models import User as UserRow
from kalavai_like.platform.schemas import PoolOut
from kalavai_like.platform.web import session
from kalavai_like.platform.web.render import PageRoute, hex_id

router = APIRouter(route_class=PageRoute, include_in_schema=False)
# Fixed messages after an action (a query word picks one; nothing from the URL is echoed).
DONE = {
    "removed": "Worker removed: its agent cleans up at its next heartbeat.",
    "banned": "User banned: their workers are removed and they cannot join again.",
    "unbanned": "User unbanned: they may join with a new token.",
    "webhook": "Webhook saved.",
}


def context(request: Request, who: Any, pool: PoolOut, done: str = "") -> dict[str, Any]:
    """What the owner's page shows of these tools: notices per device, bans, the webhook,
    the hub's state."""
    db, cfg = request.app.state.db, request.app.state.settings
    listed = owners_api.pool_notices(pool.id, who, db, cfg)
    bans = owners_api.list_bans(pool.id, who, db)
    with db.read() as s:
        names = dict(
            s.execute(
                select(UserRow.id, UserRow.display_name).where(
                    UserRow.id.in_({b.user_id for b in bans})
                )
            ).all()
        )
        row = s.get(Pool, pool.id)
        hub = s.get(Device, row.hub_device_id) if row and row.hub_device_id else None
    seen = hub.last_heartbeat_at if hub else None
    by_device: dict[str, list[str]] = {}
    for n in listed:
        by_device.setdefault(n.device_id, []).append(n.message)
    return {
        "notices": listed,
        "device_notices": by_device,
        "bans": [(b, names.get(b.user_id) or "a deleted user") for b in bans],
        "webhook": owners_api.get_webhook(pool.id, who, db).url,
        "hub_state": notices.hub_state(seen, hub is None or hub.left_at is not None, now(), cfg),
        "done": DONE.get(done, ""),
    }


def _back(pool_key: str, done: str) -> RedirectResponse:
    return RedirectResponse(f"/pools/{pool_key}/owner?done={done}", status_code=303)


@router.post("/pools/{pool_key}/devices/{device_id}/remove")
async def remove_worker(request: Request, pool_key: str, device_id: str) -> Response:
    from kalavai_like.platform.web.pools import _pool_key

    user, _form = await session.acting(request)
    key, db = _pool_key(pool_key), request.app.state.db
    await run_in_threadpool(
        owners_api.remove_worker, key, hex_id(device_id), user.principal, db, request
    )
    return _back(key, "removed")


@router.post("/pools/{pool_key}/bans/{user_id}")
async def ban(request: Request, pool_key: str, user_id: str) -> Response:
    from kalavai_like.platform.web.pools import _pool_key

    user, _form = await session.acting(request)
    key, db = _pool_key(pool_key), request.app.state.db
    await run_in_threadpool(owners_api.ban_user, key, hex_id(user_id), user.principal, db, request)
    return _back(key, "banned")


@router.post("/pools/{pool_key}/bans/{user_id}/unban")
async def unban(request: Request, pool_key: str, user_id: str) -> Response:
    from kalavai_like.platform.web.pools import _pool_key

    user, _form = await session.acting(request)
    key, db = _pool_key(pool_key), request.app.state.db
    await run_in_threadpool(owners_api.unban_user, key, hex_id(user_id), user.principal, db)
    return _back(key, "unbanned")


@router.post("/pools/{pool_key}/webhook")
async def webhook(request: Request, pool_key: str) -> Response:
    from kalavai_like.platform.web.pools import _owner_page, _pool_key

    user, form = await session.acting(request)
    key, db = _pool_key(pool_key), request.app.state.db
    try:
        body = owners_api.WebhookIn(url=form.get("url", "").strip() or None)
    except ValidationError:
        error = "The webhook must be an http:// or https:// URL of at most 500 characters."
        return await run_in_threadpool(_owner_page, request, user, key, None, error)
    await run_in_threadpool(owners_api.set_webhook, key, body, user.principal, db)
    return _back(key, "webhook")
