"""HTTP errors: project errors become `{"error": {...}}` JSON with the right status code.

Endpoints raise `Problem(status, KalavaiError)` (or a bare KalavaiError, answered with its
`http_status`: kalavai_like.errors owns that mapping); library errors (validation, database)
are translated here, at the HTTP boundary.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from kalavai_like.errors import (
    AuthError,
    InvalidInput,
    KalavaiError,
    NotFound,
    PlatformUnavailable,
)

log = logging.getLogger(__name__)


class Problem(Exception):
    """An error with an explicit HTTP status (and optional headers)."""

    def __init__(
        self, status: int, error: KalavaiError, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(str(error))
        self.status = status
        self.error = error
        self.headers = headers


def unauthorized(message: str = "") -> Problem:
    return Problem(
        401,
        AuthError(
            "Not logged in",
            message or "This needs a valid credential. Log in again: kalavai-like login",
        ),
        {"WWW-Authenticate": "Bearer"},
    )


def forbidden(message: str) -> Problem:
    return Problem(403, AuthError("Not allowed", message))


def not_found(what: str) -> Problem:
    return Problem(404, NotFound(f"No such {what}", f"No {what} like that exists for you."))


def error_response(status: int, error: KalavaiError, headers: Any = None) -> JSONResponse:
    return JSONResponse({"error": error.to_dict()}, status_code=status, headers=headers)


# What a field whose text did not match its pattern may hold, in words (never the regex).
_ALLOWED = {
    "name": "1 to 64 letters, digits, dots, dashes or underscores, starting with a letter or a "
    "digit (like my-pool)",
    "email": "an email address like ana@example.org",
    "public_key": "a WireGuard public key: 44 characters of base64 ending in =",
}


def _in_words(err: Any) -> str:
    """A validation error as people read it: a pattern's mismatch says what is allowed."""
    if err.get("type") != "string_pattern_mismatch":
        return str(err.get("msg", "invalid"))
    field = str((err.get("loc") or ("",))[-1])
    allowed = _ALLOWED.get(field)
    if allowed is None:
        return "holds characters this field does not take (control characters, say)"
    return f"must be {allowed}"


def install(app: FastAPI) -> None:
    """Register the exception handlers on `app`."""

    @app.exception_handler(Problem)
    async def _problem(_req: Request, exc: Problem) -> JSONResponse:
        return error_response(exc.status, exc.error, exc.headers)

    @app.exception_handler(KalavaiError)
    async def _kalavai(_req: Request, exc: KalavaiError) -> JSONResponse:
        return error_response(exc.http_status, exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_req: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors()[:5]:
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            parts.append(f"{where}: {_in_words(err)}")
        return error_response(422, InvalidInput("Invalid request", "; ".join(parts)))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_req: Request, exc: StarletteHTTPException) -> JSONResponse:
        error: KalavaiError
        if exc.status_code == 404:
            error = NotFound("Not found", "There is no such endpoint. See /docs for the API.")
        elif exc.status_code == 405:
            error = InvalidInput("Method not allowed", "See /docs for the methods this path takes.")
        else:
            error = InvalidInput("Bad request", str(exc.detail))
        return error_response(exc.status_code, error, getattr(exc, "headers", None))

    @app.exception_handler(OperationalError)
    async def _db_down(_req: Request, exc: OperationalError) -> JSONResponse:
        log.warning("database unavailable: %s", type(exc.orig).__name__)
        return error_response(
            503,
            PlatformUnavailable("Database busy", "The platform's database is busy; retry shortly."),
            {"Retry-After": "1"},
        )

    @app.exception_handler(Exception)
    async def _crash(_req: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return error_response(
            500, PlatformUnavailable("Platform error", "The platform failed; retry later.")
        )
