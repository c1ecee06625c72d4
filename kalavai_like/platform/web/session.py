"""Web sessions and CSRF protection for the platform's pages.

A web session IS an API token (`klu_`, minted by the API's own log-in): the cookie holds it,
the platform stores only its hash, and log-out revokes it like `DELETE /sessions/current`.
It ends on the server after `session_idle_lifetime` unused, so a copied cookie dies too; each
use renews it there, and each page renews the cookie's own lifetime to match.
The cookie is HttpOnly, SameSite=Lax, and Secure when the platform is served over HTTPS
(its configured public URL is https://, which is how an operator says a TLS proxy fronts it,
or the request itself came in over TLS). Proxy headers count only from the proxies the
operator names (`platform serve --trusted-proxies`).

CSRF: every state-changing form carries a synchronizer token derived from the session secret
(HMAC, so it is bound to that one session and cannot be guessed without the HttpOnly cookie);
before log-in a random pre-session cookie plays the same part. A POST must also come from our
own origin when the browser says where it comes from (Origin, else Referer).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from fastapi import Request, Response
from starlette.concurrency import run_in_threadpool

from kalavai_like.errors import AuthError, InvalidInput
from kalavai_like.platform import credentials
from kalavai_like.platform.auth import Principal, authenticate
from kalavai_like.platform.problems import Problem

SESSION_COOKIE = "kl_session"
PRE_COOKIE = "kl_pre"
MAX_FORM_BYTES = 16 * 1024


@dataclass(frozen=True)
class WebUser:
    """The logged-in user of a page request, with the CSRF token for its forms."""

    principal: Principal
    email: str
    csrf: str
    operator: bool = False  # the platform's operator: the navigation shows the Operator page


class LoginRequired(Exception):
    """No valid session: the page redirects to the log-in form."""


def csrf_for(secret: str) -> str:
    """The CSRF token bound to a session (or pre-session) secret."""
    return hmac.new(secret.encode(), b"kalavai-like csrf v1", hashlib.sha256).hexdigest()


def is_secure(request: Request) -> bool:
    return request.url.scheme == "https" or request.app.state.settings.public_url.startswith(
        "https://"
    )


def _set(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=is_secure(request),
    )


def _age(request: Request) -> int:
    return int(request.app.state.settings.session_idle_lifetime)


def start_session(response: Response, request: Request, api_token: str) -> None:
    """Put a fresh API token in the session cookie and drop the pre-session cookie."""
    _set(response, request, SESSION_COOKIE, api_token, _age(request))
    response.delete_cookie(PRE_COOKIE, path="/")


def keep_session(response: Response, request: Request) -> None:
    """The session was used: the browser keeps its cookie as long as the server keeps it."""
    token = request.cookies.get(SESSION_COOKIE, "")
    if credentials.kind_of(token) == credentials.API_TOKEN:
        _set(response, request, SESSION_COOKIE, token, _age(request))


def end_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")


def pre_session(request: Request) -> tuple[str, str | None]:
    """The CSRF token for anonymous forms (log-in, sign-up), and a new pre-session secret to
    set as a cookie (with `set_pre_session`) when the browser has none yet."""
    secret = request.cookies.get(PRE_COOKIE, "")
    if len(secret) == 43:
        return csrf_for(secret), None
    secret = secrets.token_urlsafe(32)
    return csrf_for(secret), secret


def set_pre_session(response: Response, request: Request, secret: str) -> None:
    _set(response, request, PRE_COOKIE, secret, 3600)


def current(request: Request) -> WebUser:
    """The session's user. Raises LoginRequired if there is no valid session."""
    from kalavai_like.platform.models import User

    token = request.cookies.get(SESSION_COOKIE, "")
    if credentials.kind_of(token) != credentials.API_TOKEN:
        raise LoginRequired
    db = request.app.state.db
    try:
        who = authenticate(db, request.app.state.settings, token)
    except Problem:
        raise LoginRequired from None
    with db.read() as s:
        user = s.get(User, who.user_id)
        if user is None:
            raise LoginRequired
        return WebUser(who, user.email, csrf_for(token), user.operator)


def _allowed_origins(request: Request) -> set[str]:
    public = urlsplit(request.app.state.settings.public_url)
    here = request.base_url
    return {f"{public.scheme}://{public.netloc}", f"{here.scheme}://{here.netloc}"}


def check_origin(request: Request) -> None:
    """Refuse a POST that a browser says comes from another site."""
    origin = request.headers.get("origin")
    if origin is None and (referer := request.headers.get("referer")):
        parts = urlsplit(referer)
        origin = f"{parts.scheme}://{parts.netloc}"
    if origin is not None and origin not in _allowed_origins(request):
        raise Problem(403, AuthError("Request refused", "That form was sent from another site."))


async def read_form(request: Request, limit: int = MAX_FORM_BYTES) -> dict[str, str]:
    """The urlencoded form body (first value of each field), at most `limit` bytes."""
    if request.headers.get("content-type", "").split(";")[0].strip() not in (
        "application/x-www-form-urlencoded",
        "",
    ):
        raise InvalidInput("Bad form", "Forms are sent urlencoded.")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise InvalidInput("Form too large", "That form is larger than any of ours.")
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        raise InvalidInput("Bad form", "The form could not be read.") from None
    return {k: v[0] for k, v in fields.items()}


async def acting(
    request: Request, who: Callable[[Request], WebUser] | None = None
) -> tuple[WebUser, dict[str, str]]:
    """A logged-in user's form post: its user (`who`: a narrower check than the session's,
    such as the operator's), its form, the origin and CSRF token checked.

    Raises:
        LoginRequired: no valid session. Problem: 403 on a forged post (or from `who`).
    """
    form = await read_form(request)
    user = await run_in_threadpool(who or current, request)
    check_csrf(request, form, user.csrf)
    return user, form


def check_csrf(request: Request, form: dict[str, str], expected: str) -> None:
    """Origin check plus the synchronizer token. Raises Problem 403 on a mismatch."""
    check_origin(request)
    sent = form.get("csrf", "")
    if not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise Problem(
            403,
            AuthError("Request refused", "The form expired or was not ours. Reload and retry."),
        )


def check_anonymous_csrf(request: Request, form: dict[str, str]) -> None:
    """CSRF check for log-in and sign-up forms (bound to the pre-session cookie)."""
    secret = request.cookies.get(PRE_COOKIE, "")
    check_csrf(request, form, csrf_for(secret) if secret else secrets.token_hex(32))
