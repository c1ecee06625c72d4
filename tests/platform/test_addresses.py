"""Overlay addresses on the real server: unique under concurrent joins, stable on rejoin,
held back after a leave; pool subnets unique."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from kalavai_like.platform.local import LocalPlatform, start_local_platform
from tests.support.platform_api import Api, wg_key


def test_concurrent_joins_get_distinct_addresses(api: Api) -> None:
    owner = api.user()
    pool = api.pool(owner)
    token = api.token(owner, pool, uses=40)["token"]
    volunteers = [api.user() for _ in range(4)]
    with ThreadPoolExecutor(20) as ex:
        results = list(ex.map(lambda i: api.redeem(volunteers[i % 4], token), range(40)))
    assert [r.status_code for r in results] == [201] * 40
    addresses = [r.json()["device"]["address"] for r in results]
    assert len(set(addresses)) == 40
    base = ipaddress.IPv4Network(pool["subnet"]).network_address
    assert sorted(addresses, key=ipaddress.IPv4Address) == [str(base + i) for i in range(2, 42)]
    assert len({r.json()["device"]["address6"] for r in results}) == 40


def test_rejoin_keeps_the_address_by_key_or_name(api: Api) -> None:
    owner = api.user()
    pool = api.pool(owner)
    volunteer = api.user()
    key = wg_key()
    first = api.join(volunteer, owner, pool, public_key=key, name="box")
    api.join(api.user(), owner, pool)  # someone else takes the next address
    assert api.as_(first["credential"]).delete("/api/v1/device").status_code == 204
    same_key = api.join(volunteer, owner, pool, public_key=key, name="renamed")
    assert same_key["device"]["id"] == first["device"]["id"]
    assert same_key["device"]["address"] == first["device"]["address"]
    # the old credential is void after the rejoin
    old = api.as_(first["credential"]).post(
        "/api/v1/device/heartbeat", json={"seq": 9, "state": "running"}
    )
    assert old.status_code == 401
    # same name, new key (the agent lost its state): still the same device and address
    same_name = api.join(volunteer, owner, pool, name="renamed")
    assert same_name["device"]["address"] == first["device"]["address"]


def test_freed_address_is_held_back(api: Api) -> None:
    owner = api.user()
    pool = api.pool(owner)
    a = api.join(api.user(), owner, pool)
    assert api.as_(a["credential"]).delete("/api/v1/device").status_code == 204
    b = api.join(api.user(), owner, pool)
    assert b["device"]["address"] != a["device"]["address"]


@pytest.fixture
def no_holdback_platform(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[LocalPlatform]:
    url = request.getfixturevalue("make_postgres_url")() if backend == "postgres" else None
    with start_local_platform(tmp_path / "p", database_url=url, address_holdback=0) as server:
        yield server


def test_address_is_reused_after_the_holdback(no_holdback_platform: LocalPlatform) -> None:
    api = Api(no_holdback_platform.url)
    owner = api.user()
    pool = api.pool(owner)
    a = api.join(api.user(), owner, pool)
    api.join(api.user(), owner, pool)
    assert api.as_(a["credential"]).delete("/api/v1/device").status_code == 204
    c = api.join(api.user(), owner, pool)
    assert c["device"]["address"] == a["device"]["address"]


def test_pool_subnets_are_small_and_disjoint(api: Api) -> None:
    """New pools get a /20 of 10.0.0.0/8 (4,096 of them), not one of 254 /16s."""
    owners = [api.user() for _ in range(3)]
    with ThreadPoolExecutor(6) as ex:
        pools = list(ex.map(lambda i: api.pool(owners[i % 3]), range(12)))
    subnets = [ipaddress.IPv4Network(p["subnet"]) for p in pools]
    assert all(
        s.prefixlen == 20 and s.subnet_of(ipaddress.IPv4Network("10.0.0.0/8")) for s in subnets
    )
    assert not any(a.overlaps(b) for i, a in enumerate(subnets) for b in subnets[i + 1 :])
    assert len({p["subnet6"] for p in pools}) == 12


def test_pool_name_taken(api: Api) -> None:
    owner = api.user()
    pool = api.pool(owner)
    r = api.user().post("/api/v1/pools", json={"name": pool["name"], "template": "dask"})
    assert r.status_code == 409 and r.json()["error"]["kind"] == "Conflict"
