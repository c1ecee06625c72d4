"""A small HTTP client for platform tests: users, pools, tokens and devices in a line each."""

from __future__ import annotations

import base64
import os
import secrets
import ssl
from dataclasses import dataclass
from typing import Any

import httpx

# Tests make many accounts from 127.0.0.1: their platforms allow that many sign-ups an hour
# (the default, 20 per address, is for people).
TEST_SIGNUPS_PER_HOUR = 100_000
GENERIC_PARAMS = {"image": "localhost/kalavai-like/busybox:latest", "command": ["sleep", "3600"]}


def wg_key() -> str:
    """A random WireGuard-shaped public key (base64 of 32 bytes)."""
    return base64.b64encode(os.urandom(32)).decode()


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def new_epoch() -> str:
    """A scheduler epoch id as a pool's head makes one: 32 lowercase hex digits."""
    return secrets.token_hex(16)


def seen(
    device_id: str, compute: float, connected: float | None = None, tasks: int = 1, threads: int = 4
) -> dict[str, Any]:
    """One device's entry of a witness report: cumulative totals within its epoch."""
    connected = compute if connected is None else connected
    return {"device_id": device_id, "tasks": tasks, "compute_seconds": compute,
            "connected_seconds": connected, "threads": threads}  # fmt: skip


@dataclass
class Caller:
    api: Api
    credential: str | None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.credential}"} if self.credential else {}

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.api.http.get(path, headers=self.headers, **kw)

    def post(self, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        return self.api.http.post(path, json=json, headers=self.headers, **kw)

    def delete(self, path: str, **kw: Any) -> httpx.Response:
        return self.api.http.delete(path, headers=self.headers, **kw)

    def patch(self, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        return self.api.http.patch(path, json=json, headers=self.headers, **kw)


@dataclass
class User(Caller):
    id: str = ""
    email: str = ""
    password: str = ""


class Api:
    """Calls the platform at `url`, from the loopback address `source` (another 127.x.y.z
    plays another client machine: the platform counts throttles per client address); `verify`
    is how an https `url` is checked (an SSLContext that trusts a test's certificate)."""

    def __init__(
        self, url: str, source: str | None = None, verify: ssl.SSLContext | bool = True
    ) -> None:
        self.url = url
        transport = httpx.HTTPTransport(local_address=source, verify=verify) if source else None
        self.http = httpx.Client(base_url=url, timeout=30, transport=transport, verify=verify)

    def anon(self) -> Caller:
        return Caller(self, None)

    def as_(self, credential: str) -> Caller:
        return Caller(self, credential)

    def user(
        self, email: str | None = None, password: str = "correct horse", display_name: str = ""
    ) -> User:
        email = email or f"{unique('user')}@example.org"
        body = {"email": email, "password": password}
        if display_name:
            body["display_name"] = display_name
        r = self.http.post("/api/v1/accounts", json=body)
        assert r.status_code == 201, r.text
        return self.log_in(email, password)

    def log_in(self, email: str, password: str, headers: dict[str, str] | None = None) -> User:
        """A new session of an existing account (asserting it is granted)."""
        r = self.http.post(
            "/api/v1/sessions", json={"email": email, "password": password}, headers=headers
        )
        assert r.status_code == 200, r.text
        body = r.json()
        return User(self, body["token"], body["user"]["id"], email, password)

    def pool(self, owner: User, *, running: bool = True, **fields: Any) -> dict[str, Any]:
        """A new pool of `owner`, running (its hub registered, as `pool start` does: the
        platform refuses joins before) unless `running=False`."""
        body = {"name": unique("pool"), "template": "dask", "params": {}, "public": False}
        body.update(fields)
        if body["template"] == "generic" and "params" not in fields:
            body["params"] = GENERIC_PARAMS  # a generic pool names what its workers run
        r = owner.post("/api/v1/pools", json=body)
        assert r.status_code == 201, r.text
        pool: dict[str, Any] = r.json()
        return self.hub(owner, pool)["pool"] if running else pool

    def hub(self, owner: User, pool: dict[str, Any]) -> dict[str, Any]:
        r = owner.post(
            f"/api/v1/pools/{pool['id']}/hub",
            json={"public_key": wg_key(), "endpoint": "127.0.0.1:51820"},
        )
        assert r.status_code == 201, r.text
        return r.json()

    def witness(
        self, hub_credential: str, epoch: str, seq: int, *devices: dict[str, Any]
    ) -> dict[str, Any]:
        """The hub reports what its head witnessed (asserting the report is taken)."""
        body = {"epoch": epoch, "seq": seq, "devices": list(devices)}
        r = self.as_(hub_credential).post("/api/v1/device/witness", json=body)
        assert r.status_code == 200, r.text
        return r.json()

    def token(self, owner: User, pool: dict[str, Any], **fields: Any) -> dict[str, Any]:
        r = owner.post(f"/api/v1/pools/{pool['id']}/tokens", json=fields)
        assert r.status_code == 201, r.text
        return r.json()

    def redeem(self, who: Caller, token: str, **fields: Any) -> httpx.Response:
        body = {"token": token, "public_key": wg_key(), "name": unique("dev"), "cores": 2}
        body.update(fields)
        return who.post("/api/v1/devices", json=body)

    def join(self, who: Caller, owner: User, pool: dict[str, Any], **fields: Any) -> dict[str, Any]:
        token = self.token(owner, pool)["token"]
        r = self.redeem(who, token, **fields)
        assert r.status_code == 201, r.text
        return r.json()

    def join_public(self, who: User, **fields: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """`who` joins a new public pool of a new owner: returns the pool and the join's reply."""
        owner = self.user()
        pool = self.pool(owner, public=True)
        return pool, self.join(self.as_(who.credential), owner, pool, **fields)


def credited_device(
    api: Api, who: Caller, owner: User, pool: dict[str, Any], cpu: float,
    witness: tuple[str, float, int] | None = None, cores: int = 4096,
) -> dict[str, Any]:  # fmt: skip
    """`who` joins `pool` with a device of `cores` that claims `cpu` core-seconds in one
    heartbeat; with `witness` (the hub's credential, compute core-seconds, tasks) the pool's
    head then reports that much of it. The pool must accept `cores` (its device limits).
    Returns the join's reply."""
    red = api.join(who, owner, pool, cores=cores)
    counters = {"cpu_seconds": cpu, "ram_gb_seconds": 0.0, "gpu_seconds": 0.0}
    beat = {"seq": 1, "state": "running", "counters": counters}
    r = api.as_(red["credential"]).post("/api/v1/device/heartbeat", json=beat)
    assert r.status_code == 200, r.text
    if witness is not None:
        hub, compute, tasks = witness
        entry = seen(red["device"]["id"], compute, tasks=tasks, threads=cores)
        api.witness(hub, new_epoch(), 1, entry)
    return red
