"""A pool's own pages: the create form (through the API's pool create, so its checks apply, with
its errors in words next to their field) and the public pool page, readable without logging in
(a private pool's only for its owner), which tells the owner how to start the pool's seed."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from kalavai_like.errors import Conflict, InvalidInput, KalavaiError
from kalavai_like.platform import about
from kalavai_like.platform.api import pools as pools_api
from kalavai_like.platform.models import now
from kalavai_like.platform.problems import Problem, not_found
from kalavai_like.platform.schemas import PoolIn, PoolOut
from kalavai_like.platform.views import pool_out
from kalavai_like.platform.web import session
from kalavai_like.platform.web.pools import TRAY_APP, _pool_key, contributed
from kalavai_like.platform.web.render import PageRoute, page

router = APIRouter(route_class=PageRoute, include_in_schema=False)
TEMPLATES = ("dask", "boinc", "generic")
# 8 KiB of parameters and 2000 characters of any script, percent-encoded (up to 9 bytes each).
CREATE_FORM_BYTES = 64 * 1024
NAME_TAKEN = "Pool name taken"  # the title of the API's refusal of a name in use
FIELDS = ("name", "template", "params", "public", "description", "computes", "run_by")
# A field's words when the API's bound says no without words of its own (never its pattern).
WORDS = {
    "name": "A name is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or "
    "a digit.",
    "template": "Pick a template from the list.",
    "params": "Parameters are a JSON object of what the template takes, like "
    '{"image": "docker.io/library/busybox"}.',
    **about.LIMITS,
}


def seed_commands(platform_url: str, pool_name: str) -> list[str]:
    """What the owner runs on the seed machine to start the pool (docs/DEPLOY.md, The seed)."""
    return [
        f"kalavai-like login --platform {platform_url}",
        f"kalavai-like pool start {pool_name} --endpoint SEED_ADDRESS:51820",
    ]


def _blank() -> dict[str, str]:
    return {f: "" for f in FIELDS} | {"template": "dask"}


def _new_page(
    request: Request,
    user: session.WebUser,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    return page(
        request,
        "pool_new.html",
        user,
        status=status,
        title="Create a pool",
        values=values,
        errors=errors or {},
        templates=TEMPLATES,
        limits={"description": about.DESCRIPTION_MAX, "computes": about.COMPUTES_MAX,
                "run_by": about.RUN_BY_MAX},
    )  # fmt: skip


@router.get("/pools/new")
def new_form(request: Request) -> Response:
    return _new_page(request, session.current(request), _blank())


def _body(form: dict[str, str]) -> PoolIn:
    """The API's request body from the form (raises the API's own ValidationError)."""
    text = form.get("params", "").strip()
    try:
        params = json.loads(text) if text else {}
    except ValueError:
        params = text  # not JSON: the API's model says "a JSON object" for it
    return PoolIn.model_validate(
        {
            "name": form.get("name", "").strip(),
            "template": form.get("template", ""),
            "params": params,
            "public": form.get("public") == "on",
            "about": {k: form.get(k, "") for k in ("description", "computes", "run_by")},
        }
    )


def _field_errors(exc: ValidationError) -> dict[str, str]:
    """Each failing field's words: the validator's own words when it has some, else ours. An
    error outside the form's fields (a check across them, a template's own parameter) is the
    parameters' (the template's checks are all about them)."""
    errors: dict[str, str] = {}
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p != "about"]
        field = loc[0] if loc and loc[0] in FIELDS else "params"
        where = ".".join(p for p in loc if p not in FIELDS)
        msg = str(err.get("msg", ""))
        if err.get("type") == "value_error":
            words = msg.removeprefix("Value error, ")
            words = words[:1].upper() + words[1:]
        elif where and "pattern" not in str(err.get("type")):
            words = f"{where}: {msg}"
        else:
            words = WORDS[field]
        errors.setdefault(field, words)
    return errors


def _problem_field(error: KalavaiError) -> str:
    """Which field an error of the API's pool create is about ('' for the form as a whole)."""
    if isinstance(error, Conflict):  # the name is taken, or the owner has all pools they may
        return "name" if error.title == NAME_TAKEN else ""
    return "params" if isinstance(error, InvalidInput) else ""


@router.post("/pools/new")
async def create(request: Request) -> Response:
    form = await session.read_form(request, CREATE_FORM_BYTES)
    user = await run_in_threadpool(session.current, request)
    session.check_csrf(request, form, user.csrf)
    values = _blank() | {f: form.get(f, "") for f in FIELDS}
    db, cfg = request.app.state.db, request.app.state.settings
    try:
        body = _body(form)
        made = await run_in_threadpool(pools_api.create_pool, body, user.principal, db, cfg)
    except ValidationError as exc:
        return _new_page(request, user, values, _field_errors(exc), 422)
    except (Problem, KalavaiError) as exc:
        error = exc.error if isinstance(exc, Problem) else exc
        status = exc.status if isinstance(exc, Problem) else exc.http_status
        words = f"{error.title}: {error.message}"
        return _new_page(request, user, values, {_problem_field(error): words}, status)
    return RedirectResponse(f"/pools/{made.id}", status_code=303)


def _viewer(request: Request) -> session.WebUser | None:
    try:
        return session.current(request)
    except session.LoginRequired:
        return None


def _visible(request: Request, key: str, viewer: str) -> tuple[PoolOut, int]:
    """The pool and its active volunteers, if public or `viewer`'s; else 404 (a private pool
    is not even said to exist)."""
    with request.app.state.db.read() as s:
        pool = pools_api.by_key(s, key)
        if pool is None or not (pool.public or pool.owner_id == viewer):
            raise not_found("pool")
        return pool_out(s, pool, viewer), about.active_volunteers(s, pool.id, now())


@router.get("/pools/{pool_key}")
def pool_page(request: Request, pool_key: str) -> Response:
    user = _viewer(request)
    viewer = user.principal.user_id if user else ""
    pool, active = _visible(request, _pool_key(pool_key), viewer)
    totals = contributed(request.app.state.db, [pool.id]).get(pool.id, {})
    mine = pool.owner.id == viewer
    url = request.app.state.settings.platform_url
    return page(
        request,
        "pool.html",
        user,
        title=pool.name,
        pool=pool,
        active=active,
        credit=totals.get("credit", 0.0),
        mine=mine,
        seed=seed_commands(url, pool.name) if mine else [],
        tray=TRAY_APP,
    )
