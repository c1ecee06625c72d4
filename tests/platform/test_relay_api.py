"""GET /api/v1/device/relay: which relay a device uses, the same for its whole pool, and
whether its hub is reachable only through it."""

from __future__ import annotations

from collections.abc import Callable

from tests.support.platform_api import Api, wg_key

RELAYS = ["relay-a.example.org:8701", "relay-b.example.org:8701", "[fd00::7]:443"]


def register_hub(api: Api, owner, pool, relay_only: bool) -> dict:  # type: ignore[no-untyped-def]
    r = owner.post(
        f"/api/v1/pools/{pool['id']}/hub",
        json={"public_key": wg_key(), "endpoint": "192.0.2.1:51820", "relay_only": relay_only},
    )
    assert r.status_code == 201, r.text
    return r.json()


def test_a_pools_devices_all_get_its_one_relay(tuned_platform: Callable[..., Api]) -> None:
    api = tuned_platform(relay_addresses=",".join(RELAYS))
    seen: set[str] = set()
    # Pool ids are random, so pools are made until two replicas are seen (or 20 pools).
    for made in range(20):
        if made >= 3 and len(seen) > 1:
            break
        owner = api.user()
        pool = api.pool(owner)
        hub = register_hub(api, owner, pool, relay_only=True)
        workers = [api.join(api.as_(owner.credential), owner, pool) for _ in range(2)]
        answers = {
            api.as_(c).get("/api/v1/device/relay").json()["address"]
            for c in [hub["credential"], *(w["credential"] for w in workers)]
        }
        assert answers == {RELAYS[int(pool["id"], 16) % len(RELAYS)]}
        seen |= answers
        reply = api.as_(workers[0]["credential"]).get("/api/v1/device/relay").json()
        assert reply["hub_relay_only"] is True
        assert workers[0]["hub"]["relay_only"] is True  # the join says so too
    assert len(seen) > 1  # pools spread over the replicas


def test_a_hub_says_whether_it_is_reachable_only_by_the_relay(
    tuned_platform: Callable[..., Api],
) -> None:
    api = tuned_platform(relay_addresses=RELAYS[0])
    owner = api.user()
    pool = api.pool(owner)
    register_hub(api, owner, pool, relay_only=False)
    worker = api.join(api.as_(owner.credential), owner, pool)
    assert worker["hub"]["relay_only"] is False
    reply = api.as_(worker["credential"]).get("/api/v1/device/relay")
    assert reply.json() == {"address": RELAYS[0], "hub_relay_only": False}
    register_hub(api, owner, pool, relay_only=True)  # the seed restarted behind NAT
    assert api.as_(worker["credential"]).get("/api/v1/device/relay").json()["hub_relay_only"]


def test_only_a_device_may_ask_and_only_if_there_is_a_relay(api: Api) -> None:
    owner = api.user()
    pool = api.pool(owner)
    worker = api.join(api.as_(owner.credential), owner, pool)
    r = api.as_(worker["credential"]).get("/api/v1/device/relay")
    assert r.status_code == 404
    assert r.json()["error"]["title"] == "No relay"
    assert owner.get("/api/v1/device/relay").status_code == 403
    assert api.anon().get("/api/v1/device/relay").status_code == 401
