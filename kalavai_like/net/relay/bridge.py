"""The relay bridge: a process of its own that carries WireGuard's UDP over TCP to the relay.

    python -m kalavai_like.net.relay.bridge --config FILE|- --status SOCKET [--label NAME]

Secrets come from the config (a 0600 JSON file, or stdin with `-`), never from argv. The
bridge opens its local UDP sockets (kalavai_like.net.relay.tunnel), then connects, proves
who it is, carries datagrams, and reconnects with backoff whenever the stream ends. It runs
apart from the agent (like wireguard-go), so an agent restart does not cut the pool. What it
is doing is served as JSON on a 0600 UNIX socket (`status`, kalavai_like.net.relay.launch).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import stat
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kalavai_like.errors import InvalidInput
from kalavai_like.net import validate
from kalavai_like.net.relay import protocol
from kalavai_like.net.relay.protocol import Kind, Reason
from kalavai_like.net.relay.tunnel import Drops, Ports, Tunnel

CONNECT_TIMEOUT = 5.0
HANDSHAKE_TIMEOUT = 10.0


@dataclass(frozen=True)
class BridgeConfig:
    """What a bridge needs. `peers`: the overlay IPv4 addresses it carries (a spoke: the hub;
    a hub: its relayed workers); `on_demand`: also carry any other device of the pool (hub)."""

    relay: str
    device_id: str
    credential: str = field(repr=False)  # never in a log line or a traceback
    wireguard_port: int
    peers: tuple[str, ...]
    on_demand: bool = False

    def __post_init__(self) -> None:
        validate.endpoint(self.relay, "relay")
        validate.port(self.wireguard_port, "wireguard_port")
        try:
            protocol.check_device_id(self.device_id)
        except ValueError as exc:
            raise InvalidInput("Invalid bridge config", str(exc)) from None
        if not self.credential or not self.credential.isprintable() or len(self.credential) > 200:
            raise InvalidInput("Invalid bridge config", "credential must be a printable string")
        for peer in self.peers:
            try:
                protocol.packed(peer)
            except OSError:
                raise InvalidInput("Invalid bridge config", f"peer {peer!r} is not IPv4") from None

    def to_json(self) -> str:
        """The config as the bridge reads it (it holds the credential: 0600 or stdin only)."""
        return json.dumps({
            "relay": self.relay, "device_id": self.device_id, "credential": self.credential,
            "wireguard_port": self.wireguard_port, "peers": list(self.peers),
            "on_demand": self.on_demand,
        })  # fmt: skip

    @classmethod
    def from_json(cls, text: str) -> BridgeConfig:
        """Raises InvalidInput: not JSON, a field missing or of the wrong type."""
        try:
            raw = json.loads(text)
            return cls(
                str(raw["relay"]), str(raw["device_id"]), str(raw["credential"]),
                int(raw["wireguard_port"]), tuple(str(p) for p in raw["peers"]),
                bool(raw.get("on_demand", False)),
            )  # fmt: skip
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidInput("Invalid bridge config", f"{type(exc).__name__}: {exc}") from None


def read_config(source: str) -> BridgeConfig:
    """The config from stdin (`-`) or a file only its owner may read.

    Raises:
        InvalidInput: unreadable, readable by others, or malformed.
    """
    if source == "-":
        return BridgeConfig.from_json(sys.stdin.read())
    try:
        with open(source, encoding="utf-8") as f:
            st = os.fstat(f.fileno())
            if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO) or st.st_uid != os.geteuid():
                raise InvalidInput(
                    "Bridge config not private",
                    f"{source} holds a credential: make it yours and 0600 (chmod 600 {source}).",
                )
            return BridgeConfig.from_json(f.read())
    except OSError as exc:
        raise InvalidInput("Bridge config unreadable", f"{source}: {exc.strerror}") from None


class Backoff:
    """Delay before reconnect n: `initial * 2**n`, capped (longer after a refusal, which only
    the platform can lift), with +-20% jitter so bridges of a restarted relay spread out."""

    def __init__(self, initial: float = 0.25, cap: float = 15.0, refused_cap: float = 60.0):
        self.initial, self.cap, self.refused_cap = initial, cap, refused_cap
        self.failures = 0

    def next(self, refused: bool) -> float:
        cap = self.refused_cap if refused else self.cap
        delay = min(cap, self.initial * 2.0**self.failures)
        self.failures += 1
        return delay * random.uniform(0.8, 1.2)

    def reset(self) -> None:
        self.failures = 0


@dataclass
class Session:
    """What the relay's WELCOME said."""

    sock: socket.socket
    rx: protocol.FrameBuffer
    address: str
    hub: str
    keepalive: int


class Refused(Exception):
    def __init__(self, reason: Reason | None, text: str) -> None:
        super().__init__(text)
        self.reason, self.text = reason, text


async def connect(cfg: BridgeConfig) -> Session:
    """Connect to the relay and prove who we are.

    Raises:
        Refused: the relay said no (or broke the protocol); OSError, TimeoutError: no relay.
    """
    loop = asyncio.get_running_loop()
    host, port = validate.endpoint(cfg.relay, "relay")
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    error: Exception = OSError(f"{cfg.relay} has no address")
    for family, kind, proto, _, addr in infos:
        sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        try:
            await asyncio.wait_for(loop.sock_connect(sock, addr), CONNECT_TIMEOUT)
            return await asyncio.wait_for(_handshake(loop, sock, cfg), HANDSHAKE_TIMEOUT)
        except (OSError, TimeoutError, Refused) as exc:
            sock.close()
            error = exc
            if isinstance(exc, Refused):
                break
    raise error


async def _handshake(
    loop: asyncio.AbstractEventLoop, sock: socket.socket, cfg: BridgeConfig
) -> Session:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        nonce = protocol.parse_hello(await protocol.recv_exactly(loop, sock, protocol.HELLO_LEN))
        await loop.sock_sendall(sock, protocol.auth(cfg.device_id, cfg.credential, nonce))
        rx = protocol.FrameBuffer()
        while True:
            n = await loop.sock_recv_into(sock, rx.view[rx.end :])
            if n == 0:
                raise Refused(None, "the relay closed the connection during the handshake")
            rx.end += n
            for _pos, kind, address, start, stop in rx.frames():
                payload = bytes(rx.view[start:stop])
                if kind == Kind.CLOSE:
                    raise Refused(*protocol.parse_close(payload))
                if kind != Kind.WELCOME:
                    raise protocol.ProtocolError("the relay sent data before its WELCOME")
                hub, keepalive = protocol.parse_welcome(payload)
                return Session(
                    sock, rx, protocol.unpacked(address), protocol.unpacked(hub), keepalive
                )
    except protocol.ProtocolError as exc:
        raise Refused(Reason.PROTOCOL, str(exc)) from None


class Bridge:
    """Keeps one relay stream up for its UDP sockets, and says what it is doing."""

    def __init__(self, cfg: BridgeConfig, label: str = "") -> None:
        self.cfg, self.label = cfg, label
        self.ports = Ports(cfg.wireguard_port, cfg.on_demand)
        self.drops = Drops()
        self.backoff = Backoff()
        self.state = "starting"
        self.error: str | None = None
        self.reason: Reason | None = None
        self.session: Session | None = None
        self.connected_since: float | None = None
        self.retry_at: float | None = None
        self.connects = 0
        self._tunnel: Tunnel | None = None
        self._stopping = asyncio.Event()

    def status(self) -> dict[str, Any]:
        """What the agent shows: state, relay, last error, the local port per peer, counters."""
        s = self.session
        return {
            "pid": os.getpid(), "label": self.label, "relay": self.cfg.relay,
            "device_id": self.cfg.device_id, "state": self.state,
            "connected": self.state == "connected", "since": self.connected_since,
            "error": self.error, "reason": self.reason.name.lower() if self.reason else None,
            "permanent": bool(self.reason and self.reason.permanent),
            "retry_at": self.retry_at, "connects": self.connects,
            "address": s.address if s else None, "hub": s.hub if s else None,
            "wireguard_port": self.cfg.wireguard_port,
            "peers": {p.address: p.view() for p in self.ports.by_address.values()},
            "dropped": self.drops.view(),
        }  # fmt: skip

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Carry datagrams until `stop()`, reconnecting whenever the stream ends."""
        for peer in self.cfg.peers:
            self.ports.open(peer)
        try:
            while not self._stopping.is_set():
                await self._once()
                if not self._stopping.is_set():
                    await self._wait(self.backoff.next(bool(self.reason and self.reason.permanent)))
        finally:
            self.state = "stopped"
            self.ports.close()

    async def _once(self) -> None:
        self.state, self.retry_at = "connecting", None
        try:
            self.session = await connect(self.cfg)
        except Refused as exc:
            self._note(exc.reason, exc.text)
            return
        except (OSError, TimeoutError) as exc:
            what = "timed out" if isinstance(exc, TimeoutError) else exc.strerror or str(exc)
            self._note(None, f"cannot reach the relay at {self.cfg.relay}: {what}")
            return
        await self._carry(self.session)

    async def _carry(self, session: Session) -> None:
        loop = asyncio.get_running_loop()
        tunnel = self._tunnel = Tunnel(loop, session.sock, self.ports, self.drops, session.rx)
        self.state, self.error, self.reason = "connected", None, None
        self.connected_since, self.connects = time.time(), self.connects + 1
        self.backoff.reset()
        _log(f"connected to the relay at {self.cfg.relay} as {session.address}")
        tunnel.start()
        tick = loop.create_task(self._keepalive(tunnel, session.keepalive))
        stopping = loop.create_task(self._stopping.wait())
        try:
            ended: list[asyncio.Future[Any]] = [tunnel.ended, stopping]
            await asyncio.wait(ended, return_when=asyncio.FIRST_COMPLETED)
            if self._stopping.is_set():
                tunnel.stop("the bridge stopped")
            else:
                tunnel.stop()
                self._note(*tunnel.ended.result())
        finally:
            tick.cancel()
            stopping.cancel()
            session.sock.close()
            self._tunnel, self.connected_since = None, None

    async def _keepalive(self, tunnel: Tunnel, interval: int) -> None:
        while True:
            await asyncio.sleep(min(1.0, interval / 2))
            tunnel.keepalive(interval)

    def _note(self, reason: Reason | None, text: str) -> None:
        self.reason, self.error = reason, text
        self.state = "refused" if reason and reason.permanent else "waiting"
        _log(text)

    async def _wait(self, delay: float) -> None:
        self.retry_at = time.time() + delay
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), delay)


async def serve_status(bridge: Bridge, path: Path) -> asyncio.AbstractServer:
    """Answer every connection on the UNIX socket `path` (0600) with the status as JSON.

    Raises:
        InvalidInput: another live bridge answers on `path`.
    """
    with contextlib.suppress(FileNotFoundError):
        if _answers(path):
            raise InvalidInput("Bridge already running", f"a bridge answers on {path}")
        path.unlink()

    async def answer(_r: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(json.dumps(bridge.status()).encode() + b"\n")
        with contextlib.suppress(OSError):
            await writer.drain()
        writer.close()

    old = os.umask(0o177)
    try:
        return await asyncio.start_unix_server(answer, path)
    finally:
        os.umask(old)


def _answers(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.connect(str(path))
        except OSError:
            return False
    return True


def _log(text: str) -> None:
    print(f"kalavai-like relay bridge: {text}", file=sys.stderr, flush=True)


async def _main(cfg: BridgeConfig, status: Path, label: str) -> None:
    bridge = Bridge(cfg, label)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, bridge.stop)
    server = await serve_status(bridge, status)
    try:
        await bridge.run()
    finally:
        server.close()
        with contextlib.suppress(FileNotFoundError):
            status.unlink()


def main(argv: list[str] | None = None) -> int:
    """Run a bridge until SIGTERM; 2 for a bad config or status socket."""
    parser = argparse.ArgumentParser(prog="python -m kalavai_like.net.relay.bridge")
    parser.add_argument("--config", required=True, help="a 0600 JSON file, or - for stdin")
    parser.add_argument("--status", required=True, type=Path, help="UNIX socket for the status")
    parser.add_argument("--label", default="", help="a name for ps and the status (no secret)")
    args = parser.parse_args(argv)
    try:
        cfg = read_config(args.config)
        asyncio.run(_main(cfg, args.status, args.label))
    except InvalidInput as exc:
        _log(f"{exc.title}: {exc.message}")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
