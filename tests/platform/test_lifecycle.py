"""The whole API on the real server, on SQLite and PostgreSQL: a user's path from sign-up to
credit and log-out, and a pool owner's view of it."""

from __future__ import annotations

import ipaddress
import time
from typing import Any

from kalavai_like import tokens
from tests.support.platform_api import Api, new_epoch, seen, wg_key


def test_full_lifecycle(api: Api, platform_sql: Any) -> None:
    owner = api.user()
    pool = api.pool(
        owner, public=True, weights={"cpu": 2.0, "ram": 0.5, "gpu": 10.0}, running=False
    )
    net = ipaddress.IPv4Network(pool["subnet"])
    assert net.subnet_of(ipaddress.IPv4Network("10.0.0.0/8")) and net.prefixlen == 20
    assert pool["subnet6"].startswith("fd") and pool["subnet6"].endswith("::/64")
    assert pool["hub"] is None
    hub = api.hub(owner, pool)

    def host(n: int) -> str:
        return str(net.network_address + n)

    assert hub["address"] == host(1)
    assert hub["credential"].startswith("kld_")

    minted = api.token(owner, pool)
    assert (minted["uses"], minted["used"]) == (1, 0)
    parsed = tokens.parse(minted["token"])
    assert parsed.platform == tokens.normalize_platform_url(api.url)
    assert parsed.pool_id == pool["id"]

    volunteer = api.user()
    check = volunteer.post("/api/v1/tokens/check", json={"token": minted["token"]}).json()
    assert check["status"] == "valid" and check["pool"]["name"] == pool["name"]

    key = wg_key()
    r = api.redeem(volunteer, minted["token"], public_key=key, name="laptop", cores=4, gpus=0)
    assert r.status_code == 201, r.text
    joined = r.json()
    device = joined["device"]
    assert device["address"] == host(2)
    assert joined["hub"]["public_key"] == hub["pool"]["hub"]["public_key"]
    assert joined["hub"]["address"] == host(1)
    assert joined["hub"]["endpoint"] == "127.0.0.1:51820"
    assert joined["worker"] == {
        "template": "dask",
        "params": {},
        "head_address": host(1),
        "limits": None,
    }
    assert joined["pool"]["subnet"] == pool["subnet"]
    # the token is single-use by default
    again = api.redeem(volunteer, minted["token"])
    assert again.status_code == 410
    assert again.json()["error"]["reason"] == "used_up"

    # the hub sees the worker in its peer list
    hub_caller = api.as_(hub["credential"])
    peers = hub_caller.get("/api/v1/device/peers").json()
    assert [(p["public_key"], p["address"]) for p in peers["peers"]] == [(key, host(2))]

    # heartbeats: 1 core-hour of CPU in one hour is impossible in 1 s, so wait a little and send
    # what fits under 4 cores x elapsed
    dev = api.as_(joined["credential"])
    t0 = time.monotonic()
    while time.monotonic() - t0 < 1.0:
        time.sleep(0.05)
    r = dev.post(
        "/api/v1/device/heartbeat",
        json={"seq": 1, "state": "running", "counters": {"cpu_seconds": 3.6, "ram_gb_seconds": 0}},
    )
    assert r.status_code == 200, r.text
    beat = r.json()
    assert beat["duplicate"] is False and beat["desired_state"] == "running"
    assert beat["granted"]["cpu_core_hours"] == 0  # nobody witnessed it yet: pending
    assert abs(beat["pending"]["cpu_core_hours"] - 0.001) < 1e-9
    assert beat["clamped"]["cpu_core_hours"] == 0

    # the pool's head saw the work: the hub reports it, and the claim is granted
    api.witness(hub["credential"], new_epoch(), 1, seen(device["id"], 3.6, tasks=12))

    # the user pauses the device: the next heartbeat's reply says so
    r = volunteer.post(f"/api/v1/devices/{device['id']}/desired", json={"state": "paused"})
    assert r.status_code == 200 and r.json()["desired_state"] == "paused"
    r = dev.post("/api/v1/device/heartbeat", json={"seq": 2, "state": "running"})
    assert r.json()["desired_state"] == "paused"
    beat = r.json()
    assert abs(beat["granted"]["cpu_core_hours"] - 0.001) < 1e-9
    assert abs(beat["granted"]["credit"] - 0.002) < 1e-9
    assert beat["pending"]["cpu_core_hours"] == 0
    witnessed = beat["witnessed"]
    assert (witnessed["tasks"], witnessed["compute_seconds"], witnessed["ratio"]) == (12, 3.6, 1.0)

    mine = volunteer.get("/api/v1/credit/me").json()
    assert abs(mine["granted"]["credit"] - 0.002) < 1e-9
    assert mine["granted"]["recent_average"] > 0
    daily = volunteer.get("/api/v1/credit/me/daily").json()
    assert len(daily) == 1 and abs(daily[0]["credit"] - 0.002) < 1e-9
    by_pool = volunteer.get("/api/v1/credit/me/pools").json()
    assert [p["pool"]["name"] for p in by_pool] == [pool["name"]]
    by_dev = volunteer.get("/api/v1/credit/me/devices").json()
    assert [d["device"]["name"] for d in by_dev] == ["laptop"]
    pool_credit = owner.get(f"/api/v1/pools/{pool['id']}/credit").json()
    assert abs(pool_credit["granted"]["credit"] - 0.002) < 1e-9
    name = f"user-{volunteer.id[:8]}"  # the display name it got at sign-up; never its email
    assert {"id": volunteer.id, "display": name, "email": None} in [
        r["user"] for r in pool_credit["devices"]
    ]
    board = volunteer.get("/api/v1/credit/leaderboard").json()
    assert all(row["user"]["id"] != volunteer.id for row in board)  # the pool is not trusted
    platform_sql("UPDATE pools SET trusted = true WHERE id = :p", {"p": pool["id"]})
    board = volunteer.get("/api/v1/credit/leaderboard").json()
    mine = [row for row in board if row["user"]["id"] == volunteer.id]
    assert len(mine) == 1 and abs(mine[0]["credit"] - 0.001) < 1e-9  # at standard rates
    assert mine[0]["user"]["display"] == name
    assert all("@" not in row["user"]["display"] for row in board)

    listed = volunteer.get("/api/v1/devices").json()
    assert [d["id"] for d in listed] == [device["id"]]
    by_owner = owner.get(f"/api/v1/pools/{pool['id']}/devices").json()
    assert {d["user"]["display"] for d in by_owner} >= {name}
    assert volunteer.email not in str(by_owner)
    assert owner.get("/api/v1/pools?scope=mine").json()[0]["members"] == 1
    assert any(p["id"] == pool["id"] for p in volunteer.get("/api/v1/pools").json())

    # leave: the device's credential stops working and the hub's peer list empties
    assert dev.delete("/api/v1/device").status_code == 204
    assert (
        dev.post("/api/v1/device/heartbeat", json={"seq": 3, "state": "running"}).status_code == 401
    )
    assert hub_caller.get("/api/v1/device/peers").json()["peers"] == []

    assert volunteer.delete("/api/v1/sessions/current").status_code == 204
    assert volunteer.get("/api/v1/credit/me").status_code == 401


def test_account_key_enrols_but_does_nothing_else(api: Api) -> None:
    owner = api.user()
    pool = api.pool(owner)
    headless = api.user()
    key = headless.post("/api/v1/account-keys", json={"name": "rack"}).json()["key"]
    as_key = api.as_(key)
    joined = api.join(as_key, owner, pool)
    assert joined["device"]["pool_id"] == pool["id"]
    assert [d["id"] for d in headless.get("/api/v1/devices").json()] == [joined["device"]["id"]]
    assert headless.get("/api/v1/account-keys").json()[0]["last_used_at"] is not None
    for path in ("/api/v1/devices", "/api/v1/credit/me", "/api/v1/pools", "/api/v1/me"):
        assert as_key.get(path).status_code == 403, path


def test_health_and_openapi(api: Api) -> None:
    health = api.http.get("/healthz").json()
    assert health["ok"] is True and health["database"] in ("sqlite", "postgresql")
    schema = api.http.get("/openapi.json").json()
    assert "/api/v1/device/heartbeat" in schema["paths"]
