"""Who may do what, on every endpoint: no credential, a bad or revoked one, the wrong kind,
and another user's objects (404, never revealed)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.support.platform_api import Api, Caller

PUBLIC = {
    ("POST", "/api/v1/accounts"), ("POST", "/api/v1/sessions"), ("GET", "/healthz"),
    # A reset link is asked for and used by whoever lost the password (test_password_reset.py).
    ("POST", "/api/v1/password-resets"), ("POST", "/api/v1/password-resets/confirm"),
}  # fmt: skip
ZERO_ID = "0" * 32


def _operations(api: Api) -> list[tuple[str, str]]:
    schema = api.http.get("/openapi.json").json()
    ops = []
    for path, methods in schema["paths"].items():
        for method in methods:
            if (method.upper(), path) not in PUBLIC:
                ops.append((method.upper(), re.sub(r"\{[^}]+\}", ZERO_ID, path)))
    return ops


def _call(who: Caller, method: str, path: str) -> Any:
    return who.api.http.request(method, path, headers=who.headers, json={})


def test_every_endpoint_needs_a_valid_credential(api: Api) -> None:
    user = api.user()
    revoked = api.user()
    assert revoked.delete("/api/v1/sessions/current").status_code == 204
    ops = _operations(api)
    assert len(ops) >= 25
    for method, path in ops:
        for who in (api.anon(), api.as_("Bearer nonsense"), api.as_("klu_" + "A" * 43), revoked):
            r = _call(who, method, path)
            assert r.status_code == 401, (method, path, who.credential, r.text)
            assert r.json()["error"]["kind"] == "AuthError"
    assert user.get("/api/v1/me").status_code == 200


def test_wrong_kind_of_credential_is_403(api: Api) -> None:
    owner = api.user()
    pool = api.pool(owner)
    hub = api.hub(owner, pool)
    joined = api.join(api.user(), owner, pool)
    worker = api.as_(joined["credential"])
    for path in ("/api/v1/me", "/api/v1/devices", "/api/v1/credit/me", "/api/v1/pools"):
        assert worker.get(path).status_code == 403
        assert api.as_(hub["credential"]).get(path).status_code == 403
    assert (
        owner.post("/api/v1/device/heartbeat", json={"seq": 1, "state": "running"}).status_code
        == 403
    )
    assert owner.get("/api/v1/device/peers").status_code == 403
    assert worker.get("/api/v1/device/peers").status_code == 403  # only the hub reads peers
    assert api.redeem(worker, api.token(owner, pool)["token"]).status_code == 403


@pytest.fixture
def alice_things(api: Api) -> dict[str, Any]:
    alice = api.user()
    private = api.pool(alice)
    public = api.pool(alice, public=True)
    token = api.token(alice, private)
    joined = api.join(alice, alice, private)
    key = alice.post("/api/v1/account-keys", json={"name": "k"}).json()
    return {
        "alice": alice,
        "private": private,
        "public": public,
        "token": token,
        "device": joined["device"],
        "key": key,
    }


def test_another_users_objects_are_not_found(api: Api, alice_things: dict[str, Any]) -> None:
    t = alice_things
    bob = api.user()
    pid, dev, tok, key = t["private"]["id"], t["device"]["id"], t["token"]["id"], t["key"]["id"]
    hub_body = {"public_key": "A" * 43 + "=", "endpoint": "127.0.0.1:51820"}
    for method, path, body in (
        ("GET", f"/api/v1/pools/{pid}", None),
        ("GET", f"/api/v1/pools/{t['private']['name']}", None),
        ("POST", f"/api/v1/pools/{pid}/hub", hub_body),
        ("POST", f"/api/v1/pools/{pid}/tokens", {}),
        ("GET", f"/api/v1/pools/{pid}/tokens", None),
        ("DELETE", f"/api/v1/pools/{pid}/tokens/{tok}", None),
        ("GET", f"/api/v1/pools/{pid}/devices", None),
        ("GET", f"/api/v1/pools/{pid}/credit", None),
        ("DELETE", f"/api/v1/devices/{dev}", None),
        ("POST", f"/api/v1/devices/{dev}/desired", {"state": "paused"}),
        ("DELETE", f"/api/v1/account-keys/{key}", None),
    ):
        r = api.http.request(method, path, headers=bob.headers, json=body)
        assert r.status_code == 404, (method, path, r.text)
        assert r.json()["error"]["kind"] == "NotFound"
    # Bob's lists hold none of Alice's things
    assert bob.get("/api/v1/devices").json() == []
    assert bob.get("/api/v1/account-keys").json() == []
    assert bob.get("/api/v1/pools?scope=mine").json() == []
    assert bob.get("/api/v1/credit/me/devices").json() == []
    community = {p["id"] for p in bob.get("/api/v1/pools").json()}
    assert t["public"]["id"] in community and pid not in community
    # Alice's things are intact
    alice = t["alice"]
    assert alice.get(f"/api/v1/pools/{pid}/tokens").json()[0]["revoked"] is False
    assert alice.get("/api/v1/devices").json()[0]["desired_state"] == "running"


def test_another_users_public_pool_is_visible_but_not_writable(
    api: Api, alice_things: dict[str, Any]
) -> None:
    bob = api.user()
    pid = alice_things["public"]["id"]
    assert bob.get(f"/api/v1/pools/{pid}").status_code == 200
    hub_body = {"public_key": "A" * 43 + "=", "endpoint": "127.0.0.1:51820"}
    assert bob.post(f"/api/v1/pools/{pid}/hub", json=hub_body).status_code == 403
    assert bob.post(f"/api/v1/pools/{pid}/tokens", json={}).status_code == 403
    assert bob.get(f"/api/v1/pools/{pid}/devices").status_code == 403
    assert bob.get(f"/api/v1/pools/{pid}/credit").status_code == 403
