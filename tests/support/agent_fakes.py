"""Fakes for fast Node tests: a platform, an in-memory store, a `World` of fakes to build Nodes
on (runtime, overlay, clock), and a Node with the real Policy over a scripted host.

`FakePlatform` plays the device side of docs/API.md; tests/agent/test_platform_contract.py
runs the same assertions against it and against the real platform server on loopback.
"""

from __future__ import annotations

import datetime as dt
import itertools
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kalavai_like import tokens
from kalavai_like.agent.composition import PoolTemplates
from kalavai_like.agent.node import Node, NodeConfig
from kalavai_like.agent.policy import Policy
from kalavai_like.client.records import JoinRequest
from kalavai_like.container.fake import FakeRuntime
from kalavai_like.errors import AuthError, NotFound, PlatformUnavailable, TokenError
from kalavai_like.net import generate_keypair
from kalavai_like.net.fake import FakeNetwork, FakeOverlay
from kalavai_like.volunteer.prefs import Hardware
from kalavai_like.volunteer.rules import Inputs

URL = "http://platform.test"


@dataclass
class FakeDevice:
    id: str
    name: str
    public_key: str
    address: str
    credential: str
    state: str = "new"
    desired_state: str = "running"
    seq: int = 0
    counters: dict[str, float] = field(default_factory=dict)
    left: bool = False
    hub: bool = False


class FakePlatform:
    """One pool `demo` with subnet 10.77.0.0/16; `down = True` makes every call fail."""

    def __init__(self, template: str = "dask", params: dict[str, Any] | None = None) -> None:
        self.pool = {
            "id": "p" * 32, "name": "demo", "template": template, "params": params or {},
            "subnet": "10.77.0.0/16", "subnet6": None,
        }  # fmt: skip
        self.devices: dict[str, FakeDevice] = {}
        self.tokens: dict[str, int] = {}
        self.hub: dict[str, Any] | None = None
        self.relay_address = ""  # the platform's relay (host:port); "": none (404)
        self.down = False
        self.heartbeats: list[dict[str, Any]] = []
        self.witness_reports: list[dict[str, Any]] = []  # accepted, in arrival order
        self._hosts = itertools.count(2)
        self.peers_version = 0

    def mint(self, uses: int = 1) -> str:
        text, _ = tokens.mint(
            platform=URL,
            pool_id=self.pool["id"],
            pool_name="demo",
            expires_at=int(time.time()) + 3600,
        )
        self.tokens[text] = uses
        return text

    def _check(self) -> None:
        if self.down:
            raise PlatformUnavailable("Platform unreachable", f"{URL}: connection refused")

    def _device(self, credential: str) -> FakeDevice:
        for d in self.devices.values():
            if d.credential == credential and not d.left:
                return d
        raise AuthError("Not signed in", "unknown credential")

    def redeem(self, platform: str, api_token: str, **body: Any) -> dict[str, Any]:
        self._check()
        left = self.tokens.get(body["token"])
        if left is None:
            raise TokenError("unknown", "Unknown join token", "This platform does not know it.")
        if left <= 0:
            raise TokenError("used_up", "Join token used up", "Ask for a new one.")
        self.tokens[body["token"]] = left - 1
        d = FakeDevice(
            secrets.token_hex(16), body["name"], body["public_key"],
            f"10.77.0.{next(self._hosts)}", "kld_" + secrets.token_urlsafe(8),
        )  # fmt: skip
        self.devices[d.id] = d
        self.peers_version += 1
        hub = {"public_key": self.hub["public_key"], "endpoint": self.hub["endpoint"],
               "address": "10.77.0.1"} if self.hub else None  # fmt: skip
        return {
            "device": {
                "id": d.id,
                "address": d.address,
                "address6": None,
                "desired_state": "running",
            },
            "credential": d.credential,
            "pool": self.pool,
            "hub": hub,
            "worker": {
                "template": self.pool["template"],
                "params": self.pool["params"],
                "head_address": "10.77.0.1",
            },
        }

    def register_hub(
        self, platform: str, api_token: str, pool_id: str, *, public_key: str, endpoint: str,
        relay_only: bool = False,
    ) -> dict[str, Any]:  # fmt: skip
        self._check()
        d = FakeDevice(secrets.token_hex(16), "hub", public_key, "10.77.0.1",
                       "kld_" + secrets.token_urlsafe(8), hub=True)  # fmt: skip
        self.devices[d.id] = d
        self.hub = {"public_key": public_key, "endpoint": endpoint, "relay_only": relay_only}
        return {"device_id": d.id, "credential": d.credential, "address": "10.77.0.1",
                "address6": None, "pool": self.pool}  # fmt: skip

    def relay(self, platform: str, credential: str) -> dict[str, Any]:
        self._check()
        self._device(credential)
        if not self.relay_address:
            raise NotFound("No relay", "This platform runs no relay.")
        relay_only = bool(self.hub and self.hub.get("relay_only"))
        return {"address": self.relay_address, "hub_relay_only": relay_only}

    def heartbeat(self, platform: str, credential: str, body: dict[str, Any]) -> dict[str, Any]:
        self._check()
        d = self._device(credential)
        self.heartbeats.append({"device": d.id, **body})
        duplicate = body["seq"] <= d.seq
        if not duplicate:
            d.seq, d.state, d.counters = body["seq"], body["state"], dict(body["counters"])
        nothing = {"cpu_core_hours": 0.0, "ram_gb_hours": 0.0, "gpu_hours": 0.0, "credit": 0.0,
                   "recent_average": 0.0}  # fmt: skip
        # Nothing is witnessed here: what a device measured stays pending.
        cpu_h = d.counters.get("cpu_seconds", 0.0) / 3600
        pending = {**nothing, "cpu_core_hours": cpu_h, "credit": cpu_h}  # at the standard rate
        witnessed = {"tasks": 0, "compute_seconds": 0.0, "connected_seconds": 0.0,
                     "ratio": 0.0 if d.counters.get("cpu_seconds") else None}  # fmt: skip
        return {"seq": body["seq"], "duplicate": duplicate, "desired_state": d.desired_state,
                "granted": {}, "clamped": {}, "pending": pending, "unverified": nothing,
                "witnessed": witnessed}  # fmt: skip

    def resumed(self, platform: str, credential: str) -> dict[str, Any]:
        self._check()
        d = self._device(credential)
        d.desired_state = "running"
        return {"desired_state": "running"}

    def peers(self, platform: str, credential: str, since: int, wait: float) -> dict[str, Any]:
        self._check()
        self._device(credential)
        if self.peers_version <= since and wait:
            time.sleep(min(wait, 0.05))
        live = [d for d in self.devices.values() if not d.left and not d.hub]
        return {"version": self.peers_version, "peers": [
            {"public_key": d.public_key, "address": d.address, "address6": None, "device_id": d.id}
            for d in live]}  # fmt: skip

    def witness(self, platform: str, credential: str, report: dict[str, Any]) -> dict[str, Any]:
        """The hub's witness reports (docs of the contract: common to the platform's endpoint):
        devices of other pools are refused; a seq at or below the epoch's last is a duplicate."""
        self._check()
        if not self._device(credential).hub:
            raise AuthError("Not a hub", "Only the pool's hub reports witnessed work.")
        last = max((r["seq"] for r in self.witness_reports if r["epoch"] == report["epoch"]),
                   default=0)  # fmt: skip
        ours = {d.id for d in self.devices.values() if not d.hub}
        refused = [{"device_id": d["device_id"], "reason": "not a device of this pool"}
                   for d in report["devices"] if d["device_id"] not in ours]  # fmt: skip
        duplicate = report["seq"] <= last
        if not duplicate:
            self.witness_reports.append(report)
        return {"epoch": report["epoch"], "seq": report["seq"], "duplicate": duplicate,
                "refused": refused}  # fmt: skip

    def leave(self, platform: str, credential: str) -> None:
        self._check()
        d = self._device(credential)
        d.left, d.state = True, "left"
        self.peers_version += 1


class MemoryStore:
    def __init__(self) -> None:
        self.data: dict[str, Any] | None = None

    def load(self) -> dict[str, Any] | None:
        return self.data

    def save(self, data: dict[str, Any]) -> None:
        self.data = data


class Clock:
    """A settable clock (`t`), injected as the Node's wall and monotonic time."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class World:
    """Fakes for one Node under test: platform, overlay, runtime, store and clock."""

    def __init__(self, tmp: Path, *, reachable: bool = True, images: tuple[str, ...] | None = None):
        self.clock = Clock()
        self.platform = FakePlatform()
        hub_key = generate_keypair().public
        self.platform.hub = {"public_key": hub_key, "endpoint": "198.18.0.2:51820"}
        self.net = FakeNetwork(assume_reachable=reachable)
        self.overlay = FakeOverlay(network=self.net)
        kw = {} if images is None else {"images": images}
        self.runtime = FakeRuntime(clock=self.clock, **kw)
        self.store = MemoryStore()
        self.tmp = tmp

    def node(self) -> Node:
        cfg = NodeConfig(prefix="kt6", state_dir=self.tmp, device_name="vol1")
        return Node(
            cfg, overlay=self.overlay, runtime=self.runtime, templates=PoolTemplates(),
            platform=self.platform, store=self.store, wall=self.clock,
        )  # fmt: skip

    def join(self, node: Node, token: str | None = None) -> None:
        req = JoinRequest(token or self.platform.mint(), "klu_x", cpus=1, memory_bytes=2**30)
        node.join(req)

    def leftovers(self) -> list[str]:
        return [c.info.name for c in self.runtime.containers.values()] + [
            n.netns for n in self.overlay.spokes
        ]


HW = Hardware(cores=2, memory_bytes=23 * 2**30)


class ScriptedHost:
    """Rule inputs from the world's clock; tests change idle time and power."""

    def __init__(self, clock: object) -> None:
        self.clock = clock
        self.idle: float | None = None
        self.on_battery = False

    def inputs(self, worker_cpu_seconds: float | None, user_paused: bool = False) -> Inputs:
        now = dt.datetime.fromtimestamp(self.clock(), dt.UTC)  # type: ignore[operator]
        return Inputs(now=now, idle_seconds=self.idle, on_battery=self.on_battery,
                      battery_percent=50.0, user_paused=user_paused)  # fmt: skip


def make(world: World, store: object, tmp: Path) -> tuple[Node, Policy, ScriptedHost]:
    """A Node on `world` with the real Policy (prefs in `store`) over a scripted host."""
    host = ScriptedHost(world.clock)
    policy = Policy(store, host, HW, tmp / "rules.json", wall=world.clock)  # type: ignore[arg-type]
    cfg = NodeConfig(prefix="kt6", state_dir=tmp, device_name="vol1")
    node = Node(
        cfg, overlay=world.overlay, runtime=world.runtime, templates=PoolTemplates(),
        platform=world.platform, store=world.store, policy=policy, wall=world.clock,
    )  # fmt: skip
    return node, policy, host
