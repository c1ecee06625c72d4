"""Join tokens on the real server: single-use races, and every refusal with its reason."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from kalavai_like import tokens
from tests.support.platform_api import Api


def _race(api: Api, token: str, n: int) -> Counter[int]:
    volunteer = api.user()  # distinct device names and keys: each win is a new device
    with ThreadPoolExecutor(n) as pool:
        codes = list(pool.map(lambda _: api.redeem(volunteer, token).status_code, range(n)))
    return Counter(codes)


def test_single_use_token_wins_once_under_a_race(api: Api) -> None:
    owner = api.user()
    pool = api.pool(owner)
    token = api.token(owner, pool)["token"]
    assert _race(api, token, 16) == Counter({201: 1, 410: 15})
    listed = owner.get(f"/api/v1/pools/{pool['id']}/tokens").json()
    assert (listed[0]["uses"], listed[0]["used"]) == (1, 1)
    devices = owner.get(f"/api/v1/pools/{pool['id']}/devices").json()
    assert [d["role"] for d in devices].count("worker") == 1


def test_three_use_token_wins_three_times(api: Api) -> None:
    owner = api.user()
    pool = api.pool(owner)
    token = api.token(owner, pool, uses=3)["token"]
    assert _race(api, token, 12) == Counter({201: 3, 410: 9})


def _refusal(api: Api, token: str) -> tuple[int, str]:
    r = api.redeem(api.user(), token)
    err = r.json()["error"]
    assert err["kind"] == "TokenError" and err["title"] and err["message"]
    return r.status_code, err["reason"]


def test_revoked(api: Api) -> None:
    owner = api.user()
    pool = api.pool(owner)
    minted = api.token(owner, pool, uses=5)
    r = owner.delete(f"/api/v1/pools/{pool['id']}/tokens/{minted['id']}")
    assert r.status_code == 204
    assert _refusal(api, minted["token"]) == (410, "revoked")
    check = owner.post("/api/v1/tokens/check", json={"token": minted["token"]}).json()
    assert check["status"] == "revoked"


def test_expired(api: Api, platform_sql: Callable[[str, dict[str, object]], None]) -> None:
    owner = api.user()
    pool = api.pool(owner)
    minted = api.token(owner, pool, expires_in=60)
    platform_sql(
        "UPDATE join_tokens SET expires_at = :t WHERE id = :id",
        {"t": time.time() - 1, "id": minted["id"]},
    )
    assert _refusal(api, minted["token"]) == (410, "expired")
    assert (
        owner.post("/api/v1/tokens/check", json={"token": minted["token"]}).json()["status"]
        == "expired"
    )


def test_used_up(api: Api) -> None:
    owner = api.user()
    pool = api.pool(owner)
    token = api.token(owner, pool)["token"]
    assert api.redeem(api.user(), token).status_code == 201
    assert _refusal(api, token) == (410, "used_up")


def test_unknown_and_wrong_secret(api: Api) -> None:
    owner = api.user()
    pool = api.pool(owner)
    real = tokens.parse(api.token(owner, pool)["token"])
    forged, _ = tokens.mint(
        platform=api.url, pool_id=pool["id"], pool_name=pool["name"], expires_at=real.expires_at
    )
    assert _refusal(api, forged) == (404, "unknown")
    wrong_secret, _ = tokens.mint(
        platform=api.url,
        pool_id=pool["id"],
        pool_name=pool["name"],
        expires_at=real.expires_at,
        key_id=real.key_id,
    )
    assert _refusal(api, wrong_secret) == (404, "unknown")
    check = owner.post("/api/v1/tokens/check", json={"token": forged}).json()
    assert check == {
        "status": "unknown",
        "pool": None,
        "uses": None,
        "used": None,
        "expires_at": None,
    }


def test_damaged_and_truncated(api: Api) -> None:
    owner = api.user()
    pool = api.pool(owner)
    token = api.token(owner, pool)["token"]
    typo = token[:20] + ("A" if token[20] != "A" else "B") + token[21:]
    assert _refusal(api, typo) == (400, "damaged")
    assert _refusal(api, token[:-10]) == (400, "damaged")
    assert _refusal(api, "hello") == (400, "damaged")
    # the damaged token did not cost a use
    assert api.redeem(api.user(), token).status_code == 201


def test_other_platform(api: Api) -> None:
    owner = api.user()
    pool = api.pool(owner)
    elsewhere, _ = tokens.mint(
        platform="https://platform.example.org",
        pool_id=pool["id"],
        pool_name=pool["name"],
        expires_at=int(time.time()) + 600,
    )
    assert _refusal(api, elsewhere) == (400, "other_platform")


def test_only_the_owner_mints_lists_and_revokes(api: Api) -> None:
    owner = api.user()
    private = api.pool(owner)
    public = api.pool(owner, public=True)
    minted = api.token(owner, private)
    other = api.user()
    for pool, code in ((private, 404), (public, 403)):
        assert other.post(f"/api/v1/pools/{pool['id']}/tokens", json={}).status_code == code
        assert other.get(f"/api/v1/pools/{pool['id']}/tokens").status_code == code
    r = other.delete(f"/api/v1/pools/{private['id']}/tokens/{minted['id']}")
    assert r.status_code == 404
    # a token id from another pool of the owner is not found under this one
    r = owner.delete(f"/api/v1/pools/{public['id']}/tokens/{minted['id']}")
    assert r.status_code == 404
