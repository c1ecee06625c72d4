"""The Operator page, for the platform's operator only: every pool with its trust state and a
Trust / Untrust button, the suspended users with Unsuspend, and a form to suspend a user by
email. Actions go through the API's own endpoint functions; everyone else gets 403."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from kalavai_like.errors import KalavaiError
from kalavai_like.platform import auth
from kalavai_like.platform.api import operator as operator_api
from kalavai_like.platform.web import session
from kalavai_like.platform.web.render import PageRoute, page

router = APIRouter(route_class=PageRoute, include_in_schema=False)
# Fixed messages after an action (a query word picks one; nothing from the URL is echoed).
DONE = {
    "trusted": "Pool trusted: its witnessed credit counts on the leaderboard.",
    "untrusted": "Pool no longer trusted: its witness counts inside the pool only.",
    "suspended": "User suspended: their sessions and keys stopped working.",
    "unsuspended": "Suspension lifted.",
}


def _operator(request: Request) -> session.WebUser:
    """The session's user if they are the operator. Raises Problem 403 otherwise."""
    user = session.current(request)
    auth.operator(user.principal, request.app.state.db)
    return user


def _page(request: Request, user: session.WebUser, done: str = "", error: str = "") -> Response:
    db = request.app.state.db
    pools = operator_api.all_pools(user.principal, db)
    users = operator_api.notable_users(user.principal, db)
    status = 400 if error else 200
    return page(request, "operator.html", user, status=status, title="Operator", pools=pools,
                users=users, done=DONE.get(done, ""), error=error)  # fmt: skip


@router.get("/operator")
def operator_page(request: Request, done: str = "") -> Response:
    return _page(request, _operator(request), done)


async def _checked(request: Request) -> tuple[session.WebUser, dict[str, str]]:
    user, form = await session.acting(request, _operator)
    return user, form


@router.post("/operator/pools/{pool_key}/{verb}")
async def trust(request: Request, pool_key: str, verb: str) -> Response:
    await _checked(request)
    if verb not in ("trust", "untrust"):
        return RedirectResponse("/operator", status_code=303)
    db = request.app.state.db  # a key that names no live pool is a 404 page
    await run_in_threadpool(operator_api.set_trusted, db, pool_key, verb == "trust")
    return RedirectResponse(f"/operator?done={verb}ed", status_code=303)


@router.post("/operator/users/{verb}")
async def suspend(request: Request, verb: str) -> Response:
    user, form = await _checked(request)
    if verb not in ("suspend", "unsuspend"):
        return RedirectResponse("/operator", status_code=303)
    try:
        body = operator_api.UserIn(email=form.get("email", ""))
        db = request.app.state.db
        await run_in_threadpool(operator_api.set_suspended, db, body.email, verb == "suspend")
    except ValidationError:
        return await run_in_threadpool(_page, request, user, "", "Give the user's email.")
    except KalavaiError as exc:
        return await run_in_threadpool(_page, request, user, "", exc.message)
    return RedirectResponse(f"/operator?done={verb}ed", status_code=303)
