"""The LocalAPI: HTTP/JSON over a unix socket in the home's run dir, in front of the `Node`.

Who may do what is decided by the connecting process's credentials (SO_PEERCRED): everyone
may read (status, watch, usage history); writes (join, pause, resume, stop, start a pool) are
for root, the agent's own uid and members of the configured operator group. Any request
carrying an Origin or Referer header is refused, so a web page can never drive the agent
through a browser.

Routes (all under /localapi/v0):
    GET  status          -> NodeStatus
    GET  watch           -> newline-JSON stream of NodeStatus snapshots, one per change
    GET  usage-history?since=T&step=S -> {"points": [UsagePoint]} (the ledger, per step)
    GET  metrics         -> Prometheus text exposition of the snapshot (kalavai_like.usage.metrics)
    POST join            -> newline-JSON: {"step": Step}..., then {"result": JoinResult}
    POST start-pool      -> newline-JSON: {"step": Step}..., then {"result": SeedResult}
    POST pause {for_seconds?}, POST resume, POST stop -> ActionResult
    GET  prefs; POST prefs/set {key, value}, prefs/reset {key?}, prefs/replace {table},
                     prefs/update {values}  -> {"prefs": {key: value as text}}
Errors are `{"error": {kind, title, message, reason?}}` (in a stream: as its last line).
"""

from __future__ import annotations

import contextlib
import grp
import json
import logging
import math
import os
import socket
import socketserver
import struct
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from kalavai_like.agent.node import Node
from kalavai_like.client.local import PREFIX
from kalavai_like.client.records import JoinRequest, StartPoolRequest, Step
from kalavai_like.errors import AuthError, InvalidInput, KalavaiError, NotFound

log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024
WATCH_KEEPALIVE = 15.0
PREFS_WRITES: dict[str, Any] = {
    "prefs/set": lambda node, b: node.set_pref(str(b["key"]), str(b["value"])),
    "prefs/reset": lambda node, b: node.reset_prefs(b.get("key") or None),
    "prefs/replace": lambda node, b: node.set_prefs(dict(b["table"])),
    # the tray's dialog: the keys it names, every other one (a timed pause) kept
    "prefs/update": lambda node, b: node.set_prefs({**node.prefs(), **dict(b["values"])}),
}


def peer_credentials(sock: socket.socket) -> tuple[int, int, int]:
    """(pid, uid, gid) of the process at the other end of a unix socket."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, gid = struct.unpack("3i", raw)
    return pid, uid, gid


def _groups_of(pid: int) -> set[int]:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Groups:"):
                return {int(g) for g in line.split()[1:]}
    except (OSError, ValueError):
        pass
    return set()


def operator_gid(group: str | None) -> int | None:
    """The gid of the operator group (by name or number), None when unset or unknown."""
    if not group:
        return None
    if group.isdigit():
        return int(group)
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        log.warning("operator group %r does not exist: only root and the agent may write", group)
        return None


def _query_floats(path: str, *names: str) -> list[float]:
    """Required numeric query parameters of a GET.

    Raises:
        InvalidInput: one is missing or not a finite number.
    """
    query = parse_qs(urlsplit(path).query)
    out = []
    for name in names:
        try:
            value = float(query[name][0])
        except (KeyError, IndexError, ValueError):
            raise InvalidInput("Bad request", f"{name} must be given as a number.") from None
        if not math.isfinite(value):
            raise InvalidInput("Bad request", f"{name} must be a finite number.")
        out.append(value)
    return out


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    allow_reuse_address = False
    node: Node
    operator_gid: int | None
    closing: threading.Event


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"
    server_version = "kalavai-like-agent"

    def address_string(self) -> str:
        return "local"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("localapi: " + format, *args)

    # ---- authorisation ------------------------------------------------------------------

    def _may_write(self) -> bool:
        pid, uid, gid = peer_credentials(self.request)
        if uid in (0, os.geteuid()):
            return True
        op = self.server.operator_gid
        return op is not None and (gid == op or op in _groups_of(pid))

    def _refuse_browser(self) -> bool:
        if self.headers.get("Origin") is not None or self.headers.get("Referer") is not None:
            self._send_error(
                403,
                AuthError(
                    "Refused a browser request",
                    "The agent does not answer requests with an Origin or Referer header.",
                ),
            )
            return True
        return False

    # ---- plumbing -----------------------------------------------------------------------

    def _send_json(self, status: int, payload: Any) -> None:
        body = (json.dumps(payload) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_error(self, status: int, exc: KalavaiError) -> None:
        self._send_json(status, {"error": exc.to_dict()})

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise InvalidInput("Request too large", f"{length} bytes; the limit is {MAX_BODY}.")
        return self.rfile.read(length) if length else b"{}"

    def _body(self, raw: bytes) -> dict[str, Any]:
        try:
            data = json.loads(raw or b"{}")
        except ValueError:
            raise InvalidInput("Bad request", "The body is not JSON.") from None
        if not isinstance(data, dict):
            raise InvalidInput("Bad request", "The body must be a JSON object.")
        return data

    def _route(self) -> str:
        path = self.path.split("?", 1)[0]
        if not path.startswith(PREFIX):
            raise NotFound("No such endpoint", path)
        return path[len(PREFIX) :]

    def _stream_start(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.end_headers()

    def _line(self, payload: Any) -> None:
        self.wfile.write((json.dumps(payload) + "\n").encode())
        self.wfile.flush()

    # ---- verbs --------------------------------------------------------------------------

    def do_GET(self) -> None:
        if self._refuse_browser():
            return
        try:
            route = self._route()
            node = self.server.node
            if route == "status":
                self._send_json(200, node.status().to_dict())
            elif route == "ping":
                self._send_json(200, {"ok": True, "pid": os.getpid()})
            elif route == "watch":
                self._watch(node)
            elif route == "metrics":
                self._send_metrics(node)
            elif route == "prefs":
                self._send_json(200, {"prefs": node.prefs()})
            elif route == "usage-history":
                since, step = _query_floats(self.path, "since", "step")
                points = node.usage_history(since, step)
                self._send_json(200, {"points": [p.to_dict() for p in points]})
            else:
                raise NotFound("No such endpoint", self.path)
        except KalavaiError as exc:
            self._send_error(exc.local_status, exc)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _send_metrics(self, node: Node) -> None:
        from kalavai_like.usage import metrics

        body = metrics.render(node.status().to_dict()).encode()
        self.send_response(200)
        self.send_header("Content-Type", metrics.CONTENT_TYPE)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _watch(self, node: Node) -> None:
        self._stream_start()
        seen = -1
        while not self.server.closing.is_set():
            with node.changed:
                if node.version == seen:
                    node.changed.wait(WATCH_KEEPALIVE)
                seen = node.version
            self._line(node.status().to_dict())

    def do_POST(self) -> None:
        try:
            raw = self._read_body()  # read first: answering before it is read breaks the pipe
        except KalavaiError as exc:
            self._send_error(413, exc)
            return
        if self._refuse_browser():
            return
        try:
            route = self._route()
            if not self._may_write():
                raise AuthError(
                    "Not allowed",
                    "Only root, the agent's user and the operator group may change the node; "
                    "run the command with sudo, or ask to be added to the operator group.",
                )
            body = self._body(raw)
            node = self.server.node
            if route == "join":
                self._streamed(lambda on_step: node.join(JoinRequest.from_dict(body), on_step))
                return
            if route == "start-pool":
                req = StartPoolRequest.from_dict(body)
                self._streamed(lambda on_step: node.start_pool(req, on_step))
                return
            if route == "pause":
                secs = body.get("for_seconds")
                if secs is not None and (not isinstance(secs, int | float) or secs <= 0):
                    raise InvalidInput("Bad pause length", "for_seconds must be positive.")
                result = node.pause(float(secs) if secs else None)
            elif route in PREFS_WRITES:  # kalavai_like.agent.policy applies them live
                self._send_json(200, {"prefs": PREFS_WRITES[route](node, body)})
                return
            elif route == "resume":
                result = node.resume()
            elif route == "stop":
                result = node.stop()
            else:
                raise NotFound("No such endpoint", self.path)
            self._send_json(200, result.to_dict())
        except KalavaiError as exc:
            self._send_error(exc.local_status, exc)
        except (TypeError, KeyError) as exc:
            self._send_error(400, InvalidInput("Bad request", f"missing or bad field: {exc}"))
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _streamed(self, call: Any) -> None:
        self._stream_start()

        def on_step(step: Step) -> None:
            self._line({"step": step.to_dict()})

        try:
            result = call(on_step)
        except KalavaiError as exc:
            self._line({"error": exc.to_dict()})
            return
        except Exception as exc:
            log.exception("localapi")
            self._line({"error": KalavaiError("Agent error", f"{type(exc).__name__}").to_dict()})
            return
        self._line({"result": result.to_dict()})


class LocalAPIServer:
    """Serves the LocalAPI for `node` on `path` in background threads."""

    def __init__(self, path: Path, node: Node, operator_group: str | None = None) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # a stale socket of a dead agent (the lock says none runs)
        self._server = _Server(str(path), _Handler)
        os.chmod(path, 0o666)  # noqa: S103 everyone may connect; peer credentials decide what they may do
        # others must traverse the run dir; only add bits (KALAVAI_LIKE_AGENT_SOCKET may be in /tmp)
        path.parent.chmod(path.parent.stat().st_mode & 0o7777 | 0o055)
        self._server.node = node
        self._server.operator_gid = operator_gid(operator_group)
        self._server.closing = threading.Event()
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="localapi", daemon=True
        )

    def start(self) -> LocalAPIServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.closing.set()
        with self._server.node.changed:
            self._server.node.changed.notify_all()
        self._server.shutdown()
        self._server.server_close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
