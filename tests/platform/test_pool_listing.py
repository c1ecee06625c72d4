"""What a pool shows to whom, on the real server: owners' emails and secret template parameters
only to the owner (workers get the secrets in their worker spec), and names that cannot be
mistaken for another pool's id."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.support.platform_api import Api

BOINC = {
    "project_url": "https://boinc.example.org/project",
    "weak_key": "123_weakkeyofthepoolowner",
    "gui_rpc_password": "rpc-secret-77",
}


def test_community_listing_shows_no_email_and_no_secret(api: Api) -> None:
    owner, stranger = api.user(), api.user()
    pool = api.pool(owner, public=True, template="boinc", params=BOINC)

    for r in (
        stranger.get("/api/v1/pools?scope=community"),
        stranger.get(f"/api/v1/pools/{pool['id']}"),
    ):
        assert r.status_code == 200
        for secret in (owner.email, BOINC["weak_key"], BOINC["gui_rpc_password"]):
            assert secret not in r.text
    seen = stranger.get(f"/api/v1/pools/{pool['id']}").json()
    assert seen["params"] == {"project_url": BOINC["project_url"]}
    name = f"user-{owner.id[:8]}"  # the display name it got at sign-up
    assert seen["owner"] == {"id": owner.id, "display": name, "email": None}

    # the owner sees everything of their own pool
    mine = owner.get(f"/api/v1/pools/{pool['id']}").json()
    assert mine["params"] == BOINC
    assert mine["owner"] == {"id": owner.id, "display": name, "email": owner.email}


def test_listings_show_no_secret_even_to_the_pools_owner(api: Api) -> None:
    """`pool list --json` or `pool close --json` (a screen shared meanwhile) shows no key: the
    owner asks for one pool to see its secrets."""
    owner = api.user()
    pool = api.pool(owner, public=True, template="boinc", params=BOINC)
    for scope in ("mine", "community"):
        r = owner.get(f"/api/v1/pools?scope={scope}")
        assert r.status_code == 200
        listed = [p for p in r.json() if p["id"] == pool["id"]]
        assert listed and listed[0]["params"] == {"project_url": BOINC["project_url"]}
        assert BOINC["weak_key"] not in r.text and BOINC["gui_rpc_password"] not in r.text
    closed = owner.patch(f"/api/v1/pools/{pool['id']}", json={"closed": True})  # `pool close`
    assert closed.status_code == 200 and BOINC["weak_key"] not in closed.text
    assert owner.get(f"/api/v1/pools/{pool['id']}").json()["params"] == BOINC


def test_workers_get_secrets_in_their_worker_spec_only(api: Api) -> None:
    owner, volunteer = api.user(), api.user()
    pool = api.pool(owner, public=True, template="boinc", params=BOINC)
    minted = volunteer.post(f"/api/v1/pools/{pool['id']}/join-token").json()
    r = api.redeem(volunteer, minted["token"])
    assert r.status_code == 201, r.text
    joined = r.json()
    assert joined["worker"]["params"] == BOINC
    assert joined["pool"]["params"] == {"project_url": BOINC["project_url"]}
    assert owner.email not in r.text


def test_the_account_manager_login_is_shown_to_the_owner_and_the_workers_only(api: Api) -> None:
    """Science United and BAM! log in by email: the login is the owner's, like the password."""
    owner, stranger = api.user(), api.user()
    params = {
        "account_manager_url": "https://am.example.org/",
        "account_manager_user": "pool.owner@example.org",
        "account_manager_password": "am-secret-31",
    }
    pool = api.pool(owner, public=True, template="boinc", params=params)
    for r in (
        stranger.get("/api/v1/pools?scope=community"),
        stranger.get(f"/api/v1/pools/{pool['id']}"),
    ):
        assert r.status_code == 200
        assert "pool.owner@example.org" not in r.text
    seen = stranger.get(f"/api/v1/pools/{pool['id']}").json()
    assert seen["params"] == {"account_manager_url": "https://am.example.org/"}
    assert owner.get(f"/api/v1/pools/{pool['id']}").json()["params"] == params
    minted = stranger.post(f"/api/v1/pools/{pool['id']}/join-token").json()
    r = api.redeem(stranger, minted["token"])
    assert r.status_code == 201, r.text
    assert r.json()["worker"]["params"] == params  # its BOINC client logs in with them


def test_every_templates_secret_parameters_are_hidden_by_the_platform() -> None:
    """The platform cannot import the container layer: its list must cover the templates'."""
    from kalavai_like.container.templates import TEMPLATES
    from kalavai_like.platform.views import SECRET_PARAMS

    marked = {name for t in TEMPLATES.values() for name in t.secret_params}
    assert {"weak_key", "gui_rpc_password"} <= marked <= SECRET_PARAMS


@pytest.mark.parametrize(
    "name", ["0123456789abcdef0123456789abcdef", "0123456789ABCDEF0123456789ABCDEF"]
)
def test_a_pool_name_may_not_look_like_an_id(api: Api, name: str) -> None:
    r = api.user().post("/api/v1/pools", json={"name": name, "template": "dask"})
    assert r.status_code == 422
    assert "must not look like a pool id" in r.json()["error"]["message"]
    # one character more (or one outside a-f) is a fine name
    assert api.pool(api.user(), name=name + "0")["name"] == name + "0"


def test_an_id_wins_over_an_older_pool_named_like_it(
    api: Api, platform_sql: Callable[[str, dict[str, object]], None]
) -> None:
    """A pool named like another's id (made before names were checked) never hides it."""
    owner = api.user()
    squatter, target = api.pool(owner, public=True), api.pool(owner, public=True)
    platform_sql(
        "UPDATE pools SET name = :n WHERE id = :id", {"n": target["id"], "id": squatter["id"]}
    )
    # PostgreSQL writes an updated row anew at the table's end: the squatter now comes first
    platform_sql("UPDATE pools SET public = public WHERE id = :id", {"id": target["id"]})
    for _ in range(3):
        assert api.user().get(f"/api/v1/pools/{target['id']}").json()["id"] == target["id"]
