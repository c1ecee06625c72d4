"""A join that cannot or did not work never burns a join token: a pool without a hub refuses
before the use is claimed, and a device that leaves before its first heartbeat gives the use
back (once) and leaves no junk worker behind. A device that did work keeps its use spent."""

from __future__ import annotations

from typing import Any

from tests.support.platform_api import Api, User, wg_key


def _used(owner: User, pool: dict[str, Any]) -> int:
    listed = owner.get(f"/api/v1/pools/{pool['id']}/tokens").json()
    return int(listed[-1]["used"])


def _beat(api: Api, credential: str) -> None:
    counters = {"cpu_seconds": 1.0, "ram_gb_seconds": 0.0, "gpu_seconds": 0.0}
    r = api.as_(credential).post(
        "/api/v1/device/heartbeat", json={"seq": 1, "state": "running", "counters": counters}
    )
    assert r.status_code == 200, r.text


def _worker_names(owner: User, pool: dict[str, Any]) -> list[str]:
    rows = owner.get(f"/api/v1/pools/{pool['id']}/devices").json()
    return [d["name"] for d in rows if d["role"] == "worker"]


def test_a_pool_that_is_not_running_refuses_without_spending_the_use(api: Api) -> None:
    owner, friend = api.user(), api.user()
    pool = api.pool(owner, public=True, running=False)
    listed = {p["id"]: p for p in friend.get("/api/v1/pools").json()}
    assert listed[pool["id"]]["running"] is False and listed[pool["id"]]["hub"] is None
    r = owner.post(f"/api/v1/pools/{pool['id']}/tokens", json={})  # owners may mint ahead
    token = r.json()["token"]
    refused = api.redeem(friend, token)
    assert refused.status_code == 409
    err = refused.json()["error"]
    assert err["title"] == "Pool not running yet" and "ask its owner to start it" in err["message"]
    assert _used(owner, pool) == 0
    # the web's and the tray's Join mint no token for it either
    assert friend.post(f"/api/v1/pools/{pool['id']}/join-token").status_code == 409
    api.hub(owner, pool)
    assert friend.get(f"/api/v1/pools/{pool['id']}").json()["running"] is True
    assert api.redeem(friend, token).status_code == 201  # the same single-use token works
    assert _used(owner, pool) == 1


def test_a_join_that_never_completed_gives_its_use_back_once(api: Api) -> None:
    owner, friend = api.user(), api.user()
    pool = api.pool(owner)
    token = api.token(owner, pool)["token"]
    first = api.redeem(friend, token, name="laptop")
    assert first.status_code == 201 and _used(owner, pool) == 1
    device = first.json()["device"]
    # the agent's rollback removes the device at the platform: no heartbeat was ever sent
    assert friend.delete(f"/api/v1/devices/{device['id']}").status_code == 204
    assert _used(owner, pool) == 0
    assert friend.delete(f"/api/v1/devices/{device['id']}").status_code == 204  # idempotent
    assert _used(owner, pool) == 0
    assert "laptop" not in _worker_names(owner, pool)  # no junk "Left … never" worker
    assert device["id"] not in [d["id"] for d in friend.get("/api/v1/devices").json()]
    retry = api.redeem(friend, token, name="laptop-2")  # the friend's retry works
    assert retry.status_code == 201, retry.text
    assert retry.json()["device"]["address"] != device["address"]  # the address is held back
    assert api.redeem(api.user(), token).status_code == 410  # and the use is spent again


def test_a_device_that_did_work_keeps_its_use_spent(api: Api) -> None:
    owner, friend = api.user(), api.user()
    pool = api.pool(owner)
    token = api.token(owner, pool, uses=2)["token"]
    for round_ in range(2):  # join, work, leave: no use ever comes back
        red = api.redeem(friend, token, name="desktop")
        assert red.status_code == 201, (round_, red.text)
        _beat(api, red.json()["credential"])
        assert friend.delete(f"/api/v1/devices/{red.json()['device']['id']}").status_code == 204
        assert _used(owner, pool) == round_ + 1
    assert api.redeem(friend, token, name="desktop").json()["error"]["reason"] == "used_up"
    assert "desktop" in _worker_names(owner, pool)  # it worked: its record stays


def test_a_generic_pool_without_an_image_is_refused_in_words(api: Api) -> None:
    owner = api.user()
    body = {"name": "no-image-pool", "template": "generic", "params": {}}
    r = owner.post("/api/v1/pools", json=body)
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["title"] == "No image" and "--param image=" in err["message"]
    body["params"] = {"image": "docker.io/library/busybox:1.36", "command": "sleep 60"}
    err = owner.post("/api/v1/pools", json=body).json()["error"]
    assert err["title"] == "No command" and "list of strings" in err["message"]
    body["params"]["command"] = ["sleep", "60"]
    assert owner.post("/api/v1/pools", json=body).status_code == 201


def test_a_pool_made_before_the_check_is_not_started(api: Api, platform_sql: Any) -> None:
    owner = api.user()
    pool = api.pool(owner, template="generic", running=False)
    platform_sql("UPDATE pools SET params = '{}' WHERE id = :p", {"p": pool["id"]})
    r = owner.post(
        f"/api/v1/pools/{pool['id']}/hub",
        json={"public_key": wg_key(), "endpoint": "127.0.0.1:51820"},
    )
    assert r.status_code == 400 and r.json()["error"]["title"] == "No image"
    assert owner.get(f"/api/v1/pools/{pool['id']}").json()["running"] is False
