"""Pool pages: the community pools with Join, and the pool owner's page (workers, tokens,
totals). Reads and actions go through the API's endpoint functions and queries."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from sqlalchemy import func, select

from kalavai_like.platform.api import credit as credit_api
from kalavai_like.platform.api import devices as devices_api
from kalavai_like.platform.api import lifecycle as lifecycle_api
from kalavai_like.platform.api import pools as pools_api
from kalavai_like.platform.models import Device
from kalavai_like.platform.problems import not_found
from kalavai_like.platform.schemas import NAME_PATTERN, TokenCreated, TokenIn
from kalavai_like.platform.views import pool_out
from kalavai_like.platform.web import session
from kalavai_like.platform.web.render import PageRoute, hex_id, page

router = APIRouter(route_class=PageRoute, include_in_schema=False)
TRAY_APP = "kalavai-like-tray"
# Choices of the token form's expiry, in seconds.
EXPIRIES = {"3600": "1 hour", "86400": "1 day", "604800": "7 days", "2592000": "30 days"}


def join_command(token: str) -> str:
    """The exact command a volunteer runs (the CLI's `pool join` takes the token as argument)."""
    return f"kalavai-like pool join {token}"


def app_link(platform_url: str, pool_id: str, pool_name: str) -> str:
    """ "Open in app": the pool and platform only, never a token (links land in histories and
    command lines); the app asks for its own token (kalavai_like.client.links reads it)."""
    query = urlencode({"platform": platform_url, "pool": pool_id, "name": pool_name})
    return f"kalavai-like://join?{query}"


def _pool_key(value: str) -> str:
    import re

    if not re.match(NAME_PATTERN, value):
        raise not_found("pool")
    return value


def contributed(db: Any, pool_ids: list[str]) -> dict[str, dict[str, float]]:
    """Granted CPU core-hours, RAM GiB-hours, GPU-hours and credit per pool, over all devices."""
    if not pool_ids:
        return {}
    d = Device
    with db.read() as s:
        rows = s.execute(
            select(
                d.pool_id,
                func.sum(d.granted_cpu),
                func.sum(d.granted_ram),
                func.sum(d.granted_gpu),
                func.sum(d.credit),
            )
            .where(d.pool_id.in_(pool_ids))
            .group_by(d.pool_id)
        ).all()
    return {
        r[0]: {"cpu": r[1] / 3600, "ram": r[2] / 3600, "gpu": r[3] / 3600, "credit": r[4]}
        for r in rows
    }


def _community(request: Request, user: session.WebUser, **ctx: Any) -> Response:
    db = request.app.state.db
    public = pools_api.list_pools(user.principal, db, "community")
    mine = pools_api.list_pools(user.principal, db, "mine")
    totals = contributed(db, [p.id for p in public + mine])
    owners = {p.id: p.owner.display for p in public + mine}
    return page(
        request,
        "pools.html",
        user,
        title="Community pools",
        pools=public,
        mine=mine,
        totals=totals,
        owners=owners,
        tray=TRAY_APP,
        **ctx,
    )


@router.get("/pools")
def community(request: Request) -> Response:
    return _community(request, session.current(request))


def _mint_for_joiner(request: Request, user: session.WebUser, pool_key: str) -> Any:
    """A fresh single-use, 1 h worker token of a public pool (or one the user owns)."""
    db, cfg = request.app.state.db, request.app.state.settings
    with db.write() as s:
        pool, made = pools_api.mint_for_joiner(s, cfg, user.principal, pool_key)
        return pool.name, app_link(cfg.platform_url, pool.id, pool.name), made


@router.post("/pools/{pool_key}/join")
async def join(request: Request, pool_key: str) -> Response:
    user, _form = await session.acting(request)
    name, link, made = await run_in_threadpool(_mint_for_joiner, request, user, _pool_key(pool_key))
    return page(
        request,
        "join.html",
        user,
        title=f"Join {name}",
        pool_name=name,
        command=join_command(made.token),
        made=made,
        app_link=link,
        tray=TRAY_APP,
    )


# ---- the pool owner's page


def _owner_page(
    request: Request,
    user: session.WebUser,
    pool_key: str,
    created: TokenCreated | None = None,
    error: str = "",
    done: str = "",
) -> Response:
    from kalavai_like.platform.web import owner_tools

    db = request.app.state.db
    who = user.principal
    with db.read() as s:
        pool = pool_out(s, pools_api.owned_pool(s, who, pool_key), who.user_id)
    workers = devices_api.pool_devices(pool.id, who, db)
    credit = credit_api.pool_credit(pool.id, who, db)
    granted = {row.device.id: row for row in credit.devices}
    toks = pools_api.list_tokens(pool.id, who, db)
    limits = lifecycle_api.device_limits(pool.id, who, db, request.app.state.settings)
    return page(
        request,
        "owner.html",
        user,
        title=f"Pool {pool.name}",
        pool=pool,
        workers=workers,
        names={w.id: w.user.display for w in workers},
        granted=granted,
        credit=credit,
        tokens=toks,
        limits=limits,
        created=created,
        command=join_command(created.token) if created else "",
        expiries=EXPIRIES,
        error=error,
        **owner_tools.context(request, who, pool, done),
    )


@router.get("/pools/{pool_key}/owner")
def owner(request: Request, pool_key: str, done: str = "") -> Response:
    return _owner_page(request, session.current(request), _pool_key(pool_key), done=done)


@router.post("/pools/{pool_key}/tokens")
async def create_token(request: Request, pool_key: str) -> Response:
    user, form = await session.acting(request)
    key = _pool_key(pool_key)
    try:
        body = TokenIn(
            uses=int(form.get("uses", "1")),
            expires_in=int(form.get("expires_in", "")),
            label=form.get("label", "").strip() or None,
        )
        if str(body.expires_in) not in EXPIRIES or not (body.label or "x").isprintable():
            raise ValueError
    except (ValueError, ValidationError):
        error = (
            "Uses must be 1 to 100000, pick an expiry from the list, and a label is at most 64 "
            "printable characters."
        )
        return await run_in_threadpool(_owner_page, request, user, key, None, error)
    db, cfg = request.app.state.db, request.app.state.settings
    made = await run_in_threadpool(pools_api.create_token, key, body, user.principal, db, cfg)
    return await run_in_threadpool(_owner_page, request, user, key, made)


@router.post("/pools/{pool_key}/tokens/{token_id}/revoke")
async def revoke_token(request: Request, pool_key: str, token_id: str) -> Response:
    user, _form = await session.acting(request)
    key = _pool_key(pool_key)
    db = request.app.state.db
    await run_in_threadpool(pools_api.revoke_token, key, hex_id(token_id), user.principal, db)
    return RedirectResponse(f"/pools/{key}/owner", status_code=303)
