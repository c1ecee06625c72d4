"""Accounts as others see them and as their owners manage them: display names instead of
emails, account key names, deleting an account (password resets: test_password_reset.py)."""

from __future__ import annotations

from typing import Any

import pytest

from kalavai_like.platform.local import LocalPlatform
from tests.support.operator import make_operator
from tests.support.platform_api import Api, User, unique


def _named(api: Api, name: str) -> User:
    email = f"{unique('named')}@example.org"
    r = api.http.post(
        "/api/v1/accounts", json={"email": email, "password": "correct horse", "display_name": name}
    )
    assert r.status_code == 201, r.text
    return api.log_in(email, "correct horse")


def test_display_name_chosen_at_sign_up_and_editable(api: Api) -> None:
    user = _named(api, "  Ana   of the rack ")
    assert user.get("/api/v1/me").json()["display_name"] == "Ana of the rack"
    r = user.patch("/api/v1/me", json={"display_name": "Ana L."})
    assert r.status_code == 200, r.text
    assert user.get("/api/v1/me").json()["display_name"] == "Ana L."
    # Without one, a name made from the id, never from the email.
    plain = api.user()
    name = plain.get("/api/v1/me").json()["display_name"]
    assert name == f"user-{plain.id[:8]}"


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("", "1 to 40 characters"),
        ("x" * 41, "1 to 40 characters"),
        ("bell\x07", "printable"),
        ("evil\u202egnp.exe", "printable"),
        ("ana@example.org", "'@'"),
    ],
)
def test_bad_display_names_are_refused_in_words(api: Api, name: str, words: str) -> None:
    user = api.user()
    r = user.patch("/api/v1/me", json={"display_name": name})
    assert r.status_code == 422
    assert words in r.json()["error"]["message"]
    assert user.get("/api/v1/me").json()["display_name"] == f"user-{user.id[:8]}"


def test_others_see_display_names_never_emails(api: Api) -> None:
    owner = _named(api, "Pool Owner Olga")
    volunteer = _named(api, "Volunteer Vic")
    pool = api.pool(owner, public=True)
    api.join(api.as_(volunteer.credential), owner, pool)
    listed = [p for p in volunteer.get("/api/v1/pools").json() if p["id"] == pool["id"]]
    assert listed[0]["owner"] == {"id": owner.id, "display": "Pool Owner Olga", "email": None}
    mine = owner.get(f"/api/v1/pools/{pool['id']}").json()
    assert mine["owner"]["email"] == owner.email  # the owner sees their own
    devices = owner.get(f"/api/v1/pools/{pool['id']}/devices").json()
    assert [w["user"] for w in devices if w["role"] == "worker"] == [
        {"id": volunteer.id, "display": "Volunteer Vic", "email": None}
    ]
    credit = owner.get(f"/api/v1/pools/{pool['id']}/credit").json()
    assert "Volunteer Vic" in [d["user"]["display"] for d in credit["devices"]]
    for body in (listed, devices, credit):  # the owner sees only their own email (the hub's)
        assert volunteer.email not in str(body)
    assert owner.email not in str(listed)


def test_account_key_names_are_unique_and_revoke_takes_the_name(api: Api) -> None:
    user = api.user()
    first = user.post("/api/v1/account-keys", json={"name": "rack/1"}).json()
    again = user.post("/api/v1/account-keys", json={"name": "rack/1"})
    assert again.status_code == 409
    assert "already have an account key named 'rack/1'" in again.json()["error"]["message"]
    assert user.post("/api/v1/account-keys", json={"name": "a" * 32}).status_code == 422
    # Another user may use the same name.
    assert api.user().post("/api/v1/account-keys", json={"name": "rack/1"}).status_code == 201
    assert user.delete("/api/v1/account-keys/rack/1").status_code == 204
    assert api.as_(first["key"]).post("/api/v1/devices", json={}).status_code == 401
    assert user.delete("/api/v1/account-keys/rack/1").status_code == 204  # again: fine
    assert user.delete("/api/v1/account-keys/no-such-key").status_code == 404
    # A revoked key frees its name; the id is still accepted.
    second = user.post("/api/v1/account-keys", json={"name": "rack/1"}).json()
    assert user.delete(f"/api/v1/account-keys/{second['id']}").status_code == 204
    assert all(k["revoked"] for k in user.get("/api/v1/account-keys").json())


def _device_beat(api: Api, credential: str) -> int:
    beat = {"seq": 1, "state": "running"}
    return api.as_(credential).post("/api/v1/device/heartbeat", json=beat).status_code


def test_delete_account_needs_the_password_and_owners_delete_pools_first(api: Api) -> None:
    owner = api.user()
    pool = api.pool(owner)
    r = owner.post("/api/v1/me/delete", json={"password": "not it at all"})
    assert r.status_code == 403
    r = owner.post("/api/v1/me/delete", json={"password": owner.password})
    assert r.status_code == 409
    assert pool["name"] in r.json()["error"]["message"]
    assert "pool delete" in r.json()["error"]["message"]
    assert owner.get("/api/v1/me").status_code == 200  # nothing happened


def test_deleted_account_leaves_nothing_readable(api: Api) -> None:
    owner = api.user()
    pool = api.pool(owner)
    volunteer = _named(api, "Soon Gone")
    other_session = api.log_in(volunteer.email, volunteer.password)
    key = volunteer.post("/api/v1/account-keys", json={"name": "box"}).json()["key"]
    joined: dict[str, Any] = api.join(api.as_(volunteer.credential), owner, pool)
    assert _device_beat(api, joined["credential"]) == 200
    r = volunteer.post("/api/v1/me/delete", json={"password": volunteer.password})
    assert r.status_code == 204, r.text
    # Its devices left, its sessions and keys are void, it cannot log in.
    assert _device_beat(api, joined["credential"]) == 401
    for credential in (volunteer.credential, other_session.credential, key):
        assert api.as_(credential).get("/api/v1/me").status_code in (401, 403)
    r = api.http.post(
        "/api/v1/sessions", json={"email": volunteer.email, "password": volunteer.password}
    )
    assert r.status_code == 401
    # The pool keeps the device's credit rows, under an anonymous stand-in.
    devices = owner.get(f"/api/v1/pools/{pool['id']}/devices").json()
    workers = [w for w in devices if w["role"] == "worker"]
    assert len(workers) == 1 and workers[0]["left_at"] is not None
    assert workers[0]["user"]["display"] == "deleted user"
    assert workers[0]["user"]["id"] != volunteer.id
    assert joined["device"]["name"] not in str(workers)
    credit = owner.get(f"/api/v1/pools/{pool['id']}/credit").json()
    assert "Soon Gone" not in str(credit) and volunteer.id not in str(credit)
    # The email is free again.
    r = api.http.post("/api/v1/accounts", json={"email": volunteer.email, "password": "a new one!"})
    assert r.status_code == 201


def test_the_operator_lists_no_stand_in_of_a_deleted_account(
    api: Api, platform: LocalPlatform
) -> None:
    operator = api.user()
    make_operator(platform, operator.email)
    gone = api.user()
    assert gone.post("/api/v1/me/delete", json={"password": gone.password}).status_code == 204
    listed = operator.get("/api/v1/operator/users").json()
    assert [u["email"] for u in listed if "deleted" in u["email"]] == []
    assert operator.email in [u["email"] for u in listed]
