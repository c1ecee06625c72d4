"""The "My devices" page: state and why, pool, address, last heartbeat, totals; pause,
resume and remove. Pause and resume set the device's desired state through the API's own
endpoint, and the device learns it from the reply to its next heartbeat."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from kalavai_like.platform import notices
from kalavai_like.platform.api import devices as devices_api
from kalavai_like.platform.models import Device, Pool, now
from kalavai_like.platform.schemas import DesiredIn
from kalavai_like.platform.web import session
from kalavai_like.platform.web.render import PageRoute, hex_id, page

router = APIRouter(route_class=PageRoute, include_in_schema=False)
# Fixed messages after an action (a query word picks one; nothing from the URL is echoed).
DONE = {
    "paused": "Pause requested: the device pauses at its next heartbeat.",
    "running": "Resume requested: the device resumes at its next heartbeat.",
    "removed": "Device removed from its pool.",
}


@router.get("/devices")
def my_devices(request: Request, done: str = "") -> Response:
    user = session.current(request)
    db = request.app.state.db
    rows = devices_api.my_devices(user.principal, db)
    with db.read() as s:
        names = dict(
            s.execute(
                select(Pool.id, Pool.name).where(Pool.id.in_({d.pool_id for d in rows}))
            ).all()
        )
        hub_ids = {d.id for d in rows if d.role == "hub" and d.left_at is None}
        seen = s.execute(select(Device.id, Device.last_heartbeat_at).where(Device.id.in_(hub_ids)))
        cfg, t = request.app.state.settings, now()
        hubs = {i: notices.hub_state(last, False, t, cfg) for i, last in seen.all()}
    current = [d for d in rows if d.left_at is None]
    gone = [d for d in rows if d.left_at is not None]
    return page(
        request,
        "devices.html",
        user,
        title="My devices",
        devices=current,
        gone=gone,
        pool_names=names,
        hubs=hubs,
        done=DONE.get(done, ""),
    )


async def _act(request: Request, device_id: str) -> session.WebUser:
    user, _form = await session.acting(request)
    hex_id(device_id)
    return user


@router.post("/devices/{device_id}/pause")
async def pause(request: Request, device_id: str) -> Response:
    return await _desired(request, device_id, "paused")


@router.post("/devices/{device_id}/resume")
async def resume(request: Request, device_id: str) -> Response:
    return await _desired(request, device_id, "running")


async def _desired(request: Request, device_id: str, state: str) -> Response:
    user = await _act(request, device_id)
    body = DesiredIn(state=state)  # type: ignore[arg-type]
    await run_in_threadpool(
        devices_api.set_desired, device_id, body, user.principal, request.app.state.db
    )
    return RedirectResponse(f"/devices?done={state}", status_code=303)


@router.post("/devices/{device_id}/remove")
async def remove(request: Request, device_id: str) -> Response:
    user = await _act(request, device_id)
    db = request.app.state.db
    await run_in_threadpool(devices_api.remove_device, device_id, user.principal, db, request)
    return RedirectResponse("/devices?done=removed", status_code=303)
