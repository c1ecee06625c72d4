"""Account pages: sign up, log in, log out, the Account page (where you are logged in, with
revoke, and the password change), and account keys (for headless machines).

Every action calls the API's own endpoint function, so the rules are the same: password
policy, sign-up and log-in throttles (429 with Retry-After), hashed tokens and keys.
"""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from kalavai_like.errors import KalavaiError
from kalavai_like.platform import sessions
from kalavai_like.platform.account_schemas import AccountKeyIn, PasswordChange
from kalavai_like.platform.api import accounts
from kalavai_like.platform.auth import resolve
from kalavai_like.platform.problems import Problem
from kalavai_like.platform.schemas import Credentials, LogIn
from kalavai_like.platform.web import session
from kalavai_like.platform.web.render import PageRoute, hex_id, page
from kalavai_like.units import format_duration

router = APIRouter(route_class=PageRoute, include_in_schema=False)
Form = TypeVar("Form", Credentials, LogIn)


def _safe_next(target: str | None) -> str:
    """Only a local path may follow log-in (no open redirect to another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/pools"
    return target


def form_page(
    request: Request, template: str, status: int = 200, error: str = "", **ctx: object
) -> Response:
    """The log-in or sign-up form, with its pre-session CSRF token."""
    csrf, new_secret = session.pre_session(request)
    response = page(request, template, None, status=status, error=error, form_csrf=csrf, **ctx)
    if new_secret:
        session.set_pre_session(response, request, new_secret)
    return response


def _problem_page(request: Request, template: str, exc: Problem, **ctx: object) -> Response:
    """The form again, saying what the API said (429 keeps its Retry-After)."""
    response = form_page(request, template, exc.status, exc.error.message, **ctx)
    response.headers.update(exc.headers or {})
    return response


NAME_RULE = "Give a display name of 1 to 40 printable characters, without '@'."


def _message(exc: ValidationError) -> str:
    fields = {str(e["loc"][0]) for e in exc.errors() if e.get("loc")}
    if "email" in fields:
        return "That does not look like an email address."
    if "display_name" in fields:
        return NAME_RULE
    return "The password must be at least 8 characters."


@router.get("/")
def home(request: Request) -> Response:
    target = "/pools" if request.cookies.get(session.SESSION_COOKIE) else "/login"
    return RedirectResponse(target, status_code=303)


@router.get("/signup")
def signup_form(request: Request) -> Response:
    return form_page(request, "signup.html", title="Sign up", email="")


async def _posted(
    request: Request, model: type[Form]
) -> tuple[dict[str, str], str, Form | ValidationError]:
    """A posted email-and-password form (CSRF checked): the form, the email as typed, and the
    `model` it makes, or why it makes none."""
    form = await session.read_form(request)
    session.check_anonymous_csrf(request, form)
    email = form.get("email", "").strip()
    fields: dict[str, Any] = {"email": email, "password": form.get("password", "")}
    if model is Credentials:
        fields["display_name"] = form.get("display_name", "").strip() or None
    try:
        return form, email, model(**fields)
    except ValidationError as exc:
        return form, email, exc


@router.post("/signup")
async def signup(request: Request) -> Response:
    form, email, body = await _posted(request, Credentials)
    if isinstance(body, ValidationError):
        return form_page(request, "signup.html", 400, _message(body), title="Sign up", email=email)
    if form.get("password") != form.get("password2"):
        error = "The two passwords differ."
        return form_page(request, "signup.html", 400, error, title="Sign up", email=email)
    app = request.app
    try:
        await run_in_threadpool(accounts.sign_up, body, request, app.state.db, app.state.settings)
    except Problem as exc:
        return _problem_page(request, "signup.html", exc, title="Sign up", email=email)
    except KalavaiError as exc:
        return form_page(request, "signup.html", 409, exc.message, title="Sign up", email=email)
    return await _log_in(request, LogIn(email=email, password=body.password), "/pools")


# Fixed notices on the log-in page (a query word picks one; nothing from the URL is echoed).
LOGIN_DONE = {
    "deleted": "Your account is deleted.",
    "reset": "Password changed: log in with the new one. Every session was logged out.",
}


@router.get("/login")
def login_form(request: Request, next: str | None = None, done: str = "") -> Response:
    return form_page(
        request, "login.html", title="Log in", email="", next=_safe_next(next),
        done=LOGIN_DONE.get(done, ""),
    )  # fmt: skip


@router.post("/login")
async def login(request: Request) -> Response:
    form, email, body = await _posted(request, LogIn)
    login = None if isinstance(body, ValidationError) else body
    return await _log_in(request, login, _safe_next(form.get("next")), email)


async def _log_in(request: Request, body: LogIn | None, target: str, email: str = "") -> Response:
    ctx = {"title": "Log in", "email": email, "next": target, "done": ""}
    if body is None:
        return form_page(request, "login.html", 400, "Give your email and password.", **ctx)
    app = request.app
    try:
        out = await run_in_threadpool(
            accounts.open_session, body, request, app.state.db, app.state.settings, "web"
        )
    except Problem as exc:
        return _problem_page(request, "login.html", exc, **ctx)
    response = RedirectResponse(target, status_code=303)
    session.start_session(response, request, out.token)
    return response


def _log_out(request: Request) -> None:
    token = request.cookies.get(session.SESSION_COOKIE, "")
    db = request.app.state.db
    with db.read() as s:
        try:
            who = resolve(s, token)
        except Problem:
            return
    accounts.log_out(who, db)


@router.post("/logout")
async def logout(request: Request) -> Response:
    await session.acting(request)  # a logged-in user, a post of this site
    await run_in_threadpool(_log_out, request)
    response = RedirectResponse("/login", status_code=303)
    session.end_session(response)
    return response


# ---- account keys


def _keys_page(request: Request, user: session.WebUser, **ctx: Any) -> Response:
    keys = accounts.list_account_keys(user.principal, request.app.state.db)
    return page(request, "keys.html", user, title="Account keys", keys=keys, **ctx)


@router.get("/keys")
def keys(request: Request) -> Response:
    return _keys_page(request, session.current(request), created=None, error="")


@router.post("/keys")
async def create_key(request: Request) -> Response:
    user, form = await session.acting(request)
    try:
        body = AccountKeyIn(name=form.get("name", "").strip())
    except ValidationError:
        error = "Give the key a name of 1 to 64 characters (the machine it is for)."
        return await run_in_threadpool(_keys_page, request, user, created=None, error=error)
    try:
        created = await run_in_threadpool(
            accounts.create_account_key, body, user.principal, request.app.state.db
        )
    except (Problem, KalavaiError) as exc:
        error = (exc.error if isinstance(exc, Problem) else exc).message
        return await run_in_threadpool(_keys_page, request, user, created=None, error=error)
    return await run_in_threadpool(_keys_page, request, user, created=created, error="")


@router.post("/keys/{key_id}/revoke")
async def revoke_key(request: Request, key_id: str) -> Response:
    user, _form = await session.acting(request)
    await run_in_threadpool(
        accounts.revoke_account_key, hex_id(key_id), user.principal, request.app.state.db
    )
    return RedirectResponse("/keys", status_code=303)


# ---- the Account page: sessions and password

# Fixed messages after an action (a query word picks one; nothing from the URL is echoed).
ACCOUNT_DONE = {
    "revoked": "Session logged out.",
    "password": "Password changed. Every other session was logged out.",
    "name": "Display name changed.",
}


def account_page(
    request: Request, user: session.WebUser, status: int = 200, error: str = "", done: str = ""
) -> Response:
    db, cfg = request.app.state.db, request.app.state.settings
    listed = sessions.listed(db, user.principal.user_id, user.principal.credential_id)
    days = cfg.session_idle_lifetime / 86400
    idle = f"{days:g} days" if days >= 2 else format_duration(cfg.session_idle_lifetime)
    me = accounts.me(user.principal, db)
    return page(
        request, "account.html", user, status=status, title="My account", sessions=listed,
        idle=idle, error=error, done=ACCOUNT_DONE.get(done, ""), me=me,
    )  # fmt: skip


@router.get("/account")
def account(request: Request, done: str = "") -> Response:
    return account_page(request, session.current(request), done=done)


@router.post("/account/sessions/{session_id}/revoke")
async def revoke_session(request: Request, session_id: str) -> Response:
    user, _form = await session.acting(request)
    db = request.app.state.db
    await run_in_threadpool(sessions.revoke, db, user.principal.user_id, hex_id(session_id))
    if session_id == user.principal.credential_id:  # this browser's own: it is logged out
        response = RedirectResponse("/login", status_code=303)
        session.end_session(response)
        return response
    return RedirectResponse("/account?done=revoked", status_code=303)


@router.post("/account/password")
async def change_password(request: Request) -> Response:
    user, form = await session.acting(request)
    if form.get("new") != form.get("new2"):
        return await run_in_threadpool(
            account_page, request, user, 400, "The two new passwords differ."
        )
    try:
        body = PasswordChange(current_password=form.get("current", ""), new_password=form["new"])
    except (ValidationError, KeyError):
        error = "The new password must be at least 8 characters."
        return await run_in_threadpool(account_page, request, user, 400, error)
    app = request.app
    try:
        await run_in_threadpool(
            accounts.change_password_for, body, request, user.principal, app.state.db,
            app.state.settings,
        )  # fmt: skip
    except Problem as exc:
        response = await run_in_threadpool(
            account_page, request, user, exc.status, exc.error.message
        )
        response.headers.update(exc.headers or {})
        return response
    return RedirectResponse("/account?done=password", status_code=303)
