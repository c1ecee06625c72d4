"""A fake platform and an in-memory store for fast Node tests.

`FakePlatform` plays the device side of docs/API.md; tests/agent/test_platform_contract.py
runs the same assertions against it and against the real platform server on loopback.
"""

from __future__ import annotations

import itertools
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from kalavai_like import tokens
from kalavai_like.errors import AuthError, PlatformUnavailable, TokenError

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
        self.down = False
        self.heartbeats: list[dict[str, Any]] = []
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
        self, platform: str, api_token: str, pool_id: str, *, public_key: str, endpoint: str
    ) -> dict[str, Any]:
        self._check()
        d = FakeDevice(secrets.token_hex(16), "hub", public_key, "10.77.0.1",
                       "kld_" + secrets.token_urlsafe(8), hub=True)  # fmt: skip
        self.devices[d.id] = d
        self.hub = {"public_key": public_key, "endpoint": endpoint}
        return {"device_id": d.id, "credential": d.credential, "address": "10.77.0.1",
                "address6": None, "pool": self.pool}  # fmt: skip

    def heartbeat(self, platform: str, credential: str, body: dict[str, Any]) -> dict[str, Any]:
        self._check()
        d = self._device(credential)
        self.heartbeats.append({"device": d.id, **body})
        duplicate = body["seq"] <= d.seq
        if not duplicate:
            d.seq, d.state, d.counters = body["seq"], body["state"], dict(body["counters"])
        return {"seq": body["seq"], "duplicate": duplicate, "desired_state": d.desired_state,
                "granted": {}, "clamped": {}}  # fmt: skip

    def peers(self, platform: str, credential: str, since: int, wait: float) -> dict[str, Any]:
        self._check()
        self._device(credential)
        if self.peers_version <= since and wait:
            time.sleep(min(wait, 0.05))
        live = [d for d in self.devices.values() if not d.left and not d.hub]
        return {"version": self.peers_version, "peers": [
            {"public_key": d.public_key, "address": d.address, "address6": None, "device_id": d.id}
            for d in live]}  # fmt: skip

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
