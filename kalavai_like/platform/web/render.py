"""Rendering pages: the Jinja2 environment (autoescaped), number and time formats, security
headers, and the route class that turns platform errors into HTML error pages."""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import jinja2
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute

from kalavai_like.errors import KalavaiError, NotFound
from kalavai_like.platform.problems import Problem, not_found
from kalavai_like.platform.web.session import LoginRequired, WebUser, keep_session
from kalavai_like.units import GIB, MEMORY_UNIT, RAM_HOURS, format_amount

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("kalavai_like.platform.web", "templates"),
    autoescape=True,  # every {{ }} is HTML-escaped: pool names, reasons and key names are user text
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _num(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "\u2013"
    return format_amount(value, digits)  # 0.004, not 0.00


def _ago(iso: str | None) -> str:
    """'12 s ago', '3 min ago', '2 h ago', or the date for older times."""
    if not iso:
        return "never"
    t = datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    d = max(0.0, time.time() - t)
    if d < 90:
        return f"{d:.0f} s ago"
    if d < 5400:
        return f"{d / 60:.0f} min ago"
    if d < 172800:
        return f"{d / 3600:.0f} h ago"
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d")


def _when(iso: str | None) -> str:
    if not iso:
        return "\u2013"
    return iso.replace("T", " ")[:16] + " UTC"


def _gib(n: int) -> str:
    return f"{n / GIB:.1f} {MEMORY_UNIT}"


_env.filters.update(num=_num, ago=_ago, when=_when, gib=_gib)
_env.globals.update(RAM_HOURS=RAM_HOURS)  # one name for RAM over time on every page


def page(
    request: Request,
    template: str,
    user: WebUser | None,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    """Render `template` with the navigation for `user` and the security headers."""
    html = _env.get_template(template).render(
        user=user, path=request.url.path, csrf=user.csrf if user else "", **context
    )
    response = HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
    if user is not None:
        keep_session(response, request)
    return response


def error_page(request: Request, status: int, error: KalavaiError) -> HTMLResponse:
    return page(request, "error.html", None, status=status, title=error.title, error=error)


def hex_id(value: str) -> str:
    """Ids are 32 hex digits; anything else names nothing (404).

    Raises:
        Problem: 404.
    """
    if len(value) != 32 or any(c not in "0123456789abcdef" for c in value):
        raise not_found("item")
    return value


def back_to_login(request: Request) -> RedirectResponse:
    target = request.url.path
    if request.method != "GET" or not target.startswith("/"):
        target = "/pools"
    return RedirectResponse(f"/login?next={target}", status_code=303)


class PageRoute(APIRoute):
    """A page route: platform errors become HTML error pages, no session sends to log-in."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired:
                return back_to_login(request)
            except Problem as exc:
                response = error_page(request, exc.status, exc.error)
                response.headers.update(exc.headers or {})
                return response
            except KalavaiError as exc:
                return error_page(request, exc.http_status, exc)
            except RequestValidationError:
                return error_page(
                    request,
                    404,
                    NotFound("Not found", "There is no such page. Check the address."),
                )

        return handle
