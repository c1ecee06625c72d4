"""The agent's opt-in Prometheus endpoint: `GET /metrics` over plain HTTP, rendered by
kalavai_like.usage.metrics from the node's status snapshot (contributed CPU/RAM/GPU, pending,
credit granted, state, reasons, handshake age, heartbeat lag).

Off unless asked for, with `kalavai-like agent --metrics ADDRESS` or `[agent] metrics = ADDRESS`
in settings.toml. ADDRESS is `on` or a bare port (loopback, 127.0.0.1), or `HOST:PORT`; exposing
it beyond loopback is the operator's explicit choice. It only reads: nothing it serves can
change the node, and it carries no credential or key.
"""

from __future__ import annotations

import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from kalavai_like.client.records import NodeStatus
from kalavai_like.errors import InvalidInput, KalavaiError
from kalavai_like.usage import metrics

log = logging.getLogger(__name__)
DEFAULT_PORT = 9464  # Prometheus' registry of default ports has this one free for exporters
_OFF = ("", "off", "no", "none", "false")


class StatusSource(Protocol):
    def status(self) -> NodeStatus: ...


def parse_listen(text: str | int | None) -> tuple[str, int] | None:
    """'on' or '9464' -> loopback; 'HOST:PORT' or '[v6]:PORT' as given; 'off'/None -> None.

    Raises:
        InvalidInput: anything else.
    """
    raw = "" if text is None else str(text).strip()
    if raw.lower() in _OFF:
        return None
    if raw.lower() in ("on", "yes", "true"):
        return "127.0.0.1", DEFAULT_PORT
    host, sep, port = raw.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", raw
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidInput(
            "Invalid metrics address", f"{raw!r}: use a port (9464), HOST:PORT, on or off."
        )
    return host, int(port)


class MetricsServer:
    """Serves `/metrics` for `node` at `address` in a background thread."""

    def __init__(self, address: tuple[str, int], node: StatusSource) -> None:
        outer = self
        self.node = node

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer._serve(self)

            def log_message(self, format: str, *args: Any) -> None:
                return  # a scrape every few seconds would flood the agent's log

        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        server_cls = type("Server", (ThreadingHTTPServer,), {"address_family": family})
        try:
            self._httpd = server_cls(address, Handler)
        except OSError as exc:
            raise InvalidInput(
                "Cannot serve /metrics", f"{address[0]}:{address[1]}: {exc.strerror or exc}."
            ) from None
        self._httpd.daemon_threads = True
        self.address: tuple[str, int] = tuple(self._httpd.server_address[:2])
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="metrics", daemon=True
        )

    def start(self) -> MetricsServer:
        self._thread.start()
        log.info("serving /metrics on %s:%d", *self.address)
        return self

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _serve(self, req: BaseHTTPRequestHandler) -> None:
        path = req.path.split("?", 1)[0]
        if path != "/metrics":
            self._send(req, 404, "text/plain", b"not found: try /metrics\n")
            return
        try:
            body = metrics.render(self.node.status().to_dict()).encode()
        except KalavaiError as exc:
            self._send(req, 503, "text/plain", f"{exc.title}\n".encode())
            return
        self._send(req, 200, metrics.CONTENT_TYPE, body)

    @staticmethod
    def _send(req: BaseHTTPRequestHandler, code: int, kind: str, body: bytes) -> None:
        try:
            req.send_response(code)
            req.send_header("Content-Type", kind)
            req.send_header("Content-Length", str(len(body)))
            req.end_headers()
            req.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass


def serve_from_settings(agent_table: dict[str, Any], node: StatusSource) -> MetricsServer | None:
    """Start the endpoint if `[agent] metrics` asks for it; None when it is off.

    Raises:
        InvalidInput: a bad address, or it cannot be bound (says which).
    """
    address = parse_listen(agent_table.get("metrics"))
    return MetricsServer(address, node).start() if address else None
