"""The hub's peer list: versioned, and a long-poll wakes on a join or a leave."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.support.platform_api import Api


def test_long_poll_wakes_on_join_and_leave(api: Api) -> None:
    owner = api.user()
    pool = api.pool(owner)
    hub = api.as_(api.hub(owner, pool)["credential"])
    start = hub.get("/api/v1/device/peers").json()
    assert start["peers"] == []

    def poll(since: int) -> Any:
        # wait=30 but the test's own deadline is 20 s: an answer means the poll woke on the change
        return hub.get(f"/api/v1/device/peers?since={since}&wait=30", timeout=20).json()

    with ThreadPoolExecutor(1) as ex:
        waiting = ex.submit(poll, start["version"])
        joined = api.join(api.user(), owner, pool)
        after_join = waiting.result(timeout=20)
    assert after_join["version"] > start["version"]
    assert [p["device_id"] for p in after_join["peers"]] == [joined["device"]["id"]]

    with ThreadPoolExecutor(1) as ex:
        waiting = ex.submit(poll, after_join["version"])
        assert api.as_(joined["credential"]).delete("/api/v1/device").status_code == 204
        after_leave = waiting.result(timeout=20)
    assert after_leave["version"] > after_join["version"]
    assert after_leave["peers"] == []


def test_poll_without_change_returns_the_same_version(api: Api) -> None:
    owner = api.user()
    pool = api.pool(owner)
    hub = api.as_(api.hub(owner, pool)["credential"])
    v = hub.get("/api/v1/device/peers").json()["version"]
    again = hub.get(f"/api/v1/device/peers?since={v}&wait=0.2").json()
    assert again["version"] == v


def test_hub_reregistration_keeps_address_and_voids_old_credential(api: Api) -> None:
    owner = api.user()
    pool = api.pool(owner)
    first = api.hub(owner, pool)
    second = api.hub(owner, pool)
    assert second["device_id"] == first["device_id"]
    assert second["address"] == first["address"]
    assert api.as_(first["credential"]).get("/api/v1/device/peers").status_code == 401
    assert api.as_(second["credential"]).get("/api/v1/device/peers").status_code == 200
    shown = owner.get(f"/api/v1/pools/{pool['id']}").json()["hub"]
    assert shown["address"] == second["address"]


def test_the_peer_list_names_each_workers_user_by_a_pseudonym_of_this_pool(api: Api) -> None:
    owner = api.user()
    pool, other = api.pool(owner), api.pool(owner)
    hub = api.as_(api.hub(owner, pool)["credential"])
    other_hub = api.as_(api.hub(owner, other)["credential"])
    alice, bob = api.user(), api.user()
    a1, a2 = api.join(alice, owner, pool), api.join(alice, owner, pool)
    b1 = api.join(bob, owner, pool)
    a3 = api.join(alice, owner, other)
    users = {p["device_id"]: p["user"] for p in hub.get("/api/v1/device/peers").json()["peers"]}
    ids = [d["device"]["id"] for d in (a1, a2, b1)]
    assert users[ids[0]] == users[ids[1]] != users[ids[2]]  # one user, two machines
    assert alice.id not in users.values() and users[ids[0]]
    elsewhere = other_hub.get("/api/v1/device/peers").json()["peers"]
    assert [p["user"] for p in elsewhere if p["device_id"] == a3["device"]["id"]] != [users[ids[0]]]
