"""How much a client may send: the request head (431), the body (413), JSON nesting (400).

Each is refused before it is held whole, on every route: a stranger's 512 MB body or 200 MB
header must not cost the server more than the limit. `RequestLimits` (ASGI, outermost) reads
a body only up to `max_body_bytes` (a larger Content-Length is refused unread) and replays it
to the app; `BoundedHttpTools` (uvicorn's httptools protocol) counts the bytes of a request's
line and headers as they arrive, since the parser would otherwise buffer them without end.
The limits are PlatformSettings fields; docs/API.md lists them.
"""

from __future__ import annotations

import json
import re
from typing import overload

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from kalavai_like.errors import InvalidInput
from kalavai_like.platform.problems import error_response

# A JSON string (skipped whole, so brackets inside it do not count) or one bracket.
_JSON_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')
_OPENERS = (b"[", b"{")


class RequestLimits:
    """ASGI middleware: 413 for a body over `max_body`, 400 for JSON nested over `max_depth`."""

    def __init__(self, app: ASGIApp, max_body: int, max_depth: int) -> None:
        self.app = app
        self.max_body = max_body
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        body = None if declared > self.max_body else await read_body(receive, self.max_body)
        if body is None:
            await self._refuse(scope, receive, send, 413, _too_large(self.max_body))
        elif _may_be_json(scope) and nested_deeper(body, self.max_depth):
            await self._refuse(scope, receive, send, 400, _too_deep(self.max_depth))
        else:
            await self.app(scope, replay(body, receive), send)

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, status: int, error: InvalidInput
    ) -> None:
        # Close: the rest of the body is never read, so the connection cannot be reused.
        response = error_response(status, error, {"Connection": "close"})
        await response(scope, receive, send)


def _too_large(limit: int) -> InvalidInput:
    return InvalidInput(
        "Request too large",
        f"This platform takes request bodies of at most {limit} bytes. Send less at a time.",
    )


def _too_deep(limit: int) -> InvalidInput:
    return InvalidInput(
        "JSON nested too deeply",
        f"The request body nests lists and objects more than {limit} levels deep. "
        "Send the documented fields only (docs/API.md).",
    )


@overload
async def read_body(receive: Receive, limit: None = None) -> bytes: ...
@overload
async def read_body(receive: Receive, limit: int) -> bytes | None: ...
async def read_body(receive: Receive, limit: int | None = None) -> bytes | None:
    """The request body, or None as soon as it grows past `limit` (the rest stays unread)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if limit is not None and size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives the already-read body once, then the connection's messages."""
    pending = True

    async def replayed() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


def nested_deeper(body: bytes, limit: int) -> bool:
    """Whether JSON `body` nests lists and objects more than `limit` levels deep.

    The stdlib parser recurses once per level (RecursionError, a 500, past ~1000); this scan
    does not recurse, and bodies with few brackets (nearly all) skip it.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    depth = 0
    for match in _JSON_TOKEN.finditer(body):
        token = match.group()
        if token in _OPENERS:
            depth += 1
            if depth > limit:
                return True
        elif len(token) == 1:
            depth -= 1
    return False


def _content_length(scope: Scope) -> int:
    """The declared body size (0 when none; the HTTP parser has refused malformed ones)."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0


def _may_be_json(scope: Scope) -> bool:
    """FastAPI parses a body as JSON without a content type, or with a JSON one."""
    for name, value in scope["headers"]:
        if name == b"content-type":
            media = bytes(value).split(b";", 1)[0].strip().lower()
            return media == b"application/json" or media.endswith(b"+json")
    return True


class BoundedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol, answering 431 to a request head over the limit.

    The limit is uvicorn's own `h11_max_incomplete_event_size` (the same bound its h11
    protocol applies). Bytes are counted per chunk received while a head is incomplete, so
    at most the limit plus two socket reads are ever buffered.
    """

    _in_head = True  # between one request's end and the next one's headers being complete
    _heads = 0  # heads completed on this connection
    _head_bytes = 0  # bytes received into the current head

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._heads += 1
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_head = True  # what follows is the next request's head
        super().on_message_complete()

    def data_received(self, data: bytes) -> None:
        was_in_head, heads = self._in_head, self._heads
        super().data_received(data)
        if self.transport.is_closing():
            return
        if not was_in_head or self._heads != heads:  # a body, or a head completed: restart
            self._head_bytes = 0
            return
        self._head_bytes += len(data)
        limit = self.config.h11_max_incomplete_event_size
        if limit is not None and self._head_bytes > limit:
            self._refuse_head(limit)

    def _refuse_head(self, limit: int) -> None:
        self.logger.warning("Request head over %d bytes refused.", limit)
        error = InvalidInput(
            "Request headers too large",
            f"This platform takes a request line and headers of at most {limit} bytes.",
        )
        body = json.dumps({"error": error.to_dict()}).encode()
        head = b"content-type: application/json\r\nconnection: close\r\ncontent-length: "
        self.transport.write(STATUS_LINE[431] + head + str(len(body)).encode() + b"\r\n\r\n")
        self.transport.write(body)
        self.transport.close()
