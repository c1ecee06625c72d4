"""Bounds the platform enforces whatever a client sends (SQLite and PostgreSQL): a pool's
credit weights, and the hardware one device may declare when it enrols (the owner's maxima,
else the platform's defaults), refused with the limit named and the token's use unspent."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.platform_api import Api, User, unique

GIB = 2**30


def _pool(api: Api, owner: User, **fields: Any) -> Any:
    body = {"name": unique("pool"), "template": "dask", **fields}
    return owner.post("/api/v1/pools", json=body)


@pytest.mark.parametrize(
    ("weights", "said"),
    [
        ({"cpu": 11, "ram": 0.1, "gpu": 10}, "The CPU weight may be at most 10 (10 x the "),
        ({"cpu": 1, "ram": 1.5, "gpu": 10}, "The RAM weight may be at most 1 "),
        ({"cpu": 1, "ram": 0.1, "gpu": 1e6}, "GPU weight may be at most 100 "),
    ],
)
def test_weights_beyond_the_bound_are_refused(api: Api, weights: dict, said: str) -> None:
    owner = api.user()
    r = _pool(api, owner, weights=weights)
    assert r.status_code == 422
    assert r.json()["error"]["title"] == "Credit weight too high"
    assert said in r.json()["error"]["message"]
    assert owner.get("/api/v1/pools?scope=mine").json() == []


def test_weights_up_to_the_bound_are_kept(api: Api) -> None:
    r = _pool(api, api.user(), weights={"cpu": 10, "ram": 0, "gpu": 100})
    assert r.status_code == 201 and r.json()["weights"] == {"cpu": 10, "ram": 0, "gpu": 100}


def test_enrolment_beyond_the_owners_maxima_is_refused_and_the_token_stays_unused(
    api: Api,
) -> None:
    owner, volunteer = api.user(), api.user()
    limits = {"cores": 64, "memory_bytes": 64 * GIB, "gpus": 0}
    pool = _pool(api, owner, public=True, device_limits=limits).json()
    api.hub(owner, pool)  # running: only its maxima refuse
    token = api.token(owner, pool)["token"]

    r = api.redeem(volunteer, token, cores=4096)
    assert r.status_code == 422
    message = r.json()["error"]["message"]
    assert "This pool accepts devices of at most 64 cores; this one declares 4096 cores." in message
    r = api.redeem(volunteer, token, cores=8, memory_bytes=2**50)
    said = r.json()["error"]["message"]
    assert "at most 64G of memory; this one declares 1024T of memory" in said
    r = api.redeem(volunteer, token, cores=8, gpus=1)
    assert "at most 0 GPUs; this one declares 1 GPU." in r.json()["error"]["message"]

    check = volunteer.post("/api/v1/tokens/check", json={"token": token}).json()
    assert (check["status"], check["used"]) == ("valid", 0)
    assert volunteer.get("/api/v1/devices").json() == []
    r = api.redeem(volunteer, token, cores=64, memory_bytes=64 * GIB)
    assert r.status_code == 201  # the same token still enrols a device within the limits


def test_without_the_owners_maxima_the_platforms_defaults_hold(api: Api) -> None:
    owner, volunteer = api.user(), api.user()
    pool = api.pool(owner, public=True)
    limits = owner.get(f"/api/v1/pools/{pool['id']}/device-limits").json()
    default = {"cores": 256, "memory_bytes": 2**40, "gpus": 16}
    assert limits == {**default, "platform_default": default}
    token = api.token(owner, pool)["token"]
    for declared, said in [
        ({"cores": 4096}, "at most 256 cores; this one declares 4096 cores"),
        ({"memory_bytes": 2**50}, "at most 1T of memory"),
        ({"gpus": 64}, "at most 16 GPUs; this one declares 64 GPUs"),
    ]:
        r = api.redeem(volunteer, token, **declared)
        assert r.status_code == 422 and said in r.json()["error"]["message"], declared
    assert api.redeem(volunteer, token, cores=256, memory_bytes=2**40, gpus=16).status_code == 201


def test_the_owner_changes_the_maxima_and_nobody_else_can(api: Api) -> None:
    owner, stranger = api.user(), api.user()
    pool = api.pool(owner, public=True)
    path = f"/api/v1/pools/{pool['id']}/device-limits"

    r = owner.patch(path, json={"cores": 2, "gpus": 0})
    assert r.status_code == 200 and (r.json()["cores"], r.json()["gpus"]) == (2, 0)
    assert r.json()["memory_bytes"] == 2**40  # untouched: the platform's default
    assert stranger.get(path).json()["cores"] == 2  # a joiner may read them
    assert stranger.patch(path, json={"cores": 4096}).status_code == 403
    token = api.token(owner, pool)["token"]
    r = api.redeem(stranger, token, cores=3)
    assert r.status_code == 422 and "at most 2 cores" in r.json()["error"]["message"]

    assert owner.patch(path, json={"cores": None}).json()["cores"] == 256  # default again
    assert owner.patch(path, json={"cores": 5000}).status_code == 422  # beyond any device
    assert api.redeem(stranger, token, cores=3).status_code == 201


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        (
            {"name": "My Pool!"},
            "name: must be 1 to 64 letters, digits, dots, dashes or underscores",
        ),
        ({"name": "ok", "template": "dask", "weights": {"cpu": "many"}}, "weights.cpu: Input"),
    ],
)
def test_a_refused_field_says_what_is_allowed_in_words(
    api: Api, fields: dict[str, Any], said: str
) -> None:
    r = _pool(api, api.user(), **fields)
    assert r.status_code == 422
    message = r.json()["error"]["message"]
    assert said in message and "pattern" not in message and "^" not in message
