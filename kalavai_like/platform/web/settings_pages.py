"""Account settings pages: the display name and deleting the account (forms on the Account
page), and the password reset by email (/reset). Each calls the API's own functions."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from starlette.background import BackgroundTask

from kalavai_like.errors import KalavaiError
from kalavai_like.platform import mail
from kalavai_like.platform.account_schemas import AccountDelete, ProfileIn, ResetConfirm
from kalavai_like.platform.api import profile, resets
from kalavai_like.platform.problems import Problem
from kalavai_like.platform.throttle import client_address, reserve_reset
from kalavai_like.platform.web import session
from kalavai_like.platform.web.accounts import NAME_RULE, account_page, form_page
from kalavai_like.platform.web.render import PageRoute

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def _error(exc: Problem | KalavaiError) -> tuple[int, str]:
    if isinstance(exc, Problem):
        return exc.status, exc.error.message
    return exc.http_status, exc.message


@router.post("/account/name")
async def change_name(request: Request) -> Response:
    user, form = await session.acting(request)
    try:
        body = ProfileIn(display_name=form.get("display_name", ""))
    except ValidationError:
        return await run_in_threadpool(account_page, request, user, 400, NAME_RULE)
    await run_in_threadpool(profile.update_me, body, user.principal, request.app.state.db)
    return RedirectResponse("/account?done=name", status_code=303)


@router.post("/account/delete")
async def delete_account(request: Request) -> Response:
    user, form = await session.acting(request)
    app = request.app
    try:
        body = AccountDelete(password=form.get("password", ""))
        await run_in_threadpool(
            profile.delete_account, body, request, user.principal, app.state.db,
            app.state.settings,
        )  # fmt: skip
    except ValidationError:
        return await run_in_threadpool(account_page, request, user, 400, "Type your password.")
    except (Problem, KalavaiError) as exc:
        status, message = _error(exc)
        return await run_in_threadpool(account_page, request, user, status, message)
    response = RedirectResponse("/login?done=deleted", status_code=303)
    session.end_session(response)
    return response


# ---- password reset by email


def _reset_page(request: Request, status: int = 200, error: str = "", **ctx: object) -> Response:
    ctx = {"mode": "ask", "token": "", **ctx}
    can_mail = mail.configured(request.app.state.settings)
    return form_page(
        request, "reset.html", status, error, title="Reset password", can_mail=can_mail, **ctx
    )


@router.get("/reset")
def reset_form(request: Request, token: str = "") -> Response:
    return _reset_page(request, mode="confirm" if token else "ask", token=token[:200])


@router.post("/reset")
async def ask_reset(request: Request) -> Response:
    form = await session.read_form(request)
    session.check_anonymous_csrf(request, form)
    app = request.app
    if not mail.configured(app.state.settings):
        return _reset_page(request, 409, resets.NO_EMAIL)
    try:
        await run_in_threadpool(
            reserve_reset, app.state.db, app.state.settings, client_address(request)
        )
    except Problem as exc:
        response = _reset_page(request, exc.status, exc.error.message)
        response.headers.update(exc.headers or {})
        return response
    email = form.get("email", "").strip()[:254]
    made = await run_in_threadpool(resets.issue, app.state.db, app.state.settings, email)
    response = _reset_page(request, mode="sent")
    if made is not None:
        response.background = BackgroundTask(resets.send_link, app.state.settings, *made)
    return response


@router.post("/reset/confirm")
async def confirm_reset(request: Request) -> Response:
    form = await session.read_form(request)
    session.check_anonymous_csrf(request, form)
    token = form.get("token", "")[:200]
    if form.get("new") != form.get("new2"):
        return _reset_page(request, 400, "The two passwords differ.", mode="confirm", token=token)
    try:
        body = ResetConfirm(token=token, new_password=form.get("new", ""))
        await run_in_threadpool(resets.reset_password, body, request.app.state.db)
    except ValidationError:
        error = "The new password must be at least 8 characters."
        return _reset_page(request, 400, error, mode="confirm", token=token)
    except Problem as exc:
        return _reset_page(request, exc.status, exc.error.message, mode="ask")
    return RedirectResponse("/login?done=reset", status_code=303)
