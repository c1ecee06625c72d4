"""Relay test helpers: enrolled devices, bridges in real processes, stand-ins for WireGuard's
UDP socket, and a raw relay client that speaks the protocol by hand (as an attacker would).
Everything stays on 127.0.0.1."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kalavai_like.home.files import write_text
from kalavai_like.net.relay import protocol
from kalavai_like.net.relay.launch import (
    BridgeConfig,
    BridgeStatus,
    read_status,
    start_bridge,
    stop_bridge,
)
from kalavai_like.net.relay.protocol import Kind
from kalavai_like.net.runner import SystemRunner
from tests.support.platform_api import Api, User, wg_key
from tests.support.processes import stop
from tests.support.waiting import wait_for


@dataclass
class Device:
    """An enrolled device: its id, credential and overlay address."""

    id: str
    credential: str
    address: str


@dataclass
class Pool:
    owner: User
    info: dict[str, Any]
    hub: Device
    workers: list[Device]


def enrol_pool(api: Api, workers: int = 1, relay_only: bool = False) -> Pool:
    """A new pool with its hub and `workers` worker devices."""
    owner = api.user()
    pool = api.pool(owner)
    r = owner.post(
        f"/api/v1/pools/{pool['id']}/hub",
        json={"public_key": wg_key(), "endpoint": "127.0.0.1:51820", "relay_only": relay_only},
    )
    assert r.status_code == 201, r.text
    hub = r.json()
    joined = [api.join(api.as_(owner.credential), owner, pool) for _ in range(workers)]
    return Pool(
        owner,
        pool,
        Device(hub["device_id"], hub["credential"], hub["address"]),
        [Device(j["device"]["id"], j["credential"], j["device"]["address"]) for j in joined],
    )


class WireGuardEnd:
    """A stand-in for WireGuard's UDP socket on 127.0.0.1 (a listen port of its own)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        # wireguard-go's own receive buffer is 7 MiB (SO_RCVBUFFORCE: 33 on Linux).
        self.sock.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), 7 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.received: list[tuple[bytes, int]] = []  # (datagram, source port)

    def send(self, data: bytes, port: int) -> None:
        self.sock.sendto(data, ("127.0.0.1", port))

    def drain(self, timeout: float = 0.0) -> list[tuple[bytes, int]]:
        """Read what arrived (waiting up to `timeout` for the first); all received so far."""
        wait = timeout
        while select.select([self.sock], [], [], wait)[0]:
            data, src = self.sock.recvfrom(65535)
            self.received.append((data, int(src[1])))
            wait = 0.0
        return self.received

    def wait_for(self, data: bytes, timeout: float = 20.0) -> int:
        """Wait for `data` to arrive; the port it came from."""
        found = wait_for(
            lambda: next((p for d, p in self.drain(0.1) if d == data), None),
            timeout,
            f"{data!r} at the WireGuard stand-in",
        )
        return int(found)

    def close(self) -> None:
        self.sock.close()


@dataclass
class Bridges:
    """Bridge processes started by a test, each with its config and status socket."""

    base: Path
    runner: SystemRunner = field(default_factory=SystemRunner)
    pids: dict[str, int] = field(default_factory=dict)

    def start(
        self, name: str, relay: str, device: Device, wg: WireGuardEnd, peers: tuple[str, ...] = ()
    ) -> int:
        cfg = BridgeConfig(relay, device.id, device.credential, wg.port, peers, not peers)
        config = self.base / f"{name}.json"
        write_text(config, cfg.to_json(), secret=True)
        self.pids[name] = start_bridge(self.runner, config, self.status_path(name), name)
        return self.pids[name]

    def status_path(self, name: str) -> Path:
        return self.base / f"{name}.sock"

    def status(self, name: str) -> BridgeStatus:
        status = read_status(self.status_path(name))
        assert status is not None, f"bridge {name} does not answer"
        return status

    def wait(self, name: str, state: str, timeout: float = 30.0) -> BridgeStatus:
        return wait_for(  # type: ignore[no-any-return]
            lambda: (s := read_status(self.status_path(name))) and s.state == state and s,
            timeout,
            f"bridge {name} to be {state}",
        )

    def stop_all(self) -> None:
        for name, pid in self.pids.items():
            stop_bridge(self.runner, pid, name)
        self.pids.clear()


class RawClient:
    """Speaks the relay protocol by hand over a blocking socket."""

    def __init__(self, relay: str) -> None:
        host, _, port = relay.rpartition(":")
        self.sock = socket.create_connection((host, int(port)), timeout=10)

    def nonce(self) -> bytes:
        return protocol.parse_hello(self.recv_exactly(protocol.HELLO_LEN))

    def recv_exactly(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    def reply(self) -> tuple[int, bytes, bytes]:
        """The next frame: (kind, address, payload)."""
        kind, length, address = protocol.HEADER.unpack(self.recv_exactly(protocol.HEADER_LEN))
        return kind, address, self.recv_exactly(length)

    def close_reason(self) -> tuple[protocol.Reason, str]:
        kind, _address, payload = self.reply()
        assert kind == Kind.CLOSE, f"expected a CLOSE, got frame kind {kind}"
        return protocol.parse_close(payload)

    def send_data(self, to: str, payload: bytes, count: int = 1) -> None:
        """DATA frames to an overlay address (errors ignored: the relay may have hung up)."""
        try:
            self.sock.sendall(protocol.frame(Kind.DATA, protocol.packed(to), payload) * count)
        except OSError:
            pass

    def closed_by_relay(self, timeout: float = 20.0) -> bool:
        """Read until the relay closes the connection; True if it did."""
        self.sock.settimeout(timeout)
        try:
            while self.sock.recv(65536):
                pass
        except TimeoutError:
            return False
        except OSError:
            pass
        return True

    def close(self) -> None:
        self.sock.close()


def start_relay(data_dir: Path, database_url: str | None, port: int = 0) -> tuple[Any, str]:
    """`kalavai-like relay serve` as its own process against the platform's database; the
    process and its address once it serves."""
    env = {k: v for k, v in os.environ.items() if k != "KALAVAI_LIKE_DATABASE_URL"}
    if database_url:
        env["KALAVAI_LIKE_DATABASE_URL"] = database_url
    args = [sys.executable, "-m", "kalavai_like", "relay", "serve", "--port", str(port)]
    args += ["--data-dir", str(data_dir), "--recheck", "0.5"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "serving at" not in line:
        stop(proc)
        raise AssertionError(f"the relay did not start: {line!r}")
    return proc, line.split("serving at ")[1].split()[0]


def kill(proc: subprocess.Popen[Any]) -> None:
    """SIGKILL, as a crash would, and reap."""
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)


def cmdline(pid: int) -> str:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().replace(b"\0", b" ").decode(errors="replace")
