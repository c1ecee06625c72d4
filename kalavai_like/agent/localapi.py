"""The LocalAPI: HTTP/JSON over a unix socket in the home's run dir, in front of the `Node`.

Who may do what is decided by the connecting process's credentials (SO_PEERCRED,
kalavai_like.agent.callers): everyone may read (status, watch, usage history); writes (join,
pause, resume, stop, start a pool) are for root, the agent's own uid and members of the
configured operator group, who are refused before their body is read. Any request carrying an
Origin or Referer header is refused, so a web page can never drive the agent through a browser.
Bodies, idle connections and the connections a user may hold at once are bounded
(`LocalAPILimits`): a local user must not be able to exhaust the agent's memory or threads.

Routes (all under /localapi/v0):
    GET  status          -> NodeStatus
    GET  watch           -> newline-JSON stream of NodeStatus snapshots, one per change
    GET  usage-history?since=T&step=S -> {"points": [UsagePoint]} (the ledger, per step)
    GET  metrics         -> Prometheus text exposition of the snapshot (kalavai_like.usage.metrics)
    POST join            -> newline-JSON: {"step": Step}..., then {"result": JoinResult}
    POST start-pool      -> newline-JSON: {"step": Step}..., then {"result": SeedResult}
    POST pause {for_seconds?}, POST resume, POST stop {finish?} -> ActionResult
    GET  prefs; POST prefs/set {key, value}, prefs/reset {key?}, prefs/replace {table},
                     prefs/update {values}  -> {"prefs": {key: value as text}}
Errors are `{"error": {kind, title, message, reason?}}` (in a stream: as its last line).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import socket
import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from kalavai_like.agent import dask_access
from kalavai_like.agent.callers import Gate, LocalAPILimits, Peer, operator_gid, peer_of
from kalavai_like.agent.node import Node
from kalavai_like.client.local import PREFIX
from kalavai_like.client.records import JoinRequest, StartPoolRequest, Step
from kalavai_like.errors import AuthError, InvalidInput, KalavaiError, NotFound

log = logging.getLogger(__name__)
WATCH_KEEPALIVE = 15.0
LINGER = 1.0  # seconds a refused caller may go on sending its body (drained, not kept)
PREFS_WRITES: dict[str, Any] = {
    "prefs/set": lambda node, b: node.set_pref(str(b["key"]), str(b["value"])),
    "prefs/reset": lambda node, b: node.reset_prefs(b.get("key") or None),
    "prefs/replace": lambda node, b: node.set_prefs(dict(b["table"])),
    # the tray's dialog: the keys it names, every other one (a timed pause) kept
    "prefs/update": lambda node, b: node.update_prefs(
        {str(k): str(v) for k, v in b["values"].items()}
    ),
}


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


class _Server(socketserver.UnixStreamServer):
    """One thread per admitted connection; `gate` bounds how many a caller may hold."""

    allow_reuse_address = False
    node: Node
    operator_gid: int | None
    closing: threading.Event
    limits: LocalAPILimits
    gate: Gate

    def process_request(self, request: Any, client_address: Any) -> None:
        peer = peer_of(request)
        if not self.gate.enter(peer):
            _turn_away(request, peer)
            self.shutdown_request(request)
            return
        args = (request, client_address, peer)
        threading.Thread(target=self._serve, args=args, name="localapi-conn", daemon=True).start()

    def _serve(self, request: Any, client_address: Any, peer: Peer) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.gate.leave(peer)
            self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.exception("localapi connection failed")


def _turn_away(request: socket.socket, peer: Peer) -> None:
    """A 503 to a caller holding too many connections, written without reading its request."""
    log.warning("localapi: uid %d holds too many connections; one turned away", peer.uid)
    error = KalavaiError(
        "Too many connections",
        "This user has too many connections open to the agent. Close some and retry.",
    )
    body = (json.dumps({"error": error.to_dict()}) + "\n").encode()
    head = "HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    head += f"Content-Length: {len(body)}\r\n\r\n"
    with contextlib.suppress(OSError):
        request.settimeout(1.0)
        request.sendall(head.encode() + body)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"
    server_version = "kalavai-like-agent"

    def address_string(self) -> str:
        return "local"

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.limits.idle_timeout)  # each read and write

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("localapi: " + format, *args)

    # ---- authorisation ------------------------------------------------------------------

    def _check_writer(self) -> None:
        if not peer_of(self.request).may_write(self.server.operator_gid):
            raise AuthError(
                "Not allowed",
                "Only root, the agent's user and the operator group may change the node; "
                "run the command with sudo, or ask to be added to the operator group.",
            )

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

    def _read_body(self) -> bytes | None:
        """The body, or None after answering 413 (a body over the limit is never read).

        Raises:
            InvalidInput: no plain Content-Length, or the caller sent less than it said.
        """
        declared = self.headers.get("Content-Length") or "0"
        if "Transfer-Encoding" in self.headers or not (declared.isascii() and declared.isdigit()):
            raise InvalidInput("Bad request", "Send the body with a Content-Length in bytes.")
        limit = self.server.limits.max_body
        if int(declared) > limit:
            too_large = f"{declared} bytes; the agent takes at most {limit} bytes per request."
            self._send_error(413, InvalidInput("Request too large", too_large))
            return None
        self._unread = False
        raw = self.rfile.read(int(declared)) if int(declared) else b"{}"
        if len(raw) < int(declared):
            raise InvalidInput("Bad request", "The body ended before its Content-Length.")
        return raw

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
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the caller went away, or sat idle past the limit

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
        # Refusals come before the body is read: a caller who may not write costs no memory.
        self._unread = True
        try:
            self._post()
        finally:
            if self._unread:
                self._linger()

    def _linger(self) -> None:
        """Drop what the caller still sends of a body refused unread: at most `max_body` bytes,
        for at most LINGER seconds. Closing on it at once could fail the caller's send of it
        before the caller reads the answer."""
        declared = self.headers.get("Content-Length") or "0"
        left = int(declared) if declared.isascii() and declared.isdigit() else 0
        left = min(left, self.server.limits.max_body)
        deadline = time.monotonic() + LINGER
        with contextlib.suppress(OSError):
            while left > 0 and (wait := deadline - time.monotonic()) > 0:
                self.connection.settimeout(wait)
                chunk = self.rfile.read1(min(left, 65536))
                if not chunk:
                    break
                left -= len(chunk)

    def _post(self) -> None:
        if self._refuse_browser():
            return
        try:
            route = self._route()
            self._check_writer()
            raw = self._read_body()
            if raw is None:
                return
            body = self._body(raw)
            node = self.server.node
            if route in dask_access.DASK_POSTS:  # the owner's Dask access (on the seed)
                self._stream_start()
                return dask_access.serve(route, node.dask, body, self._line)
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
                result = node.finish() if body.get("finish") is True else node.stop()
            else:
                raise NotFound("No such endpoint", self.path)
            self._send_json(200, result.to_dict())
        except KalavaiError as exc:
            self._send_error(exc.local_status, exc)
        except (TypeError, KeyError) as exc:
            self._send_error(400, InvalidInput("Bad request", f"missing or bad field: {exc}"))
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the caller went away, or sat idle past the limit

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

    def __init__(
        self,
        path: Path,
        node: Node,
        *,
        operator_group: str = "",
        limits: LocalAPILimits | None = None,
    ) -> None:
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
        self._server.limits = limits or LocalAPILimits()
        self._server.gate = Gate(self._server.limits)
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
