"""`NodeClient`: the CLI's and the tray's handle on the agent, with the same methods as `Node`,
spoken over the LocalAPI's unix socket. Errors come back as the same kalavai_like.errors types;
a missing agent is `AgentUnavailable` with how to start it. Frontends get theirs from
`NodeClient.for_home(home)`, which finds the socket and can start the agent.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from kalavai_like import errors
from kalavai_like.client.records import (
    ActionResult,
    JoinRequest,
    JoinResult,
    NodeStatus,
    SeedResult,
    StartPoolRequest,
    Step,
    UsagePoint,
)
from kalavai_like.client.text import printable
from kalavai_like.errors import AgentUnavailable
from kalavai_like.home.files import open_private_append
from kalavai_like.home.paths import Paths

if TYPE_CHECKING:
    from kalavai_like.home.instance import Home

OnStep = Callable[[Step], None]
PREFIX = "/localapi/v0/"  # every LocalAPI route lives under it
SOCKET_ENV = "KALAVAI_LIKE_AGENT_SOCKET"  # the LocalAPI socket, for agent and clients alike
SYSTEM_SOCKET = Path("/run/kalavai-like/agent.sock")  # the system-wide agent (packaging/systemd)


def listen_path(paths: Paths, env: Mapping[str, str] | None = None) -> Path:
    """Where this agent's LocalAPI listens: `KALAVAI_LIKE_AGENT_SOCKET`, else `<run>/agent.sock`."""
    environ = os.environ if env is None else env
    chosen = environ.get(SOCKET_ENV, "").strip()
    return Path(chosen) if chosen else paths.run / "agent.sock"


def socket_path(
    paths: Paths, env: Mapping[str, str] | None = None, system: Path = SYSTEM_SOCKET
) -> Path:
    """Where a client (CLI, tray) finds the agent.

    `KALAVAI_LIKE_AGENT_SOCKET` wins; with an explicit home (--home, KALAVAI_LIKE_HOME) the
    home's socket; otherwise the user's own agent when its socket exists, else the system-wide
    agent's (packaging/systemd) when that exists or left word that it was stopped, else the
    user's (for the "not running" hint).
    """
    environ = os.environ if env is None else env
    own = listen_path(paths, environ)
    if environ.get(SOCKET_ENV, "").strip() or paths.home is not None:
        return own
    if not own.exists() and (system.exists() or stopped_path(system).exists()):
        return system  # the system-wide agent, or the word it left when it was stopped
    return own


def log_path(paths: Paths) -> Path:
    return paths.logs / "agent.log"


def stopped_path(socket_path: Path) -> Path:
    """Where a gracefully stopped agent leaves word of it, next to its socket (no secrets)."""
    return socket_path.parent / "agent-stopped.json"


def stopped_note(socket_path: Path) -> str:
    """What a gracefully stopped agent left behind, in words; empty when it left no word."""
    try:
        note = json.loads(stopped_path(socket_path).read_text(encoding="utf-8"))
        at = time.strftime("%Y-%m-%d %H:%M", time.localtime(float(note["stopped_at"])))
        pool = printable(str(note.get("frozen_pool") or ""))
    except (OSError, ValueError, KeyError, TypeError):
        return ""
    if not pool:
        return f"The agent was stopped at {at}. "
    return (f"The agent was stopped at {at}; the worker of pool {pool} is frozen and lends "
            "nothing until the agent runs again. ")  # fmt: skip


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float | None) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


def error_from(payload: dict[str, Any]) -> errors.KalavaiError:
    """The project error an agent's `{"error": ...}` payload describes."""
    return errors.error_from_dict(payload, title="Agent error")


class NodeClient:
    """Talks to the agent whose LocalAPI listens on `socket_path`."""

    def __init__(self, socket_path: Path, *, home_hint: str = "", timeout: float = 120.0) -> None:
        self.socket_path = socket_path
        self.home_hint = home_hint
        self.timeout = timeout

    def _unavailable(self, why: str) -> errors.AgentUnavailable:
        home = f" --home {self.home_hint}" if self.home_hint else ""
        return errors.AgentUnavailable(
            "The kalavai-like agent is not running",
            f"{stopped_note(self.socket_path)}"
            f"No agent answers at {self.socket_path} ({why}). Start it with "
            f"`sudo kalavai-like agent{home}` (or as a service), or add --start-agent to start "
            "it in the background.",
        )

    def _open(self, method: str, route: str, body: dict[str, Any] | None) -> Any:
        conn = _UnixConnection(str(self.socket_path), self.timeout)
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        try:
            conn.request(method, PREFIX + route, body=data, headers=headers)
            resp = conn.getresponse()
        except FileNotFoundError:
            conn.close()
            raise self._unavailable("no socket") from None
        except ConnectionRefusedError:
            conn.close()
            raise self._unavailable("connection refused") from None
        except PermissionError:
            conn.close()
            raise errors.AuthError(
                "Cannot reach the agent", f"{self.socket_path} is not accessible to this user."
            ) from None
        except (TimeoutError, OSError) as exc:
            conn.close()
            raise self._unavailable(str(exc)) from None
        return conn, resp

    def _call(self, method: str, route: str, body: dict[str, Any] | None = None) -> Any:
        conn, resp = self._open(method, route, body)
        try:
            payload = json.loads(resp.read() or b"{}")
        finally:
            conn.close()
        if isinstance(payload, dict) and "error" in payload:
            raise error_from(payload["error"])
        return payload

    def _stream(
        self, route: str, body: dict[str, Any], on_step: OnStep | None,
        on_out: Callable[[str], None] | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        conn, resp = self._open("POST", route, body)
        try:
            if resp.status != 200:
                payload = json.loads(resp.read() or b"{}")
                raise error_from(payload.get("error", {}))
            for raw in resp:
                line = json.loads(raw)
                if "step" in line:
                    if on_step is not None:
                        on_step(Step(**line["step"]))
                elif "out" in line and on_out is not None:
                    on_out(str(line["out"]))
                elif "error" in line:
                    raise error_from(line["error"])
                elif "result" in line:
                    return line["result"]  # type: ignore[no-any-return]
        finally:
            conn.close()
        raise self._unavailable("the agent stopped while answering")

    # ---- the Node's methods -------------------------------------------------------------

    def ping(self) -> int:
        """The agent's PID.

        Raises:
            AgentUnavailable: no agent answers.
        """
        return int(self._call("GET", "ping")["pid"])

    def status(self) -> NodeStatus:
        return NodeStatus.from_dict(self._call("GET", "status"))

    def watch(self) -> Iterator[NodeStatus]:
        """Status snapshots as they change (blocks; stop iterating to end)."""
        conn, resp = self._open("GET", "watch", None)
        try:
            for raw in resp:
                yield NodeStatus.from_dict(json.loads(raw))
        finally:
            conn.close()

    def usage_history(self, since: float, step: float) -> list[UsagePoint]:
        """The worker's average use per `step` seconds since `since` (see Node.usage_history).

        Raises:
            InvalidInput: a bad `since`/`step` or too many points.
            AgentUnavailable: no agent answers.
        """
        query = urlencode({"since": repr(float(since)), "step": repr(float(step))})
        payload = self._call("GET", f"usage-history?{query}")
        return [UsagePoint.from_dict(p) for p in payload["points"]]

    def join(self, req: JoinRequest, on_step: OnStep | None = None) -> JoinResult:
        return JoinResult.from_dict(self._stream("join", req.to_dict(), on_step))

    def start_pool(self, req: StartPoolRequest, on_step: OnStep | None = None) -> SeedResult:
        return SeedResult.from_dict(self._stream("start-pool", req.to_dict(), on_step))

    def dask_connect(self) -> dict[str, Any]:
        """On the seed: the pool's scheduler forwarded to loopback, and the client files."""
        return self._stream("dask-connect", {}, None)

    def dask_disconnect(self) -> int:
        """Close `dask_connect`'s forwarders; how many were open."""
        return int(self._stream("dask-disconnect", {}, None)["closed"])

    def dask_run(self, script: str, args: list[str], on_out: Callable[[str], None]) -> int:
        """Run a Dask script as a client of the pool (output lines to `on_out`); its exit code."""
        body = {"script": script, "args": args}
        return int(self._stream("dask-run", body, None, on_out)["exit_code"])

    def pause(self, for_seconds: float | None = None, reason: str = "") -> ActionResult:
        body: dict[str, Any] = {"for_seconds": for_seconds} if for_seconds else {}
        return ActionResult.from_dict(self._call("POST", "pause", body))

    def resume(self) -> ActionResult:
        return ActionResult.from_dict(self._call("POST", "resume", {}))

    def stop(self, finish: bool = False) -> ActionResult:
        """Leave now, or with `finish` once the current work is done (BOINC)."""
        return ActionResult.from_dict(
            self._call("POST", "stop", {"finish": True} if finish else {})
        )

    def prefs(self) -> dict[str, str]:
        """The volunteer's preferences, each as text (`prefs show`)."""
        return dict(self._call("GET", "prefs")["prefs"])

    def set_pref(self, key: str, value: str) -> dict[str, str]:
        """Set one preference; the agent applies it live.

        Raises:
            InvalidInput: unknown key, bad value, or beyond this machine.
        """
        return dict(self._call("POST", "prefs/set", {"key": key, "value": value})["prefs"])

    def reset_prefs(self, key: str | None = None) -> dict[str, str]:
        return dict(self._call("POST", "prefs/reset", {"key": key})["prefs"])

    def set_prefs(self, table: dict[str, Any]) -> dict[str, str]:
        """Replace every preference with a `[prefs]` table."""
        return dict(self._call("POST", "prefs/replace", {"table": table})["prefs"])

    def update_prefs(self, values: dict[str, str]) -> dict[str, str]:
        """Set the preferences `values` names (flat keys, as `prefs()` gives them) at once,
        keeping every other one (a timed pause): the tray's dialog.

        Raises:
            InvalidInput: a key or value is invalid, or beyond this machine.
        """
        return dict(self._call("POST", "prefs/update", {"values": values})["prefs"])

    # ---- finding the agent --------------------------------------------------------------

    @classmethod
    def for_home(
        cls,
        home: Home,
        *,
        timeout: float = 120.0,
        start: bool = False,
        on_started: Callable[[int], None] | None = None,
    ) -> NodeClient:
        """The client of `home`'s agent (see `socket_path`). With `start`, an agent that does
        not answer is started in the background first (`on_started` hears its PID).

        Raises:
            AgentUnavailable: `start` was asked and the agent did not come up.
        """
        hint = str(home.paths.home) if home.paths.home else ""
        client = cls(socket_path(home.paths), home_hint=hint, timeout=timeout)
        if not start:
            return client
        try:
            client.ping()
        except AgentUnavailable:
            pid = start_agent(home)
            if on_started is not None:
                on_started(pid)
            client = cls(listen_path(home.paths), home_hint=hint, timeout=timeout)
        return client


def start_agent(home: Home, timeout: float = 20.0) -> int:
    """Start `home`'s agent in the background; its PID once it answers (`start_background`).

    Raises:
        AgentUnavailable: it did not come up in time (with the end of its log).
    """
    return start_background(home.paths, str(home.paths.home) if home.paths.home else None, timeout)


def start_background(paths: Paths, home: str | None, timeout: float = 20.0) -> int:
    """Start `kalavai-like agent` detached (its output to the agent log); returns its PID
    once its LocalAPI answers.

    Raises:
        AgentUnavailable: it did not come up in time (with the end of its log).
    """
    paths.ensure()
    argv = [sys.executable, "-m", "kalavai_like"]
    if home:
        argv += ["--home", home]
    argv.append("agent")
    out = open_private_append(log_path(paths).with_suffix(".out"), binary=True)
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True
    )
    out.close()
    client = NodeClient(listen_path(paths))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            client.ping()
            return proc.pid
        except AgentUnavailable:
            time.sleep(0.05)
    tail = _tail(log_path(paths).with_suffix(".out"))
    raise AgentUnavailable("The agent did not start", tail or "See the agent log.")


def _tail(path: Path, lines: int = 10) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
