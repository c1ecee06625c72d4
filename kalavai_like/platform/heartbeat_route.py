"""The heartbeat's lean HTTP path: an ASGI middleware in front of FastAPI's router.

`POST /api/v1/device/heartbeat` is by far the most frequent request, so it skips FastAPI's
routing, dependency injection and thread pool. The FastAPI route stays declared (it is what
the OpenAPI schema shows) and still serves every request this path does not take on: anything
but a well-formed `kld_` bearer credential and a JSON body that validates is handed to it
unchanged (body replayed), so every refusal keeps exactly the status, order and JSON shape the
FastAPI route gives. The body is validated with the same pydantic model, after the same stdlib
JSON parse FastAPI does.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from kalavai_like.platform import credentials
from kalavai_like.platform.heartbeat_store import HeartbeatStore
from kalavai_like.platform.limits import read_body, replay
from kalavai_like.platform.problems import Problem
from kalavai_like.platform.schemas import HeartbeatIn

PATH = "/api/v1/device/heartbeat"
_JSON = (b"content-type", b"application/json")


class HeartbeatRoute:
    """ASGI middleware: serves well-formed heartbeats itself, passes everything else on."""

    def __init__(self, app: ASGIApp, store: HeartbeatStore) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        body = await read_body(receive)  # RequestLimits, outside, has bounded it
        credential, hb = _well_formed(scope, body)
        if credential is None or hb is None:
            await self.app(scope, replay(body, receive), send)
            return
        try:
            reply = await self.store.record(credentials.digest(credential), hb)
        except Problem as exc:
            await _send_error(send, exc)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [_JSON, (b"content-length", str(len(reply)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": reply})


def _well_formed(scope: Scope, body: bytes) -> tuple[str | None, HeartbeatIn | None]:
    """The device credential and the heartbeat, or None where FastAPI must give the answer."""
    authorization = content_type = None
    for name, value in scope["headers"]:
        if name == b"authorization" and authorization is None:
            authorization = value
        elif name == b"content-type" and content_type is None:
            content_type = value
    if authorization is None or not _is_json(content_type):
        return None, None
    scheme, _, param = authorization.decode("latin-1").partition(" ")
    credential = param.strip()
    if scheme.lower() != "bearer" or credentials.kind_of(credential) != credentials.DEVICE:
        return None, None
    try:
        return credential, HeartbeatIn.model_validate(json.loads(body))
    # JSONDecodeError and UnicodeDecodeError are ValueErrors; RequestLimits refuses deep nesting
    # first, but a RecursionError must never be this path's 500 either.
    except (ValueError, ValidationError, RecursionError):
        return None, None


def _is_json(content_type: bytes | None) -> bool:
    if content_type is None:
        return False
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json"


async def _send_error(send: Send, exc: Problem) -> None:
    error = {"error": exc.error.to_dict()}
    payload = json.dumps(error, ensure_ascii=False, separators=(",", ":")).encode()
    headers: list[Any] = [_JSON, (b"content-length", str(len(payload)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in (exc.headers or {}).items()]
    await send({"type": "http.response.start", "status": exc.status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
