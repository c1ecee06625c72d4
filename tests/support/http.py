"""Loopback HTTP for client tests: a URL where nothing listens, and tiny servers that fail in
chosen ways ("500", "500json", "slow", "html", or "escapes": an error full of control
characters, as a hostile platform might send)."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass

# kind -> (status, content type, body); "slow" holds its answer until released
CANNED = {
    "500": (500, "text/plain", b"Internal Server Error"),
    "500json": (
        500,
        "application/json",
        b'{"error": {"kind": "PlatformUnavailable", "title": "Database busy",'
        b' "message": "retry shortly"}}',
    ),
    "escapes": (
        400,
        "application/json",
        b'{"error": {"kind": "InvalidInput", "title": "\\u001b[2JCleared",'
        b' "message": "Owned\\u001b]0;title\\u0007 \\u202eevil\\r"}}',
    ),
    "html": (200, "text/html", b"<html>hello</html>"),
    "slow": (200, "application/json", b"{}"),
}


def closed_port_url() -> str:
    """A loopback URL where nothing listens (bound then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class _Handler(http.server.BaseHTTPRequestHandler):
    behaviour: Callable[[http.server.BaseHTTPRequestHandler], None]

    def _any(self) -> None:
        type(self).behaviour(self)

    do_GET = do_POST = do_DELETE = _any

    def log_message(self, *args: object) -> None:
        pass


@dataclass
class TinyServer:
    url: str
    requests: list[str]
    release: threading.Event
    server: http.server.ThreadingHTTPServer

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def start_tiny_server(kind: str) -> TinyServer:
    """A loopback server answering every request as `kind` says; `close()` it at the end."""
    seen: list[str] = []
    release = threading.Event()

    def behaviour(h: http.server.BaseHTTPRequestHandler) -> None:
        seen.append(f"{h.command} {h.path}")
        length = int(h.headers.get("Content-Length") or 0)
        if length:
            h.rfile.read(length)
        if kind == "slow":
            release.wait(30)  # hold the answer until the test is done
        status, ctype, body = CANNED.get(kind, CANNED["500"])
        headers = {"Content-Type": ctype, "Content-Length": str(len(body))}
        try:
            h.send_response(status)
            for name, value in headers.items():
                h.send_header(name, value)
            h.end_headers()
            h.wfile.write(body)
        except OSError:
            pass  # the client gave up (timeout)

    handler = type("H", (_Handler,), {"behaviour": staticmethod(behaviour)})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return TinyServer(f"http://127.0.0.1:{server.server_address[1]}", seen, release, server)
