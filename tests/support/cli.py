"""Fixtures shared by the client and CLI tests: the real platform on loopback, tiny servers
that fail in chosen ways, and running the real `kalavai-like` command in its own home."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kalavai_like.platform.local import LocalPlatform, start_local_platform


@pytest.fixture(scope="session")
def local_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    """The real platform server (`kalavai-like platform serve`) on a loopback port."""
    with start_local_platform(tmp_path_factory.mktemp("platform")) as platform:
        yield platform


def unique_email(tag: str = "user") -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}@example.org"


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


@pytest.fixture
def tiny_server() -> Iterator[Callable[[str], TinyServer]]:
    """Start loopback HTTP servers that answer "500", "500json", "slow" or "html"."""
    servers: list[tuple[http.server.ThreadingHTTPServer, threading.Event]] = []

    def start(kind: str) -> TinyServer:
        seen: list[str] = []
        release = threading.Event()

        def behaviour(h: http.server.BaseHTTPRequestHandler) -> None:
            seen.append(f"{h.command} {h.path}")
            length = int(h.headers.get("Content-Length") or 0)
            if length:
                h.rfile.read(length)
            if kind == "slow":
                release.wait(30)  # hold the answer until the test is done
                body, status, ctype = b"{}", 200, "application/json"
            elif kind == "500json":
                body = (
                    b'{"error": {"kind": "PlatformUnavailable", "title": "Database busy",'
                    b' "message": "retry shortly"}}'
                )
                status, ctype = 500, "application/json"
            elif kind == "html":
                body, status, ctype = b"<html>hello</html>", 200, "text/html"
            else:
                body, status, ctype = b"Internal Server Error", 500, "text/plain"
            try:
                h.send_response(status)
                h.send_header("Content-Type", ctype)
                h.send_header("Content-Length", str(len(body)))
                h.end_headers()
                h.wfile.write(body)
            except OSError:
                pass  # the client gave up (timeout)

        handler = type("H", (_Handler,), {"behaviour": staticmethod(behaviour)})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append((server, release))
        return TinyServer(f"http://127.0.0.1:{server.server_address[1]}", seen, release)

    try:
        yield start
    finally:
        for server, release in servers:
            release.set()
            server.shutdown()
            server.server_close()


def closed_port_url() -> str:
    """A loopback URL where nothing listens (bound then closed)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def base_env(tmp: Path) -> dict[str, str]:
    """A clean environment: no keyring (unless a test brings one), no inherited token."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KALAVAI_LIKE_")}
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    env["HOME"] = str(tmp / "userhome")
    env["COLUMNS"] = "200"
    return env


@dataclass
class Cli:
    """The real `kalavai-like` command, run in its own home."""

    home: Path
    env: dict[str, str]

    def __call__(
        self, *args: str, input: str | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "kalavai_like", "--home", str(self.home), *args],
            input=input,
            capture_output=True,
            text=True,
            env={**self.env, **(env or {})},
            timeout=120,
        )

    def settings(self, text: str) -> None:
        (self.home / "config").mkdir(parents=True, exist_ok=True)
        (self.home / "config" / "settings.toml").write_text(text)


def make_cli(tmp: Path, name: str = "home", settings: str = 'keystore = "file"\n') -> Cli:
    cli = Cli(tmp / name, base_env(tmp))
    cli.settings(settings)
    return cli
