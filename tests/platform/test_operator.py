"""The platform's operator, on the real platform (SQLite and PostgreSQL): the role is given on
the server only, every operator route refuses anyone else, trusting a pool shows in its
listings, and suspending a user stops their sessions and keys at once."""

from __future__ import annotations

from typing import Any

import pytest

from kalavai_like.platform.local import LocalPlatform, start_local_platform
from tests.support.operator import make_operator, server_cli
from tests.support.platform_api import Api, User, unique

ROUTES = [
    ("GET", "/api/v1/operator/pools", None),
    ("GET", "/api/v1/operator/users", None),
    ("POST", "/api/v1/operator/pools/{pool}/trust", None),
    ("POST", "/api/v1/operator/pools/{pool}/untrust", None),
    ("POST", "/api/v1/operator/users/suspend", {"email": "{email}"}),
    ("POST", "/api/v1/operator/users/unsuspend", {"email": "{email}"}),
]


@pytest.fixture
def operator(api: Api, platform: LocalPlatform) -> User:
    """A user made the platform's operator by `platform operator add` on the server."""
    user = api.user()
    make_operator(platform, user.email)
    return user


def _call(who: Any, method: str, path: str, body: dict[str, str] | None) -> Any:
    if method == "GET":
        return who.get(path)
    return who.post(path, json=body)


def _fill(route: tuple[str, str, Any], pool: str, email: str) -> tuple[str, str, Any]:
    method, path, body = route
    body = {k: v.format(email=email) for k, v in body.items()} if body else None
    return method, path.format(pool=pool), body


def test_sign_up_can_never_make_an_operator(api: Api) -> None:
    email = f"{unique('would-be')}@example.org"
    r = api.anon().post(
        "/api/v1/accounts",
        json={"email": email, "password": "correct horse", "operator": True, "role": "operator"},
    )
    assert r.status_code == 201
    user = api.log_in(email, "correct horse")
    r = user.get("/api/v1/operator/pools")
    assert r.status_code == 403
    assert "Only the platform's operator" in r.json()["error"]["message"]


@pytest.mark.parametrize("route", ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
def test_every_operator_route_refuses_anyone_else(
    api: Api, operator: User, route: tuple[str, str, Any]
) -> None:
    owner = api.user()
    pool = api.pool(owner, public=True)
    victim = api.user()
    method, path, body = _fill(route, pool["id"], victim.email)

    assert _call(api.anon(), method, path, body).status_code == 401
    assert _call(owner, method, path, body).status_code == 403  # even the pool's owner
    key = owner.post("/api/v1/account-keys", json={"name": "k"}).json()["key"]
    assert _call(api.as_(key), method, path, body).status_code == 403
    assert _call(operator, method, path, body).status_code == 200


def test_the_operator_trusts_a_pool_and_every_listing_shows_it(api: Api, operator: User) -> None:
    owner, stranger = api.user(), api.user()
    pool = api.pool(owner, public=True)
    generic = api.pool(owner, public=True, template="generic")
    assert (pool["trusted"], pool["witness"]) == (False, "owner")
    assert (generic["trusted"], generic["witness"]) == (False, "none")

    r = operator.post(f"/api/v1/operator/pools/{pool['name']}/trust")
    assert r.status_code == 200 and r.json()["changed"] is True
    assert r.json()["pool"]["owner"]["email"] == owner.email
    again = operator.post(f"/api/v1/operator/pools/{pool['id']}/trust").json()
    assert again["changed"] is False and again["pool"]["trusted"] is True

    community = stranger.get("/api/v1/pools").json()
    assert [p["trusted"] for p in community if p["id"] == pool["id"]] == [True]
    assert owner.get(f"/api/v1/pools/{pool['id']}").json()["trusted"] is True
    listed = {p["id"]: p for p in operator.get("/api/v1/operator/pools").json()}
    assert listed[pool["id"]]["trusted"] is True and listed[generic["id"]]["witness"] == "none"

    operator.post(f"/api/v1/operator/pools/{pool['id']}/untrust")
    assert stranger.get(f"/api/v1/pools/{pool['id']}").json()["trusted"] is False
    r = operator.post("/api/v1/operator/pools/no-such-pool-here/trust")
    assert r.status_code == 404


def test_suspending_stops_sessions_and_keys_at_once_and_refuses_log_in(
    api: Api, operator: User
) -> None:
    user = api.user()
    key = user.post("/api/v1/account-keys", json={"name": "box"}).json()["key"]
    owner = api.user()
    pool = api.pool(owner, public=True)
    assert user.get("/api/v1/me").status_code == 200

    r = operator.post("/api/v1/operator/users/suspend", json={"email": user.email.upper()})
    assert r.status_code == 200 and r.json()["changed"] is True
    assert r.json()["user"]["suspended"] is True

    r = user.get("/api/v1/me")  # the session it already had
    assert r.status_code == 403 and r.json()["error"]["title"] == "Account suspended"
    token = api.token(owner, pool)["token"]
    r = api.redeem(api.as_(key), token)  # no new device with the account key either
    assert r.status_code == 403 and r.json()["error"]["title"] == "Account suspended"
    assert owner.get(f"/api/v1/pools/{pool['id']}/tokens").json()[0]["used"] == 0
    r = api.http.post("/api/v1/sessions", json={"email": user.email, "password": user.password})
    assert r.status_code == 403 and "suspended this account" in r.json()["error"]["message"]
    wrong = api.http.post("/api/v1/sessions", json={"email": user.email, "password": "nope-nope"})
    assert wrong.status_code == 401  # only the right password learns of the suspension
    listed = operator.get("/api/v1/operator/users").json()
    assert user.email in [u["email"] for u in listed if u["suspended"]]

    r = operator.post("/api/v1/operator/users/unsuspend", json={"email": user.email})
    assert r.json()["changed"] is True
    assert user.get("/api/v1/me").status_code == 200
    assert api.redeem(api.as_(key), token).status_code == 201


def test_an_operator_is_not_suspended_and_unknown_users_are_named(api: Api, operator: User) -> None:
    r = operator.post("/api/v1/operator/users/suspend", json={"email": operator.email})
    assert r.status_code == 409 and "platform operator remove" in r.json()["error"]["message"]
    r = operator.post("/api/v1/operator/users/suspend", json={"email": "nobody@example.org"})
    assert r.status_code == 404 and "nobody@example.org" in r.json()["error"]["message"]


def test_operator_role_is_given_and_taken_on_the_server(api: Api, platform: LocalPlatform) -> None:
    user = api.user()
    r = server_cli(platform, "add", user.email)
    assert r.returncode == 0 and "is now an operator" in r.stderr
    assert "was already" in server_cli(platform, "add", user.email).stderr
    assert user.email in server_cli(platform, "list").stdout
    assert user.get("/api/v1/operator/users").status_code == 200

    r = server_cli(platform, "remove", user.email)
    assert r.returncode == 0 and "is no longer an operator" in r.stderr
    assert user.get("/api/v1/operator/users").status_code == 403
    r = server_cli(platform, "add", "nobody@example.org")
    assert r.returncode == 5 and "No account for nobody@example.org" in r.stderr


def test_serve_operator_marks_existing_accounts_and_names_missing_ones(
    backend: str, tmp_path: Any, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("make_postgres_url")() if backend == "postgres" else None
    with start_local_platform(tmp_path / "p", database_url=url) as first:
        user = Api(first.url).user()
    with start_local_platform(
        tmp_path / "p", database_url=url, operators=(user.email, "later@example.org")
    ) as server:
        log = server.log()
        assert f"{user.email} is now the platform's operator" in log
        assert "--operator later@example.org: No account for later@example.org" in log
        again = Api(server.url).log_in(user.email, user.password)
        assert again.get("/api/v1/operator/pools").status_code == 200
