"""Accounts on the real platform: sign-up, log-in, log-out, account keys (the throttles are
test_throttles.py)."""

from __future__ import annotations

from tests.support.platform_api import Api, unique


def test_sign_up_log_in_me_log_out(api: Api) -> None:
    user = api.user()
    me = user.get("/api/v1/me")
    assert me.status_code == 200
    assert me.json()["email"] == user.email
    assert user.delete("/api/v1/sessions/current").status_code == 204
    again = user.get("/api/v1/me")
    assert again.status_code == 401
    assert again.json()["error"]["kind"] == "AuthError"


def test_email_taken_and_short_password(api: Api) -> None:
    user = api.user()
    r = api.http.post("/api/v1/accounts", json={"email": user.email.upper(), "password": "x" * 9})
    assert r.status_code == 409
    assert r.json()["error"]["kind"] == "Conflict"
    r = api.http.post("/api/v1/accounts", json={"email": "a@b.c", "password": "short"})
    assert r.status_code == 422
    assert r.json()["error"]["kind"] == "InvalidInput"


def test_wrong_password_is_401(api: Api) -> None:
    user = api.user()
    r = api.http.post("/api/v1/sessions", json={"email": user.email, "password": "wrong pw"})
    assert r.status_code == 401
    assert r.json()["error"]["title"] == "Wrong email or password"


def test_unknown_email_is_the_same_401(api: Api) -> None:
    r = api.http.post(
        "/api/v1/sessions", json={"email": f"{unique('nobody')}@x.org", "password": "whatever1"}
    )
    assert r.status_code == 401
    assert r.json()["error"]["title"] == "Wrong email or password"


def test_account_keys_create_list_revoke(api: Api) -> None:
    user = api.user()
    r = user.post("/api/v1/account-keys", json={"name": "rack 1"})
    assert r.status_code == 201
    key = r.json()
    assert key["key"].startswith("kla_")
    listed = user.get("/api/v1/account-keys").json()
    assert [k["name"] for k in listed] == ["rack 1"]
    assert "key" not in listed[0]
    # A key may not act as a user.
    assert api.as_(key["key"]).get("/api/v1/me").status_code == 403
    other = api.user()
    assert other.delete(f"/api/v1/account-keys/{key['id']}").status_code == 404
    assert user.delete(f"/api/v1/account-keys/{key['id']}").status_code == 204
    assert user.get("/api/v1/account-keys").json()[0]["revoked"] is True
    assert api.as_(key["key"]).get("/api/v1/me").status_code == 401
