"""Log-in sessions on the real platform: they end when unused for long (each use renews
them), their user lists and revokes them from anywhere, and a password change logs every other
session out (account keys keep working)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from tests.support.platform_api import Api

DAY = 86400.0
SetSql = Callable[[str, dict[str, object]], None]


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def test_sessions_are_listed_and_revoked_from_elsewhere(api: Api) -> None:
    desk = api.user()
    laptop = api.log_in(desk.email, desk.password, {"User-Agent": "kalavai-like/9.9 laptop"})
    r = desk.get("/api/v1/sessions")
    assert r.status_code == 200
    listed = {s["user_agent"]: s for s in r.json()}
    mine = next(s for s in r.json() if s["current"])
    other = listed["kalavai-like/9.9 laptop"]
    assert len(listed) == 2 and not other["current"]
    assert other["kind"] == "api" and other["client_address"] == "127.0.0.1"
    assert other["last_used_at"] and other["created_at"]
    assert laptop.credential not in r.text and "token" not in other
    # Someone else cannot see or end them.
    stranger = api.user()
    seen = {s["id"] for s in stranger.get("/api/v1/sessions").json()}
    assert len(seen) == 1 and not seen & {mine["id"], other["id"]}
    assert stranger.delete(f"/api/v1/sessions/{other['id']}").status_code == 404
    assert laptop.get("/api/v1/me").status_code == 200
    # The owner ends the laptop's session from the desk: the laptop's token is dead.
    assert desk.delete(f"/api/v1/sessions/{other['id']}").status_code == 204
    assert desk.delete(f"/api/v1/sessions/{other['id']}").status_code == 204  # again: fine
    assert laptop.get("/api/v1/me").status_code == 401
    assert [s["id"] for s in desk.get("/api/v1/sessions").json()] == [mine["id"]]


def test_a_session_ends_when_unused_and_lives_on_while_used(api: Api, platform_sql: SetSql) -> None:
    user = api.user()
    (session,) = user.get("/api/v1/sessions").json()
    # An API log-in (the CLI's) no longer lasts forever: 30 days unused by default.
    assert _epoch(session["expires_at"]) - time.time() > 29.9 * DAY
    # Used a day before it would end, it is renewed for another 30 days.
    platform_sql(
        "UPDATE api_tokens SET expires_at = :e, last_used_at = :u WHERE id = :id",
        {"e": time.time() + DAY, "u": time.time() - 29 * DAY, "id": session["id"]},
    )
    assert user.get("/api/v1/me").status_code == 200
    (session,) = user.get("/api/v1/sessions").json()
    assert _epoch(session["expires_at"]) - time.time() > 29.9 * DAY
    assert time.time() - _epoch(session["last_used_at"]) < 60
    # Left unused past its end (a leaked token nobody uses any more), it is refused.
    platform_sql(
        "UPDATE api_tokens SET expires_at = :e WHERE id = :id",
        {"e": time.time() - 1, "id": session["id"]},
    )
    r = user.get("/api/v1/me")
    assert r.status_code == 401
    assert "expired" in r.json()["error"]["message"]


def test_password_change_logs_out_every_other_session_but_keeps_account_keys(api: Api) -> None:
    user = api.user()
    elsewhere = api.log_in(user.email, user.password)
    key = user.post("/api/v1/account-keys", json={"name": "rack"}).json()["key"]

    change = {"current_password": "wrong guess", "new_password": "new password 2"}
    r = user.post("/api/v1/me/password", json=change)
    assert r.status_code == 403 and r.json()["error"]["title"] == "Wrong password"
    assert elsewhere.get("/api/v1/me").status_code == 200
    r = user.post("/api/v1/me/password", json={**change, "current_password": user.password,
                                                "new_password": "short"})  # fmt: skip
    assert r.status_code == 422

    r = user.post("/api/v1/me/password", json={**change, "current_password": user.password})
    assert r.status_code == 204
    assert user.get("/api/v1/me").status_code == 200  # the session that changed it stays
    assert elsewhere.get("/api/v1/me").status_code == 401
    assert [s["current"] for s in user.get("/api/v1/sessions").json()] == [True]
    # The account key is not a log-in: it still enrols devices.
    device = api.join(api.as_(key), user, api.pool(user))["device"]
    workers = [d["id"] for d in user.get("/api/v1/devices").json() if d["role"] == "worker"]
    assert workers == [device["id"]]
    old = api.http.post("/api/v1/sessions", json={"email": user.email, "password": user.password})
    assert old.status_code == 401
    api.log_in(user.email, "new password 2")
