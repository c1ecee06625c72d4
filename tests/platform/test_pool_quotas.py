"""One free account can no longer use up what everyone shares, on the real server (SQLite and
PostgreSQL): pool subnets come from a configurable space, pools per account, devices per
volunteer per pool and join tokens per hour are capped, and owners delete pools."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.support.platform_api import Api, wg_key


def test_pools_per_account_are_capped(tuned_platform: Callable[..., Api]) -> None:
    api = tuned_platform(max_pools_per_user=3)
    attacker = api.user()
    for _ in range(3):
        api.pool(attacker)
    r = attacker.post("/api/v1/pools", json={"name": "one-more", "template": "dask"})
    assert r.status_code == 409, r.text
    error = r.json()["error"]
    assert error["title"] == "Pool limit reached"
    assert "at most 3" in error["message"] and "pool delete" in error["message"]
    # everyone else still creates pools
    assert api.pool(api.user())["subnet"]


def test_every_worker_process_enforces_the_limits(tuned_platform: Callable[..., Api]) -> None:
    api = tuned_platform(workers=2, max_pools_per_user=1)
    owner = api.user()
    api.pool(owner)
    for i in range(6):  # new connections: uvicorn's workers take turns
        with httpx.Client(base_url=api.url, headers=owner.headers) as fresh:
            r = fresh.post("/api/v1/pools", json={"name": f"more-{i}", "template": "dask"})
        assert r.status_code == 409, r.text


def test_a_small_space_runs_out_and_deleting_frees_it_after_the_holdback(
    tuned_platform: Callable[..., Api],
) -> None:
    """Two /24s in the space: both taken, no third; a deleted pool's /24 is held back, then
    (with no hold-back) given to the next pool."""
    held = tuned_platform(pool_space="10.99.0.0/23", pool_prefix=24)
    owner = held.user()
    first, second = held.pool(owner), held.pool(owner)
    assert {first["subnet"], second["subnet"]} == {"10.99.0.0/24", "10.99.1.0/24"}
    r = owner.post("/api/v1/pools", json={"name": "third", "template": "dask"})
    assert r.status_code == 409 and r.json()["error"]["title"] == "No free subnet"
    assert owner.delete(f"/api/v1/pools/{first['id']}").status_code == 204
    r = owner.post("/api/v1/pools", json={"name": "third", "template": "dask"})
    assert r.status_code == 409 and r.json()["error"]["title"] == "No free subnet"

    freed = tuned_platform(pool_space="10.99.0.0/23", pool_prefix=24, address_holdback=0)
    owner = freed.user()
    first, _second = freed.pool(owner), freed.pool(owner)
    assert owner.delete(f"/api/v1/pools/{first['id']}").status_code == 204
    third = freed.pool(owner, name="third")
    assert (third["subnet"], third["subnet6"]) == (first["subnet"], first["subnet6"])


def test_deleted_pools_count_until_their_holdback_ends(tuned_platform: Callable[..., Api]) -> None:
    api = tuned_platform(max_pools_per_user=2)
    owner = api.user()
    gone, _kept = api.pool(owner), api.pool(owner)
    assert owner.delete(f"/api/v1/pools/{gone['id']}").status_code == 204
    r = owner.post("/api/v1/pools", json={"name": "again", "template": "dask"})
    assert r.status_code == 409
    assert "1 of them deleted" in r.json()["error"]["message"]


def test_owner_deletes_a_pool_and_its_devices_leave(api: Api) -> None:
    owner, volunteer = api.user(), api.user()
    pool = api.pool(owner, public=True)
    hub = api.hub(owner, pool)
    worker = api.join(volunteer, owner, pool)
    unused = api.token(owner, pool)["token"]
    first = {"seq": 1, "state": "running"}  # it worked: its record stays once it left
    assert api.as_(worker["credential"]).post("/api/v1/device/heartbeat", json=first).is_success

    assert volunteer.delete(f"/api/v1/pools/{pool['id']}").status_code == 403
    assert owner.delete(f"/api/v1/pools/{pool['name']}").status_code == 204

    # the agents hear it on their next heartbeat or peer poll, as for a removed device
    beat = api.as_(worker["credential"]).post(
        "/api/v1/device/heartbeat", json={"seq": 2, "state": "running"}
    )
    assert beat.status_code == 401
    assert api.as_(hub["credential"]).get("/api/v1/device/peers").status_code == 401
    # the pool is gone for everyone; its tokens enrol nobody, and say why
    assert owner.get(f"/api/v1/pools/{pool['id']}").status_code == 404
    assert pool["id"] not in [p["id"] for p in volunteer.get("/api/v1/pools").json()]
    r = api.redeem(volunteer, unused)
    assert r.status_code == 410 and r.json()["error"]["reason"] == "pool_deleted"
    # the volunteer's device shows it left; the name is free, the subnet held back
    (mine,) = volunteer.get("/api/v1/devices").json()
    assert mine["state"] == "left" and mine["left_at"]
    again = api.pool(api.user(), name=pool["name"])
    assert again["subnet"] != pool["subnet"]
    assert owner.delete(f"/api/v1/pools/{pool['id']}").status_code == 404


def test_devices_per_volunteer_per_pool_are_capped(tuned_platform: Callable[..., Api]) -> None:
    api = tuned_platform(max_devices_per_user=2)
    owner, flooder = api.user(), api.user()
    pool = api.pool(owner, public=True)

    def join_publicly(**fields: object) -> tuple[int, dict]:  # type: ignore[type-arg]
        minted = flooder.post(f"/api/v1/pools/{pool['id']}/join-token").json()
        r = api.redeem(flooder, minted["token"], **fields)
        return r.status_code, r.json()

    key = wg_key()
    assert join_publicly(public_key=key, name="box")[0] == 201
    assert join_publicly()[0] == 201
    status, body = join_publicly()
    assert status == 409 and body["error"]["title"] == "Device limit reached"
    assert "at most 2" in body["error"]["message"]
    # the refused join used nothing up, and a device already in the pool may rejoin
    assert join_publicly(public_key=key, name="box")[0] == 201
    members = owner.get(f"/api/v1/pools/{pool['id']}").json()["members"]
    assert members == 2
    # the owner's own machines are not limited in their pool
    for _ in range(3):
        api.join(owner, owner, pool)


def test_join_token_minting_is_rate_limited(tuned_platform: Callable[..., Api]) -> None:
    api = tuned_platform(token_mints_per_hour=5)
    owner, flooder = api.user(), api.user()
    pool = api.pool(owner, public=True)
    for _ in range(5):
        assert flooder.post(f"/api/v1/pools/{pool['id']}/join-token").status_code == 201
    r = flooder.post(f"/api/v1/pools/{pool['id']}/join-token")
    assert r.status_code == 429
    assert 1 <= int(r.headers["Retry-After"]) <= 3600
    assert "at most 5 per hour" in r.json()["error"]["message"]
    # others are not held up by the flooder
    assert api.user().post(f"/api/v1/pools/{pool['id']}/join-token").status_code == 201
    assert len(owner.get(f"/api/v1/pools/{pool['id']}/tokens").json()) == 6


def test_owner_closes_a_public_pool_to_new_members(api: Api) -> None:
    owner, member, newcomer = api.user(), api.user(), api.user()
    pool = api.pool(owner, public=True)
    api.join(member, owner, pool)
    earlier = api.token(owner, pool)["token"]

    assert member.patch(f"/api/v1/pools/{pool['id']}", json={"closed": True}).status_code == 403
    r = owner.patch(f"/api/v1/pools/{pool['name']}", json={"closed": True})
    assert r.status_code == 200 and r.json()["closed"] is True
    listed = {p["id"]: p for p in newcomer.get("/api/v1/pools").json()}
    assert listed[pool["id"]]["closed"] is True and listed[pool["id"]]["members"] == 1

    r = newcomer.post(f"/api/v1/pools/{pool['id']}/join-token")
    assert r.status_code == 403 and r.json()["error"]["reason"] == "pool_closed"
    r = api.redeem(newcomer, earlier)
    assert r.status_code == 403
    assert r.json()["error"]["title"] == "Pool closed to new members"
    assert api.join(owner, owner, pool)["device"]["address"]  # the owner still may

    assert (
        owner.patch(f"/api/v1/pools/{pool['id']}", json={"closed": False}).json()["closed"] is False
    )
    assert api.redeem(newcomer, earlier).status_code == 201
